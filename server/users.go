package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"time"

	"github.com/sluice-db/sluice/store"
)

type userJSON struct {
	ID          int64      `json:"id"`
	Username    string     `json:"username"`
	Role        Role       `json:"role"`
	Disabled    bool       `json:"disabled"`
	LastLoginAt *time.Time `json:"last_login_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Role: Role(u.Role), Disabled: u.Disabled,
		LastLoginAt: timePtr(u.LastLoginAt), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ *principal) error {
	us, err := s.Store.Users(r.Context())
	if err != nil {
		return err
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

type userCreate struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req userCreate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !usernameRE.MatchString(req.Username) {
		return invalid("username", "username %q: use 1-64 letters, digits, _ . @ or -, starting with a letter or digit", req.Username)
	}
	role, err := parseRole("role", req.Role)
	if err != nil {
		return err
	}
	hash, err := s.hashPassword("password", req.Password)
	if err != nil {
		return err
	}
	id, err := s.Store.CreateUser(r.Context(), store.User{Username: req.Username, PasswordHash: hash, Role: string(role)})
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, codeAlreadyExists, "user %q already exists", req.Username)
	}
	if err != nil {
		return err
	}
	u, err := s.Store.User(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	u, err := s.Store.User(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

type userUpdate struct {
	Role     *string `json:"role"`
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req userUpdate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := s.Store.User(ctx, id)
	if err != nil {
		return err
	}
	wasAdmin := u.Role == string(RoleAdmin) && !u.Disabled
	endSessions := false
	if req.Role != nil {
		role, err := parseRole("role", *req.Role)
		if err != nil {
			return err
		}
		u.Role = string(role)
	}
	if req.Password != nil {
		if u.PasswordHash, err = s.hashPassword("password", *req.Password); err != nil {
			return err
		}
		endSessions = true
	}
	if req.Disabled != nil {
		if *req.Disabled && !u.Disabled {
			endSessions = true
		}
		u.Disabled = *req.Disabled
	}
	if wasAdmin && (u.Role != string(RoleAdmin) || u.Disabled) {
		if err := s.keepAnAdmin(ctx, u.Username); err != nil {
			return err
		}
	}
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return err
	}
	if endSessions {
		keep := ""
		if u.ID == p.User.ID && !u.Disabled {
			keep = p.Session.ID // changing one's own password keeps this session
		}
		if err := s.Store.DeleteUserSessions(ctx, u.ID, keep); err != nil {
			return err
		}
	}
	if u, err = s.Store.User(ctx, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

// keepAnAdmin refuses a change that would leave no enabled admin: nobody
// could manage users any more.
func (s *Server) keepAnAdmin(ctx context.Context, username string) error {
	n, err := s.Store.CountActiveAdmins(ctx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return conflict("user %q is the last enabled admin; make another user admin first", username)
	}
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if id == p.User.ID {
		return conflict("you cannot delete yourself; another admin can")
	}
	ctx := r.Context()
	u, err := s.Store.User(ctx, id)
	if err != nil {
		return err
	}
	if u.Role == string(RoleAdmin) && !u.Disabled {
		if err := s.keepAnAdmin(ctx, u.Username); err != nil {
			return err
		}
	}
	if err := s.Store.DeleteUser(ctx, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AdminPasswordEnv supplies the first admin's password when --admin-password
// is not given.
const AdminPasswordEnv = "SLUICE_ADMIN_PASSWORD"

// bootstrapAdmin creates the first admin on a meta store without users.
// Its password comes from the config or the environment; failing both, one
// is generated and printed once to out, since nobody could log in
// otherwise.
func (s *Server) bootstrapAdmin(ctx context.Context, out io.Writer) error {
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	name := s.Config.AdminUser
	if name == "" {
		name = "admin"
	}
	pw, generated := s.Config.AdminPassword, false
	if pw == "" {
		pw = os.Getenv(AdminPasswordEnv)
	}
	if pw == "" {
		pw, generated = randomString(15), true
	}
	hash, err := s.hashPassword("admin password", pw)
	if err != nil {
		return fmt.Errorf("first admin: %w", err)
	}
	_, err = s.Store.CreateUser(ctx, store.User{Username: name, PasswordHash: hash, Role: string(RoleAdmin)})
	if errors.Is(err, store.ErrExists) {
		return nil // another node sharing the meta store made it first
	}
	if err != nil {
		return fmt.Errorf("create the first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(out, "\nsluice: created the first admin user %q with password:\n\n    %s\n\nIt is shown only this once: log in and change it (or create other users).\n\n", name, pw)
	}
	s.log.Info("created the first admin user", "user", name, "password_generated", generated)
	return nil
}
