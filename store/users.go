package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// ErrExists is returned when a row with the same unique name exists.
var ErrExists = errors.New("already exists")

// isDuplicate says whether err is a unique key violation on either dialect.
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// User is a person who logs in to the server. PasswordHash is a bcrypt
// hash; the store never sees the clear password.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         string
	Disabled     bool
	LastLoginAt  time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

const userColumns = "id, username, password_hash, role, disabled, last_login_at, created_at, updated_at"

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var disabled int
	var last, created, updated NullTime
	err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &disabled, &last, &created, &updated)
	u.Disabled = disabled != 0
	u.LastLoginAt, u.CreatedAt, u.UpdatedAt = last.Time, created.Time, updated.Time
	return u, err
}

// CreateUser inserts a user and returns its id.
func (s *Store) CreateUser(ctx context.Context, u User) (int64, error) {
	res, err := s.db.ExecContext(ctx, "INSERT INTO users (username, password_hash, role, disabled) VALUES (?, ?, ?, ?)",
		u.Username, u.PasswordHash, u.Role, boolInt(u.Disabled))
	if isDuplicate(err) {
		return 0, fmt.Errorf("create user %q: %w", u.Username, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return res.LastInsertId()
}

// User reads a user by id.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %d: %w", id, err)
	}
	return u, nil
}

// UserByName reads a user by user name.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE username = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %q: %w", name, err)
	}
	return u, nil
}

// Users lists users by id.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers counts users; CountActiveAdmins counts enabled admins.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CountActiveAdmins counts enabled users with the admin role.
func (s *Store) CountActiveAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0").Scan(&n); err != nil {
		return 0, fmt.Errorf("count admins: %w", err)
	}
	return n, nil
}

// UpdateUser rewrites a user's hash, role and disabled flag.
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	now, args := s.nowSQL()
	res, err := s.db.ExecContext(ctx, "UPDATE users SET password_hash = ?, role = ?, disabled = ?, updated_at = "+now+" WHERE id = ?",
		append(append([]any{u.PasswordHash, u.Role, boolInt(u.Disabled)}, args...), u.ID)...)
	if err != nil {
		return fmt.Errorf("update user %q: %w", u.Username, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update user %q: %w", u.Username, ErrNotFound)
	}
	return nil
}

// TouchLogin records a successful login.
func (s *Store) TouchLogin(ctx context.Context, id int64) error {
	now, args := s.nowSQL()
	_, err := s.db.ExecContext(ctx, "UPDATE users SET last_login_at = "+now+" WHERE id = ?", append(args, id)...)
	if err != nil {
		return fmt.Errorf("record login of user %d: %w", id, err)
	}
	return nil
}

// DeleteUser removes a user with its sessions and tokens.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete user %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete user %d: %w", id, ErrNotFound)
		}
		for _, q := range []string{"DELETE FROM sessions WHERE user_id = ?", "DELETE FROM api_tokens WHERE user_id = ?"} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("delete user %d: %w", id, err)
			}
		}
		return nil
	})
}

// Session is a logged-in browser. ID is the SHA-256 (hex) of the cookie.
type Session struct {
	ID         string
	UserID     int64
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO sessions (id, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		se.ID, se.UserID, se.CSRFToken, FormatTime(se.CreatedAt), FormatTime(se.LastSeenAt), FormatTime(se.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session of user %d: %w", se.UserID, err)
	}
	return nil
}

// SessionByID reads a session (expired or not: the caller decides).
func (s *Store) SessionByID(ctx context.Context, id string) (Session, error) {
	var se Session
	var created, seen, expires NullTime
	err := s.db.QueryRowContext(ctx, "SELECT id, user_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id = ?", id).
		Scan(&se.ID, &se.UserID, &se.CSRFToken, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return se, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return se, fmt.Errorf("read session: %w", err)
	}
	se.CreatedAt, se.LastSeenAt, se.ExpiresAt = created.Time, seen.Time, expires.Time
	return se, nil
}

// TouchSession moves a session's last use and expiry.
func (s *Store) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?", FormatTime(seen), FormatTime(expires), id)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends a user's sessions except keep ("" for all).
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, keep string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ? AND id <> ?", userID, keep); err != nil {
		return fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired before t.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ?", FormatTime(t)); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}

// Token is an API token. Hash is the SHA-256 (hex) of the secret, which
// the store never sees.
type Token struct {
	ID         int64
	UserID     int64
	Username   string // joined from users
	Name       string
	Hash       string
	Prefix     string
	Role       string
	ExpiresAt  time.Time
	LastUsedAt time.Time
	CreatedAt  time.Time
}

const tokenColumns = "t.id, t.user_id, COALESCE(u.username, ''), t.name, t.token_hash, t.prefix, t.role, t.expires_at, t.last_used_at, t.created_at"

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var expires, used, created NullTime
	err := sc.Scan(&t.ID, &t.UserID, &t.Username, &t.Name, &t.Hash, &t.Prefix, &t.Role, &expires, &used, &created)
	t.ExpiresAt, t.LastUsedAt, t.CreatedAt = expires.Time, used.Time, created.Time
	return t, err
}

// CreateToken stores a token and returns its id.
func (s *Store) CreateToken(ctx context.Context, t Token) (int64, error) {
	res, err := s.db.ExecContext(ctx, "INSERT INTO api_tokens (user_id, name, token_hash, prefix, role, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
		t.UserID, t.Name, t.Hash, t.Prefix, t.Role, nullTime(t.ExpiresAt))
	if err != nil {
		return 0, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return res.LastInsertId()
}

// TokenByHash finds a token by the hash of its secret.
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// TokenByID reads a token by id.
func (s *Store) TokenByID(ctx context.Context, id int64) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("read token %d: %w", id, err)
	}
	return t, nil
}

// Tokens lists a user's tokens, or everyone's when userID is 0.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	q := "SELECT " + tokenColumns + " FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id"
	var args []any
	if userID != 0 {
		q += " WHERE t.user_id = ?"
		args = append(args, userID)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY t.id", args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchToken records a token's use.
func (s *Store) TouchToken(ctx context.Context, id int64, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", FormatTime(t), id); err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

// DeleteToken revokes a token.
func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM api_tokens WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete token %d: %w", id, ErrNotFound)
	}
	return nil
}
