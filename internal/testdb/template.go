package testdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// template returns a datadir initialised by mariadb-install-db, building it
// once per machine and server version. A file lock keeps concurrent test
// binaries from building it twice.
func template(ctx context.Context) (string, error) {
	bin, err := mariadbd()
	if err != nil {
		return "", err
	}
	version, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	sum := sha256.Sum256(append(version, []byte(fmt.Sprint(os.Geteuid()))...))
	base := filepath.Join(os.TempDir(), "sluice-testdb-"+hex.EncodeToString(sum[:6]))
	dir := filepath.Join(base, "data")
	if _, err := os.Stat(filepath.Join(base, "ready")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("create template dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(base, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("open template lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock template: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(base, "ready")); err == nil {
		return dir, nil
	}
	os.RemoveAll(dir)
	install, err := exec.LookPath("mariadb-install-db")
	if err != nil {
		return "", fmt.Errorf("mariadb-install-db not found: install it with `sudo apt-get install -y mariadb-server`")
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + dir,
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--innodb-log-file-size=64M",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.CommandContext(ctx, install, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mariadb-install-db: %w\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(base, "ready"), nil, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

// copyDir copies a directory tree of regular files.
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return copyFile(path, target, info.Mode().Perm())
	})
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
