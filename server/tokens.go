package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/sluice-db/sluice/store"
)

type tokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	UserID     int64      `json:"user_id"`
	Username   string     `json:"username"`
	Role       Role       `json:"role"`
	Prefix     string     `json:"prefix"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	// Token is the secret, set only in the answer to its creation.
	Token string `json:"token,omitempty"`
}

func toTokenJSON(t store.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, UserID: t.UserID, Username: t.Username, Role: Role(t.Role), Prefix: t.Prefix,
		ExpiresAt: timePtr(t.ExpiresAt), LastUsedAt: timePtr(t.LastUsedAt), CreatedAt: t.CreatedAt.UTC()}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	userID := p.User.ID
	if r.URL.Query().Get("all") == "true" {
		if !p.Role.allows(RoleAdmin) {
			return errorf(http.StatusForbidden, codePermissionDenied, "listing everyone's tokens (all=true) needs the admin role")
		}
		userID = 0
	}
	ts, err := s.Store.Tokens(r.Context(), userID)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, toTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

type tokenCreate struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	ExpiresIn string `json:"expires_in"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req tokenCreate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 128 {
		return invalid("name", "name is required (at most 128 characters): say what the token is for")
	}
	role := p.Role
	if req.Role != "" {
		var err error
		if role, err = parseRole("role", req.Role); err != nil {
			return err
		}
		if role.rank() > p.Role.rank() {
			return invalid("role", "role %s is above yours (%s): a token cannot do more than its user", role, p.Role)
		}
	}
	d, err := parseDuration("expires_in", req.ExpiresIn, 0)
	if err != nil {
		return err
	}
	secret := tokenPrefix + randomString(32)
	t := store.Token{UserID: p.User.ID, Name: req.Name, Hash: hashSecret(secret), Prefix: secret[:len(tokenPrefix)+6], Role: string(role)}
	if d > 0 {
		t.ExpiresAt = time.Now().Add(d)
	}
	id, err := s.Store.CreateToken(r.Context(), t)
	if err != nil {
		return err
	}
	if t, err = s.Store.TokenByID(r.Context(), id); err != nil {
		return err
	}
	out := toTokenJSON(t)
	out.Token = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := s.Store.TokenByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.UserID != p.User.ID && !p.Role.allows(RoleAdmin)) {
		// Someone else's token is as good as missing to a non-admin.
		return notFound("token %d not found", id)
	}
	if err != nil {
		return err
	}
	if err := s.Store.DeleteToken(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
