package server

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// concretePath fills a route pattern with ids and names that do not exist,
// so that an allowed call reaches its handler without changing anything.
func concretePath(pattern string) string {
	return strings.NewReplacer("{id}", "999999", "{name}", "no-such-object").Replace(pattern)
}

// TestRoleEnforcementEveryRoute calls every route of the registry as each
// role (and without credentials): no credentials is 401, a role below the
// route's is 403, and a role at or above it gets past the guard (whatever
// the handler then answers about the missing object or body).
func TestRoleEnforcementEveryRoute(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.admin()
	_, viewer := ts.userWithRole(admin, "vera", RoleViewer)
	_, operator := ts.userWithRole(admin, "otto", RoleOperator)
	var tok tokenJSON
	admin.mustJSON("POST", "/api/v1/tokens", map[string]string{"name": "admin-token"}, 201, &tok)
	adminTok := ts.withToken(tok.Token)
	callers := []struct {
		role Role
		c    *client
	}{{"", ts.anon()}, {RoleViewer, viewer}, {RoleOperator, operator}, {RoleAdmin, adminTok}}

	routes := ts.S.routes()
	if len(routes) < 60 {
		t.Fatalf("registry has %d routes; expected every resource's", len(routes))
	}
	for _, rt := range routes {
		if rt.Role == rolePublic {
			continue
		}
		for _, caller := range callers {
			name := rt.Method + " " + rt.Pattern + " as " + string(caller.role)
			if caller.role == "" {
				name = rt.Method + " " + rt.Pattern + " anonymous"
			}
			t.Run(name, func(t *testing.T) {
				caller.c.t = t
				path := concretePath(rt.Pattern)
				var code int
				var body []byte
				if rt.Pattern == "/api/v1/events" {
					code = streamStatus(t, caller.c, path)
				} else {
					var b any
					if rt.Method != "GET" && rt.Method != "DELETE" {
						b = "{}"
					}
					code, body, _ = caller.c.do(rt.Method, path, b)
				}
				switch {
				case caller.role == "":
					if code != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401; %s", code, body)
					}
				case !caller.role.allows(rt.Role):
					if code != http.StatusForbidden || !strings.Contains(string(body), codePermissionDenied) {
						t.Fatalf("status %d, want 403 permission_denied; %s", code, body)
					}
				default:
					if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
						t.Fatalf("status %d for an allowed role; %s", code, body)
					}
				}
			})
		}
	}
}

// streamStatus opens the event stream and returns its status.
func streamStatus(t *testing.T, c *client, path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOpenAPIDescribesEveryRoute checks openapi.yaml against the registry:
// every route is there with its role, and every API path there is a route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	s := &Server{}
	inRegistry := map[string]bool{}
	for _, rt := range s.routes() {
		key := strings.ToLower(rt.Method) + " " + rt.Pattern
		inRegistry[key] = true
		op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s is not in openapi.yaml", rt.Method, rt.Pattern)
			continue
		}
		if got := op["x-sluice-role"]; got != string(rt.Role) {
			t.Errorf("%s %s: openapi.yaml says role %v, the registry %s", rt.Method, rt.Pattern, got, rt.Role)
		}
	}
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !inRegistry[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which the server does not serve", strings.ToUpper(method), path)
			}
		}
	}
}
