package server

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFirstAdminGeneratedPasswordPrintedOnce starts a server without an
// admin password: one is generated and printed, works for login, and a
// second start on the same meta store prints nothing.
func TestFirstAdminGeneratedPasswordPrintedOnce(t *testing.T) {
	t.Setenv(AdminPasswordEnv, "")
	t.Setenv("SLUICE_SECRET_KEY", "")
	var out bytes.Buffer
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Stderr: &out, BcryptCost: 10, Logger: testLog(t)}
	setDefaults(&cfg)
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	i := strings.Index(text, "password:\n\n    ")
	if i < 0 {
		t.Fatalf("no generated password printed: %q", text)
	}
	pw := strings.Fields(text[i+len("password:"):])[0]
	if len(pw) < 16 {
		t.Fatalf("generated password %q is short", pw)
	}
	u, err := s.Store.UserByName(t.Context(), "admin")
	if err != nil || u.Role != "admin" || !strings.HasPrefix(u.PasswordHash, "$2a$10$") {
		t.Fatalf("first admin %+v, %v", u, err)
	}
	s.Store.Close()
	out.Reset()
	s, err = New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Store.Close()
	if out.Len() != 0 {
		t.Errorf("second start printed %q", out.String())
	}
	// The printed password logs in.
	ts2 := startServer(t, Config{DataDir: dir, AdminPassword: "ignored-once-users-exist"})
	ts2.login("admin", pw)
	ts2.anon().mustFail("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "ignored-once-users-exist"}, 401, codeUnauthenticated, "")
}

// TestSessionCookiesAndCSRF logs in and checks the cookies' attributes,
// that unsafe requests need the CSRF header with the session's value, that
// safe ones and bearer tokens do not, and that logout ends the session.
func TestSessionCookiesAndCSRF(t *testing.T) {
	ts := startServer(t, Config{})
	resp, err := http.Post(ts.URL+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+testAdminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session, csrf *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case sessionCookie:
			session = c
		case csrfCookie:
			csrf = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure || session.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain HTTP", session)
	}
	if csrf == nil || csrf.HttpOnly || len(csrf.Value) != 64 {
		t.Fatalf("csrf cookie %+v: want script-readable, 64 hex digits", csrf)
	}
	admin := ts.admin()
	admin.mustJSON("GET", "/api/v1/me", nil, 200, nil)

	admin.noCSRF = true
	admin.mustFail("POST", "/api/v1/users", map[string]string{"username": "x", "password": "password-x", "role": "viewer"}, 403, codeCSRF, "")
	admin.mustJSON("GET", "/api/v1/users", nil, 200, nil) // safe methods need no header
	admin.noCSRF = false
	good := admin.csrf
	admin.csrf = strings.Repeat("0", 64)
	admin.mustFail("DELETE", "/api/v1/tokens/1", nil, 403, codeCSRF, "")
	admin.csrf = good
	admin.mustJSON("POST", "/api/v1/users", map[string]string{"username": "x", "password": "password-x", "role": "viewer"}, 201, nil)

	// Another session's CSRF token does not fit this session.
	other := ts.admin()
	admin.csrf = other.csrf
	admin.mustFail("POST", "/api/v1/tokens", map[string]string{"name": "t"}, 403, codeCSRF, "")
	admin.csrf = good

	// A token needs no CSRF header.
	var tok tokenJSON
	admin.mustJSON("POST", "/api/v1/tokens", map[string]string{"name": "ci"}, 201, &tok)
	ts.withToken(tok.Token).mustJSON("POST", "/api/v1/tokens", map[string]string{"name": "ci-2"}, 201, nil)

	var me meResponse
	ts.withToken(tok.Token).mustJSON("GET", "/api/v1/me", nil, 200, &me)
	if me.Auth != viaToken || me.CSRFToken != "" || me.User.Username != "admin" {
		t.Errorf("me with a token: %+v", me)
	}

	admin.mustJSON("POST", "/api/v1/auth/logout", nil, 204, nil)
	admin.mustFail("GET", "/api/v1/me", nil, 401, codeUnauthenticated, "")
	other.mustJSON("GET", "/api/v1/me", nil, 200, nil) // other sessions go on
}

// TestAPITokens creates, lists and revokes tokens: the secret is shown
// once and stored only hashed, a token's role cannot exceed its user's, and
// a revoked or expired token is refused.
func TestAPITokens(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.admin()
	vc, _ := ts.userWithRole(admin, "vic", RoleViewer)
	vc.mustFail("POST", "/api/v1/tokens", map[string]string{"name": "up", "role": "admin"}, 422, codeInvalid, "role")
	vc.mustFail("POST", "/api/v1/tokens", map[string]string{"name": ""}, 422, codeInvalid, "name")
	vc.mustFail("POST", "/api/v1/tokens", map[string]string{"name": "x", "expires_in": "soon"}, 422, codeInvalid, "expires_in")

	var tok tokenJSON
	admin.mustJSON("POST", "/api/v1/tokens", map[string]string{"name": "ro", "role": "viewer"}, 201, &tok)
	if !strings.HasPrefix(tok.Token, tokenPrefix) || tok.Role != RoleViewer || !strings.HasPrefix(tok.Token, tok.Prefix) {
		t.Fatalf("created token %+v", tok)
	}
	stored, err := ts.S.Store.TokenByID(t.Context(), tok.ID)
	if err != nil || stored.Hash != hashSecret(tok.Token) || strings.Contains(stored.Hash, tok.Token) {
		t.Fatalf("stored token %+v, %v: want only the hash", stored, err)
	}
	ro := ts.withToken(tok.Token)
	ro.mustFail("POST", "/api/v1/data-sources", map[string]any{"name": "x", "host": "h"}, 403, codePermissionDenied, "")
	var list struct{ Tokens []tokenJSON }
	admin.mustJSON("GET", "/api/v1/tokens", nil, 200, &list)
	for _, l := range list.Tokens {
		if l.Token != "" {
			t.Errorf("listing shows a secret: %+v", l)
		}
	}
	// A viewer cannot revoke someone else's token, nor list everyone's.
	vc.mustFail("DELETE", "/api/v1/tokens/"+strconv.FormatInt(tok.ID, 10), nil, 404, codeNotFound, "")
	vc.mustFail("GET", "/api/v1/tokens?all=true", nil, 403, codePermissionDenied, "")
	admin.mustJSON("GET", "/api/v1/tokens?all=true", nil, 200, &list)
	if len(list.Tokens) != 2 {
		t.Errorf("all tokens: %d, want 2 (vic's and admin's)", len(list.Tokens))
	}
	admin.mustJSON("DELETE", "/api/v1/tokens/"+strconv.FormatInt(tok.ID, 10), nil, 204, nil)
	ro.mustFail("GET", "/api/v1/me", nil, 401, codeUnauthenticated, "")

	// Expired.
	var short tokenJSON
	admin.mustJSON("POST", "/api/v1/tokens", map[string]string{"name": "short", "expires_in": "1ms"}, 201, &short)
	time.Sleep(5 * time.Millisecond)
	ts.withToken(short.Token).mustFail("GET", "/api/v1/me", nil, 401, codeUnauthenticated, "")
	// Malformed headers.
	for _, h := range []string{"Basic YWRtaW46eA==", "Bearer nope", "Bearer slc_unknown"} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", h, resp.StatusCode)
		}
	}
}

// TestLoginRateLimited fails logins for one user until the per-user limit
// answers 429 with Retry-After, even with the right password; then another
// user from the same address hits the per-address limit.
func TestLoginRateLimited(t *testing.T) {
	ts := startServer(t, Config{LoginPerUser: 3, LoginPerIP: 5})
	anon := ts.anon()
	for i := 0; i < 3; i++ {
		anon.mustFail("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": "wrong"}, 401, codeUnauthenticated, "")
	}
	code, body, h := anon.do("POST", "/api/v1/auth/login", map[string]string{"username": "admin", "password": testAdminPassword})
	if code != 429 || !strings.Contains(string(body), codeRateLimited) {
		t.Fatalf("4th login: %d %s, want 429", code, body)
	}
	if ra, _ := strconv.Atoi(h.Get("Retry-After")); ra < 1 || ra > 15*60+1 {
		t.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	// Unknown user names count per address too.
	anon.mustFail("POST", "/api/v1/auth/login", map[string]string{"username": "ghost", "password": "x"}, 401, codeUnauthenticated, "")
	anon.mustFail("POST", "/api/v1/auth/login", map[string]string{"username": "ghost2", "password": "x"}, 401, codeUnauthenticated, "")
	anon.mustFail("POST", "/api/v1/auth/login", map[string]string{"username": "ghost3", "password": "x"}, 429, codeRateLimited, "")
}

// TestLoginLimiterWindow checks the limiter's arithmetic with explicit
// times: failures leave the window, and success clears the user's count.
func TestLoginLimiterWindow(t *testing.T) {
	l := newLoginLimiter(time.Minute, 3, 2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.fail("1.2.3.4", "ann", t0)
	l.fail("1.2.3.4", "ann", t0.Add(10*time.Second))
	if w := l.blocked("9.9.9.9", "ann", t0.Add(20*time.Second)); w != 40*time.Second {
		t.Errorf("ann blocked for %s, want 40s (until the first failure leaves the window)", w)
	}
	if w := l.blocked("9.9.9.9", "ann", t0.Add(61*time.Second)); w != 0 {
		t.Errorf("after the window: blocked %s", w)
	}
	l.fail("1.2.3.4", "bob", t0.Add(30*time.Second))
	if w := l.blocked("1.2.3.4", "carl", t0.Add(31*time.Second)); w == 0 {
		t.Error("address with 3 failures not blocked")
	}
	l.succeed("bob")
	if w := l.blocked("5.5.5.5", "bob", t0.Add(31*time.Second)); w != 0 {
		t.Errorf("bob after success: %s", w)
	}
}

// TestUsersAdministration covers the users routes: create, read, change
// role and password, disable, delete, and the last admin kept.
func TestUsersAdministration(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.admin()
	var u userJSON
	admin.mustJSON("POST", "/api/v1/users", map[string]string{"username": "ops", "password": "ops-password", "role": "operator"}, 201, &u)
	if u.Role != RoleOperator || u.Username != "ops" {
		t.Fatalf("created %+v", u)
	}
	admin.mustFail("POST", "/api/v1/users", map[string]string{"username": "ops", "password": "ops-password", "role": "operator"}, 409, codeAlreadyExists, "")
	admin.mustFail("POST", "/api/v1/users", map[string]string{"username": "bad name", "password": "ops-password", "role": "operator"}, 422, codeInvalid, "username")
	admin.mustFail("POST", "/api/v1/users", map[string]string{"username": "p", "password": "short", "role": "operator"}, 422, codeInvalid, "password")
	admin.mustFail("POST", "/api/v1/users", map[string]string{"username": "p", "password": strings.Repeat("x", 73), "role": "operator"}, 422, codeInvalid, "password")
	admin.mustFail("POST", "/api/v1/users", map[string]string{"username": "p", "password": "long-enough", "role": "root"}, 422, codeInvalid, "role")
	id := "/api/v1/users/" + strconv.FormatInt(u.ID, 10)
	ops := ts.login("ops", "ops-password")
	admin.mustJSON("PATCH", id, map[string]any{"role": "viewer"}, 200, &u)
	if u.Role != RoleViewer {
		t.Fatalf("role %s", u.Role)
	}
	var me meResponse
	ops.mustJSON("GET", "/api/v1/me", nil, 200, &me)
	if me.Role != RoleViewer {
		t.Errorf("demoted user's session role %s", me.Role)
	}
	admin.mustJSON("PATCH", id, map[string]any{"password": "new-ops-password"}, 200, nil)
	ops.mustFail("GET", "/api/v1/me", nil, 401, codeUnauthenticated, "") // a new password ends sessions
	ops = ts.login("ops", "new-ops-password")
	admin.mustJSON("PATCH", id, map[string]any{"disabled": true}, 200, nil)
	ops.mustFail("GET", "/api/v1/me", nil, 401, codeUnauthenticated, "")
	ts.anon().mustFail("POST", "/api/v1/auth/login", map[string]string{"username": "ops", "password": "new-ops-password"}, 401, codeUnauthenticated, "")

	// The last admin stays.
	var meAdmin meResponse
	admin.mustJSON("GET", "/api/v1/me", nil, 200, &meAdmin)
	self := "/api/v1/users/" + strconv.FormatInt(meAdmin.User.ID, 10)
	admin.mustFail("PATCH", self, map[string]any{"role": "operator"}, 409, codeFailedPrecondition, "")
	admin.mustFail("PATCH", self, map[string]any{"disabled": true}, 409, codeFailedPrecondition, "")
	admin.mustFail("DELETE", self, nil, 409, codeFailedPrecondition, "")

	// Own password change keeps this session.
	admin.mustFail("PUT", "/api/v1/me/password", map[string]string{"current_password": "wrong", "new_password": "another-password"}, 422, codeInvalid, "current_password")
	admin.mustJSON("PUT", "/api/v1/me/password", map[string]string{"current_password": testAdminPassword, "new_password": "another-password"}, 204, nil)
	admin.mustJSON("GET", "/api/v1/me", nil, 200, nil)
	ts.login("admin", "another-password")

	admin.mustJSON("DELETE", id, nil, 204, nil)
	admin.mustFail("GET", id, nil, 404, codeNotFound, "")
	var list struct{ Users []userJSON }
	admin.mustJSON("GET", "/api/v1/users", nil, 200, &list)
	if len(list.Users) != 1 {
		t.Errorf("users left: %+v", list.Users)
	}
	// Passwords are stored as bcrypt hashes of cost >= 10.
	us, _ := ts.S.Store.Users(t.Context())
	for _, u := range us {
		if !strings.HasPrefix(u.PasswordHash, "$2a$1") || strings.Contains(u.PasswordHash, "another-password") {
			t.Errorf("user %s hash %q", u.Username, u.PasswordHash)
		}
	}
}
