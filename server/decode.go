package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds request bodies: every object the API takes is small.
const maxBody = 1 << 20

// decodeJSON reads a request body into v strictly: one JSON value, no
// unknown fields, of the right types. Its errors are 400s that say where
// the body went wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the body must be JSON (Content-Type: application/json), not %q", ct)
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return badRequest("the body must hold one JSON object; found more after it")
	}
	return nil
}

func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object")
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "the body is larger than %d bytes", maxBody)
	case errors.As(err, &syn):
		return badRequest("the body is not valid JSON: %v (at byte %d)", err, syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not valid JSON: it ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("the body must be a JSON object, not %s", typ.Value)
		}
		ae := badRequest("%s: must be %s, not %s", field, jsonTypeName(typ.Type.String()), typ.Value)
		ae.Field = field
		return ae
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		ae := badRequest("unknown field %q; see the API reference at /openapi.yaml for the fields this request takes", name)
		ae.Field = name
		return ae
	}
	return badRequest("the body is not valid JSON: %v", err)
}

func jsonTypeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}

// pathID reads an integer id from the path.
func pathID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("id %q in the path must be a positive integer", v)
	}
	return id, nil
}

// queryInt reads an integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		ae := badRequest("query parameter %s=%q must be an integer from %d to %d", name, v, lo, hi)
		ae.Field = name
		return 0, ae
	}
	return n, nil
}

// parseDuration reads a Go duration field; "" is def.
func parseDuration(field, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, invalid(field, "%s: %q is not a duration (e.g. 30s, 500ms, 1h)", field, v)
	}
	if d < 0 {
		return 0, invalid(field, "%s: %s must not be negative", field, v)
	}
	return d, nil
}

// durationString renders a duration for the API ("" for zero).
func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// timePtr is nil for the zero time, for nullable JSON times.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// validName reports whether s is a valid object name: 1-128 letters,
// digits, _ . or -, starting with a letter or digit (as pipeline names).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '.' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}

// checkName validates an object name (data source, pipeline, channel).
func checkName(field, name string) error {
	if name == "" {
		return invalid(field, "%s is required", field)
	}
	if !validName(name) {
		return invalid(field, "%s %q: use 1-128 letters, digits, _ . or -, starting with a letter or digit", field, name)
	}
	return nil
}
