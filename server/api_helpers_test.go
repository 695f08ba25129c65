package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/schedule"
)

const testAdminPassword = "admin-password-1"

// testServer is a real server (meta store, scheduler, supervisor, HTTP)
// listening on 127.0.0.1 for one test.
type testServer struct {
	t    *testing.T
	S    *Server
	URL  string
	stop func()
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a server on a SQLite meta store in a temporary dir,
// unless cfg names another meta store.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen = "127.0.0.1:0"
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = testAdminPassword
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = testLog(t)
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.PipelineTick == 0 {
		cfg.PipelineTick = 200 * time.Millisecond
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 200 * time.Millisecond
	}
	if cfg.RunWatchInterval == 0 {
		cfg.RunWatchInterval = 100 * time.Millisecond
	}
	if cfg.Scheduler.Heartbeat == 0 {
		cfg.Scheduler = schedule.Options{Heartbeat: 200 * time.Millisecond, Lease: 2 * time.Second, PollInterval: 100 * time.Millisecond}
	}
	t.Setenv("SLUICE_SECRET_KEY", "")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	ts := &testServer{t: t, S: s, URL: "http://" + addr}
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("server did not stop within 60s")
		}
	}
	t.Cleanup(ts.stop)
	return ts
}

// client calls the API as one user: with a session cookie (and the CSRF
// header) or with a bearer token.
type client struct {
	t     *testing.T
	base  string
	http  *http.Client
	csrf  string
	token string
	// noCSRF leaves the CSRF header out, to test its check.
	noCSRF bool
}

func (ts *testServer) anon() *client {
	return &client{t: ts.t, base: ts.URL, http: &http.Client{Timeout: 60 * time.Second}}
}

// login logs in with a cookie session.
func (ts *testServer) login(user, password string) *client {
	ts.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: ts.t, base: ts.URL, http: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
	var me meResponse
	c.mustJSON("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": password}, 200, &me)
	c.csrf = me.CSRFToken
	return c
}

func (ts *testServer) admin() *client { return ts.login("admin", testAdminPassword) }

// withToken is a client that sends a bearer token.
func (ts *testServer) withToken(tok string) *client {
	return &client{t: ts.t, base: ts.URL, http: &http.Client{Timeout: 60 * time.Second}, token: tok}
}

// userWithRole creates a user (as admin) and returns a session client and a
// token client for it.
func (ts *testServer) userWithRole(admin *client, name string, role Role) (*client, *client) {
	ts.t.Helper()
	pw := name + "-password"
	admin.mustJSON("POST", "/api/v1/users", map[string]string{"username": name, "password": pw, "role": string(role)}, 201, nil)
	c := ts.login(name, pw)
	var tok tokenJSON
	c.mustJSON("POST", "/api/v1/tokens", map[string]string{"name": name + "-token"}, 201, &tok)
	return c, ts.withToken(tok.Token)
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (c *client) do(method, path string, body any) (int, []byte, http.Header) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.csrf != "" && !c.noCSRF {
		req.Header.Set(csrfHeader, c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b, resp.Header
}

// mustJSON sends a request, checks the status and decodes the answer into
// out (when not nil).
func (c *client) mustJSON(method, path string, body any, want int, out any) []byte {
	c.t.Helper()
	code, b, _ := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// apiErr is the error shape.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// mustFail sends a request and checks the error status, code and field.
func (c *client) mustFail(method, path string, body any, status int, code, field string) apiErr {
	c.t.Helper()
	got, b, _ := c.do(method, path, body)
	var e apiErr
	if err := json.Unmarshal(b, &e); err != nil {
		c.t.Fatalf("%s %s: status %d, body %q is not the error shape: %v", method, path, got, b, err)
	}
	if got != status || e.Error.Code != code || (field != "*" && e.Error.Field != field) {
		c.t.Fatalf("%s %s: got %d %s field %q (%s), want %d %s field %q", method, path, got, e.Error.Code, e.Error.Field, e.Error.Message, status, code, field)
	}
	if e.Error.Message == "" {
		c.t.Fatalf("%s %s: error without a message", method, path)
	}
	return e
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		if state != "" {
			last = state
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last state: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addDataSource registers a testdb server as a data source.
func addDataSource(c *client, name string, srv *testdb.Server) {
	c.t.Helper()
	c.mustJSON("POST", "/api/v1/data-sources", map[string]any{"name": name, "host": srv.Host, "port": srv.Port, "user": srv.User, "password": srv.Password}, 201, nil)
}

// doContentType sends a raw body with a content type.
func (c *client) doContentType(method, path, body, contentType string) (int, []byte, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if c.csrf != "" {
		req.Header.Set(csrfHeader, c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// metricValue scrapes /metrics and returns the value of the first sample
// line that starts with prefix, or -1.
func metricValue(t *testing.T, base, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			return v
		}
	}
	return -1
}
