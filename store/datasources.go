package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DataSource is a named connection to a MySQL server. Password is the clear
// password: it is sealed before it is written and opened after it is read,
// and never logged (String omits it).
type DataSource struct {
	ID        int64
	Name      string
	Kind      string // "mysql"
	Host      string
	Port      int
	User      string
	Password  string
	Database  string
	Params    string // extra driver parameters as a URL query, e.g. "tls=true"
	CreatedAt time.Time
	UpdatedAt time.Time
}

// String describes the data source without its password.
func (d DataSource) String() string {
	return fmt.Sprintf("%s (%s://%s@%s/%s)", d.Name, d.Kind, d.User, net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), d.Database)
}

// MySQLDSN is a go-sql-driver/mysql DSN for the data source.
func (d DataSource) MySQLDSN() (string, error) {
	q, err := url.ParseQuery(d.Params)
	if err != nil {
		return "", fmt.Errorf("data source %s: params: %w", d.Name, err)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = d.User, d.Password
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	cfg.DBName = d.Database
	cfg.Timeout = 10 * time.Second
	cfg.Params = map[string]string{}
	for k, vs := range q {
		if len(vs) > 0 {
			cfg.Params[k] = vs[len(vs)-1]
		}
	}
	return cfg.FormatDSN(), nil
}

// ErrNotFound is returned when a named row does not exist.
var ErrNotFound = errors.New("not found")

// errNoSecret explains why a password cannot be stored or read.
var errNoSecret = errors.New("no secret key configured: start the server with --secret-key-file or set " + SecretKeyEnv)

// PutDataSource creates the data source or replaces the one with its name.
func (s *Store) PutDataSource(ctx context.Context, d DataSource) (int64, error) {
	if d.Name == "" {
		return 0, errors.New("put data source: name is empty")
	}
	if d.Kind == "" {
		d.Kind = "mysql"
	}
	if d.Port == 0 {
		d.Port = 3306
	}
	var sealed sql.NullString
	if d.Password != "" {
		if s.secret == nil {
			return 0, fmt.Errorf("put data source %s: %w", d.Name, errNoSecret)
		}
		v, err := s.secret.Seal(d.Password, "data_source:"+d.Name)
		if err != nil {
			return 0, fmt.Errorf("put data source %s: %w", d.Name, err)
		}
		sealed = sql.NullString{String: v, Valid: true}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE data_sources SET kind = ?, host = ?, port = ?, username = ?, password_enc = ?, database_name = ?, params = ? WHERE name = ?`,
		d.Kind, d.Host, d.Port, d.User, sealed, d.Database, d.Params, d.Name)
	if err != nil {
		return 0, fmt.Errorf("put data source %s: %w", d.Name, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		got, err := s.DataSource(ctx, d.Name)
		return got.ID, err
	}
	res, err = s.db.ExecContext(ctx, `INSERT INTO data_sources (name, kind, host, port, username, password_enc, database_name, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Name, d.Kind, d.Host, d.Port, d.User, sealed, d.Database, d.Params)
	if err != nil {
		return 0, fmt.Errorf("put data source %s: %w", d.Name, err)
	}
	return res.LastInsertId()
}

// DataSource reads a data source by name and opens its password.
func (s *Store) DataSource(ctx context.Context, name string) (DataSource, error) {
	var d DataSource
	var sealed sql.NullString
	var created, updated NullTime
	err := s.db.QueryRowContext(ctx, `SELECT id, name, kind, host, port, username, password_enc, database_name, params, created_at, updated_at FROM data_sources WHERE name = ?`, name).
		Scan(&d.ID, &d.Name, &d.Kind, &d.Host, &d.Port, &d.User, &sealed, &d.Database, &d.Params, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("data source %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("read data source %q: %w", name, err)
	}
	d.CreatedAt, d.UpdatedAt = created.Time, updated.Time
	if sealed.Valid && sealed.String != "" {
		if s.secret == nil {
			return d, fmt.Errorf("read data source %q password: %w", name, errNoSecret)
		}
		pw, err := s.secret.Open(sealed.String, "data_source:"+d.Name)
		if err != nil {
			return d, fmt.Errorf("read data source %q password: %w", name, err)
		}
		d.Password = pw
	}
	return d, nil
}

// DataSources lists data sources by name, without passwords.
func (s *Store) DataSources(ctx context.Context) ([]DataSource, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, kind, host, port, username, database_name, params, created_at, updated_at FROM data_sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	defer rows.Close()
	var out []DataSource
	for rows.Next() {
		var d DataSource
		var created, updated NullTime
		if err := rows.Scan(&d.ID, &d.Name, &d.Kind, &d.Host, &d.Port, &d.User, &d.Database, &d.Params, &created, &updated); err != nil {
			return nil, fmt.Errorf("list data sources: %w", err)
		}
		d.CreatedAt, d.UpdatedAt = created.Time, updated.Time
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeleteDataSource removes a data source by name.
func (s *Store) DeleteDataSource(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM data_sources WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete data source %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete data source %q: %w", name, ErrNotFound)
	}
	return nil
}
