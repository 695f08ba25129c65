package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-db/sluice/store"
)

const (
	sessionCookie = "sluice_session"
	csrfCookie    = "sluice_csrf"
	csrfHeader    = "X-CSRF-Token"
	tokenPrefix   = "slc_"

	viaSession = "session"
	viaToken   = "token"

	// sessionIdle ends a session unused this long; sessionMax ends any
	// session this long after login.
	sessionIdle = 12 * time.Hour
	sessionMax  = 7 * 24 * time.Hour
	// touchEvery bounds how often a session's or token's last use is
	// written: once a minute is enough to keep it alive.
	touchEvery = time.Minute

	minPassword = 8
	// bcrypt reads at most 72 bytes; longer passwords would be silently
	// cut, so they are refused.
	maxPassword = 72
)

// principal is who is calling: a user, through a session or a token, with
// the role in effect.
type principal struct {
	User    store.User
	Role    Role
	Via     string
	Session store.Session
	Token   store.Token
}

func (p *principal) csrfOK(r *http.Request) bool {
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRFToken)) == 1
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var errUnauthenticated = errorf(http.StatusUnauthorized, codeUnauthenticated,
	"log in (POST /api/v1/auth/login) or send an API token as Authorization: Bearer slc_...")

// authenticate finds the caller from a bearer token or a session cookie.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(tok, tokenPrefix) {
			return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "the Authorization header must be Bearer slc_... (an API token)")
		}
		return s.tokenPrincipal(ctx, tok)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errUnauthenticated
	}
	return s.sessionPrincipal(ctx, c.Value)
}

func (s *Server) tokenPrincipal(ctx context.Context, secret string) (*principal, error) {
	t, err := s.Store.TokenByHash(ctx, hashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "unknown or revoked API token")
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !t.ExpiresAt.IsZero() && now.After(t.ExpiresAt) {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "API token %q expired at %s; create a new one", t.Name, t.ExpiresAt.Format(time.RFC3339))
	}
	u, err := s.Store.User(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "the API token's user no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "user %q is disabled", u.Username)
	}
	if now.Sub(t.LastUsedAt) > touchEvery {
		if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
			s.log.Warn("record token use", "token", t.ID, "error", err)
		}
	}
	role := Role(t.Role)
	if Role(u.Role).rank() < role.rank() {
		role = Role(u.Role) // a demoted user's tokens follow the user down
	}
	return &principal{User: u, Role: role, Via: viaToken, Token: t}, nil
}

func (s *Server) sessionPrincipal(ctx context.Context, cookie string) (*principal, error) {
	se, err := s.Store.SessionByID(ctx, hashSecret(cookie))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "your session ended; log in again")
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if now.After(se.ExpiresAt) {
		s.Store.DeleteSession(ctx, se.ID)
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "your session expired; log in again")
	}
	u, err := s.Store.User(ctx, se.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "your user no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errorf(http.StatusUnauthorized, codeUnauthenticated, "user %q is disabled", u.Username)
	}
	if now.Sub(se.LastSeenAt) > touchEvery {
		se.LastSeenAt = now
		se.ExpiresAt = minTime(now.Add(sessionIdle), se.CreatedAt.Add(sessionMax))
		if err := s.Store.TouchSession(ctx, se.ID, se.LastSeenAt, se.ExpiresAt); err != nil {
			s.log.Warn("touch session", "user", u.Username, "error", err)
		}
	}
	return &principal{User: u, Role: Role(u.Role), Via: viaSession, Session: se}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// clientIP is the address the request came from. X-Forwarded-For is not
// trusted: a client could name any address to dodge the login limits.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type meResponse struct {
	User             userJSON   `json:"user"`
	Role             Role       `json:"role"`
	Auth             string     `json:"auth"`
	CSRFToken        string     `json:"csrf_token,omitempty"`
	SessionExpiresAt *time.Time `json:"session_expires_at,omitempty"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return invalid("username", "username and password are required")
	}
	ip := clientIP(r)
	if wait := s.logins.blocked(ip, req.Username, time.Now()); wait > 0 {
		secs := int(wait.Seconds()) + 1
		return &apiError{Status: http.StatusTooManyRequests, Code: codeRateLimited, RetryAfter: secs,
			Message: fmt.Sprintf("too many failed logins from this address or for this user; try again in %d seconds", secs)}
	}
	ctx := r.Context()
	u, err := s.Store.UserByName(ctx, req.Username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	hash := []byte(u.PasswordHash)
	if u.ID == 0 {
		// Spend the same time on an unknown user as on a wrong password,
		// so that timing does not tell which user names exist.
		hash = s.dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || u.ID == 0 || u.Disabled {
		s.logins.fail(ip, req.Username, time.Now())
		s.log.Warn("failed login", "user", req.Username, "ip", ip)
		return errorf(http.StatusUnauthorized, codeUnauthenticated, "wrong user name or password")
	}
	s.logins.succeed(req.Username)
	now := time.Now()
	cookie := randomString(32)
	se := store.Session{ID: hashSecret(cookie), UserID: u.ID, CSRFToken: randomHex(32),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(sessionIdle)}
	if err := s.Store.CreateSession(ctx, se); err != nil {
		return err
	}
	if err := s.Store.TouchLogin(ctx, u.ID); err != nil {
		s.log.Warn("record login", "user", u.Username, "error", err)
	}
	secure := r.TLS != nil || s.Config.SecureCookies
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: cookie, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMax.Seconds())})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: se.CSRFToken, Path: "/", Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMax.Seconds())})
	s.log.Info("login", "user", u.Username, "ip", ip)
	writeJSON(w, http.StatusOK, meResponse{User: toUserJSON(u), Role: Role(u.Role), Auth: viaSession, CSRFToken: se.CSRFToken, SessionExpiresAt: timePtr(se.ExpiresAt)})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.Via == viaSession {
		if err := s.Store.DeleteSession(r.Context(), p.Session.ID); err != nil {
			return err
		}
	}
	secure := r.TLS != nil || s.Config.SecureCookies
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sessionCookie, Secure: secure, SameSite: http.SameSiteStrictMode})
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *principal) error {
	out := meResponse{User: toUserJSON(p.User), Role: p.Role, Auth: p.Via}
	if p.Via == viaSession {
		out.CSRFToken, out.SessionExpiresAt = p.Session.CSRFToken, timePtr(p.Session.ExpiresAt)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type passwordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changeOwnPassword(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req passwordChange
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(p.User.PasswordHash), []byte(req.CurrentPassword)) != nil {
		return invalid("current_password", "current_password is wrong")
	}
	hash, err := s.hashPassword("new_password", req.NewPassword)
	if err != nil {
		return err
	}
	u := p.User
	u.PasswordHash = hash
	if err := s.Store.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	if err := s.Store.DeleteUserSessions(r.Context(), u.ID, p.Session.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// hashPassword checks a new password and hashes it with bcrypt.
func (s *Server) hashPassword(field, pw string) (string, error) {
	if len(pw) < minPassword {
		return "", invalid(field, "%s must be at least %d characters", field, minPassword)
	}
	if len(pw) > maxPassword {
		return "", invalid(field, "%s must be at most %d bytes (bcrypt ignores the rest)", field, maxPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
