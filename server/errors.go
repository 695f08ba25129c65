package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sluice-db/sluice/store"
)

// Error codes: stable names the console and scripts can switch on. The
// table in openapi.yaml lists them with their statuses.
const (
	codeBadRequest         = "bad_request"
	codeInvalid            = "invalid_argument"
	codeConnectionFailed   = "connection_failed"
	codeUnauthenticated    = "unauthenticated"
	codeCSRF               = "csrf_failed"
	codePermissionDenied   = "permission_denied"
	codeNotFound           = "not_found"
	codeAlreadyExists      = "already_exists"
	codeFailedPrecondition = "failed_precondition"
	codeTooLarge           = "too_large"
	codeUnsupportedMedia   = "unsupported_media_type"
	codeRateLimited        = "rate_limited"
	codeInternal           = "internal"
	codeUnavailable        = "unavailable"
)

// apiError is an error with the status and code the API answers with.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// RetryAfter, in seconds, is sent as a header with 429.
	RetryAfter int `json:"-"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid is a 422 for a bad value of field.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: codeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, codeBadRequest, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, codeNotFound, format, args...)
}

func conflict(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, codeFailedPrecondition, format, args...)
}

func connectionFailed(format string, args ...any) *apiError {
	return errorf(http.StatusUnprocessableEntity, codeConnectionFailed, format, args...)
}

// toAPIError maps an error from a handler to what the API answers: an
// apiError as it is, the store's not-found and exists as 404 and 409, and
// anything else as a 500 whose message still says what failed.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("%s", err.Error())
	case errors.Is(err, store.ErrExists):
		return errorf(http.StatusConflict, codeAlreadyExists, "%s", err.Error())
	}
	return errorf(http.StatusInternalServerError, codeInternal, "%s", err.Error())
}

// writeError answers with the stable error shape.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "error", ae.Message)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, map[string]*apiError{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}
