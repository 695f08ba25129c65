package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// SecretKeyEnv is the environment variable that may hold the secret key.
const SecretKeyEnv = "SLUICE_SECRET_KEY"

// sealedPrefix versions the sealed format: "v1:" + base64(nonce || ciphertext).
const sealedPrefix = "v1:"

// Secret seals and opens data source passwords with AES-256-GCM. The key
// never leaves it: String and the log forms print nothing of it.
type Secret struct {
	aead cipher.AEAD
}

// NewSecret makes a Secret from a 32-byte key.
func NewSecret(key []byte) (*Secret, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes (AES-256), got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Secret{aead: aead}, nil
}

// ParseSecretKey reads a key written as 64 hex digits, as base64 of 32
// bytes, or as 32 raw bytes.
func ParseSecretKey(b []byte) ([]byte, error) {
	if len(b) == 32 {
		return b, nil
	}
	text := strings.TrimSpace(string(b))
	if k, err := hex.DecodeString(text); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(text); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("secret key must be 32 bytes: 64 hex digits, base64, or raw")
}

// LoadSecret finds the server's key: the file named by path if set, else
// the SLUICE_SECRET_KEY environment variable. It returns nil, nil when
// neither is given.
func LoadSecret(path string) (*Secret, error) {
	var raw []byte
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read secret key file: %w", err)
		}
		raw = b
	case os.Getenv(SecretKeyEnv) != "":
		raw = []byte(os.Getenv(SecretKeyEnv))
	default:
		return nil, nil
	}
	key, err := ParseSecretKey(raw)
	if err != nil {
		if path != "" {
			return nil, fmt.Errorf("secret key file %s: %w", path, err)
		}
		return nil, fmt.Errorf("%s: %w", SecretKeyEnv, err)
	}
	return NewSecret(key)
}

// GenerateSecretKeyFile writes a new random key as hex to path, readable by
// the owner only. It fails if the file exists.
func GenerateSecretKeyFile(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate secret key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write secret key file %s: %w", path, err)
	}
	return f.Close()
}

// Seal encrypts plaintext. aad binds the result to its row (the data source
// name), so that a sealed value copied to another row does not open there.
func (s *Secret) Seal(plaintext, aad string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: read nonce: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same aad.
func (s *Secret) Open(sealed, aad string) (string, error) {
	if !strings.HasPrefix(sealed, sealedPrefix) {
		return "", errors.New("open sealed value: unknown format (want v1:...)")
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil {
		return "", fmt.Errorf("open sealed value: %w", err)
	}
	n := s.aead.NonceSize()
	if len(b) < n+s.aead.Overhead() {
		return "", errors.New("open sealed value: too short")
	}
	pt, err := s.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return "", errors.New("open sealed value: wrong secret key or tampered value")
	}
	return string(pt), nil
}

// String prints nothing of the key.
func (s *Secret) String() string { return "secret(aes-256-gcm)" }
