package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesSPA(t *testing.T) {
	files := fstest.MapFS{
		"index.html":            {Data: []byte("<html>console</html>")},
		"assets/index-abc1.js":  {Data: []byte("console.log(1)")},
		"assets/index-abc1.css": {Data: []byte("body{}")},
		"favicon.svg":           {Data: []byte("<svg/>")},
	}
	h := newHandler(files)
	cases := []struct {
		name, method, target string
		status               int
		contains, cache      string
		contentType          string
	}{
		{"root is index", "GET", "/", 200, "console", "no-cache", "text/html"},
		{"client route falls back to index", "GET", "/pipelines/orders", 200, "console", "no-cache", "text/html"},
		{"deep client route", "GET", "/checks/12?tab=rows", 200, "console", "no-cache", "text/html"},
		{"hashed asset cached for a year", "GET", "/assets/index-abc1.js", 200, "console.log", "public, max-age=31536000, immutable", "javascript"},
		{"css asset", "GET", "/assets/index-abc1.css", 200, "body{}", "immutable", "text/css"},
		{"unhashed file revalidated", "GET", "/favicon.svg", 200, "<svg/>", "no-cache", "image/svg"},
		{"missing asset is 404, not index", "GET", "/assets/gone-1234.js", 404, "", "", ""},
		{"missing file with extension is 404", "GET", "/robots.txt", 404, "", "", ""},
		{"unknown api route is JSON 404", "GET", "/api/v1/nope", 404, `"code":"not_found"`, "", "application/json"},
		{"path traversal stays inside", "GET", "/../../etc/passwd", 200, "console", "no-cache", "text/html"},
		{"HEAD works", "HEAD", "/", 200, "", "no-cache", "text/html"},
		{"POST refused", "POST", "/", 405, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := get(t, h, c.method, c.target)
			if r.StatusCode != c.status {
				t.Fatalf("status %d, want %d", r.StatusCode, c.status)
			}
			b := body(t, r)
			if !strings.Contains(b, c.contains) {
				t.Errorf("body %q does not contain %q", b, c.contains)
			}
			if got := r.Header.Get("Cache-Control"); !strings.Contains(got, c.cache) {
				t.Errorf("Cache-Control %q, want %q", got, c.cache)
			}
			if got := r.Header.Get("Content-Type"); !strings.Contains(got, c.contentType) {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
		})
	}
}

func TestHandlerAPIErrorIsValidJSON(t *testing.T) {
	h := newHandler(fstest.MapFS{"index.html": {Data: []byte("x")}})
	r := get(t, h, "GET", `/api/v1/x"y`)
	b := body(t, r)
	if !strings.Contains(b, `x\"y`) {
		t.Fatalf("quote not escaped: %s", b)
	}
}

func TestHandlerWithoutBuildSaysHowToBuild(t *testing.T) {
	h := newHandler(fstest.MapFS{})
	r := get(t, h, "GET", "/dashboard")
	if r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	if b := body(t, r); !strings.Contains(b, "make build") {
		t.Fatalf("page does not say how to build: %s", b)
	}
}

func TestDefaultHandler(t *testing.T) {
	// Whichever way the binary was built, / answers with a page.
	r := get(t, Handler(), "GET", "/")
	if r.StatusCode != 200 {
		t.Fatalf("status %d", r.StatusCode)
	}
	b := body(t, r)
	if Built() && strings.Contains(b, "was not built") {
		t.Fatal("built with webui but serving the not-built page")
	}
	if !Built() && !strings.Contains(b, "make build") {
		t.Fatalf("not built, page: %s", b)
	}
}
