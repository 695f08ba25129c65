// Package web serves the sluice console: the Vue single-page app built from
// this directory's sources into dist/ and embedded into the binary when it
// is built with -tags webui (make build). It owns the static files and their
// HTTP caching; the API under /api/v1/ belongs to package server.
package web

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Handler serves the console: files from the build, index.html for every
// other path (the app's client-side routes), and a JSON 404 for unknown
// /api/ paths so that API clients never receive HTML. Mount it at "/" after
// the API routes; more specific patterns win in http.ServeMux.
func Handler() http.Handler {
	return newHandler(consoleFS())
}

// Built reports whether the console was embedded into this binary.
func Built() bool { return built }

// spa serves a Vite build: hashed files under assets/ are cached for a year
// (their names change with their content), everything else is revalidated.
type spa struct {
	files fs.FS
	index []byte
	mod   time.Time
}

func newHandler(files fs.FS) http.Handler {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		// A build without index.html is broken; say so instead of serving 404s.
		index = []byte(notBuiltPage)
	}
	return &spa{files: files, index: index, mod: time.Now()}
}

func (s *spa) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	if p == "/api" || strings.HasPrefix(p, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"not_found","message":"no such API route: `+jsonEscape(p)+`"}}`+"\n")
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name != "" && name != "index.html" {
		if f, err := s.files.Open(name); err == nil {
			defer f.Close()
			if st, err := f.Stat(); err == nil && !st.IsDir() {
				if rs, ok := f.(io.ReadSeeker); ok {
					s.setCache(w, name)
					http.ServeContent(w, r, name, st.ModTime(), rs)
					return
				}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			http.Error(w, "read console file: "+err.Error(), http.StatusInternalServerError)
			return
		}
		// A missing asset is a real 404: serving index.html in its place
		// would hand HTML to a script tag after a deploy.
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	http.ServeContent(w, r, "index.html", s.mod, bytes.NewReader(s.index))
}

func (s *spa) setCache(w http.ResponseWriter, name string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(name, "assets/") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
}

func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(" ")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>sluice</h1>
<p>The web console was not built into this binary. Build it with
<code>make build</code> (it runs the npm build and then
<code>go build -tags webui</code>). The REST API is at <code>/api/v1/</code>
and documented in <a href="/openapi.yaml">/openapi.yaml</a>.</p>
<p>控制台未编译进此二进制文件。请运行 <code>make build</code>。</p>
</body></html>
`
