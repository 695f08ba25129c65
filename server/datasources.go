package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // data source connections

	"github.com/sluice-db/sluice/mysql/source"
	"github.com/sluice-db/sluice/store"
)

// connectTimeout bounds a connection test and the other short connections
// the API makes to data sources.
const connectTimeout = 5 * time.Second

type dataSourceJSON struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"`
	Host        string    `json:"host"`
	Port        int       `json:"port"`
	User        string    `json:"user"`
	Database    string    `json:"database"`
	Params      string    `json:"params"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toDataSourceJSON(d store.DataSource, hasPassword bool) dataSourceJSON {
	return dataSourceJSON{Name: d.Name, Kind: d.Kind, Host: d.Host, Port: d.Port, User: d.User, Database: d.Database,
		Params: d.Params, HasPassword: hasPassword, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
}

type dataSourceInput struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"`
	Host     string  `json:"host"`
	Port     int     `json:"port"`
	User     string  `json:"user"`
	Password *string `json:"password"`
	Database string  `json:"database"`
	Params   string  `json:"params"`
}

// toStore validates the input and makes the store's data source (with
// the password, when one was sent).
func (in dataSourceInput) toStore() (store.DataSource, error) {
	d := store.DataSource{Name: in.Name, Kind: in.Kind, Host: in.Host, Port: in.Port, User: in.User, Database: in.Database, Params: in.Params}
	if err := checkName("name", in.Name); err != nil {
		return d, err
	}
	if d.Kind == "" {
		d.Kind = "mysql"
	}
	if d.Kind != "mysql" {
		return d, invalid("kind", "kind %q: only mysql (MySQL and MariaDB) is supported", in.Kind)
	}
	if strings.TrimSpace(d.Host) == "" || strings.ContainsAny(d.Host, "/?#@ ") {
		return d, invalid("host", "host %q: give a host name or IP address, without a scheme or port", in.Host)
	}
	if d.Port == 0 {
		d.Port = 3306
	}
	if d.Port < 1 || d.Port > 65535 {
		return d, invalid("port", "port %d must be from 1 to 65535", in.Port)
	}
	if in.Password != nil {
		d.Password = *in.Password
	}
	if _, err := dataSourceConfig(d); err != nil {
		return d, invalid("params", "%v", err)
	}
	return d, nil
}

// dataSourceConfig turns a data source into connection settings,
// validating its parameters as a data source URL's.
func dataSourceConfig(d store.DataSource) (source.Config, error) {
	q, err := url.ParseQuery(d.Params)
	if err != nil {
		return source.Config{}, fmt.Errorf("params %q: not a URL query (e.g. tls=true&timeout=5s): %w", d.Params, err)
	}
	u := url.URL{Scheme: "mysql", Host: net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), RawQuery: q.Encode()}
	if d.Database != "" {
		u.Path = "/" + d.Database
	}
	if d.User != "" {
		u.User = url.User(d.User)
	}
	c, err := source.Parse(u.String())
	if err != nil {
		return c, fmt.Errorf("data source %s: %w", d.Name, err)
	}
	c.Password = d.Password
	return c, nil
}

func (s *Server) listDataSources(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ds, err := s.Store.DataSources(r.Context())
	if err != nil {
		return err
	}
	withPW, err := s.dataSourcesWithPassword(r.Context())
	if err != nil {
		return err
	}
	out := make([]dataSourceJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, toDataSourceJSON(d, withPW[d.Name]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data_sources": out})
	return nil
}

// dataSourcesWithPassword names the data sources that have a stored
// password, without opening any.
func (s *Server) dataSourcesWithPassword(ctx context.Context) (map[string]bool, error) {
	rows, err := s.Store.DB().QueryContext(ctx, "SELECT name FROM data_sources WHERE password_enc IS NOT NULL AND password_enc <> ''")
	if err != nil {
		return nil, fmt.Errorf("list data sources: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list data sources: %w", err)
		}
		out[n] = true
	}
	return out, rows.Err()
}

func (s *Server) getDataSource(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := s.Store.DataSource(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDataSourceJSON(d, d.Password != ""))
	return nil
}

func (s *Server) createDataSource(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in dataSourceInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	d, err := in.toStore()
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.Store.DataSource(ctx, d.Name); err == nil {
		return errorf(http.StatusConflict, codeAlreadyExists, "data source %q already exists; edit it with PUT /api/v1/data-sources/%s", d.Name, d.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := s.Store.PutDataSource(ctx, d); err != nil {
		return err
	}
	s.log.Info("data source created", "data_source", d.String())
	return s.answerDataSource(w, r, d.Name, http.StatusCreated)
}

func (s *Server) answerDataSource(w http.ResponseWriter, r *http.Request, name string, status int) error {
	d, err := s.Store.DataSource(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, status, toDataSourceJSON(d, d.Password != ""))
	return nil
}

func (s *Server) updateDataSource(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in dataSourceInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if in.Name == "" {
		in.Name = name
	}
	if in.Name != name {
		return invalid("name", "name %q differs from the path's %q: a data source cannot be renamed", in.Name, name)
	}
	d, err := in.toStore()
	if err != nil {
		return err
	}
	ctx := r.Context()
	old, err := s.Store.DataSource(ctx, name)
	if err != nil {
		return err
	}
	if in.Password == nil {
		d.Password = old.Password
	}
	if _, err := s.Store.PutDataSource(ctx, d); err != nil {
		return err
	}
	s.log.Info("data source updated", "data_source", d.String())
	return s.answerDataSource(w, r, name, http.StatusOK)
}

func (s *Server) deleteDataSource(w http.ResponseWriter, r *http.Request, _ *principal) error {
	name := r.PathValue("name")
	ctx := r.Context()
	users, err := s.Store.PipelinesUsing(ctx, name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return conflict("data source %q is used by pipelines %s; delete or change them first", name, strings.Join(users, ", "))
	}
	if err := s.Store.DeleteDataSource(ctx, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type connectionTest struct {
	OK             bool     `json:"ok"`
	Version        string   `json:"version"`
	ServerID       int64    `json:"server_id"`
	BinlogFormat   string   `json:"binlog_format"`
	BinlogRowImage string   `json:"binlog_row_image"`
	GTIDMode       string   `json:"gtid_mode"`
	LogBin         bool     `json:"log_bin"`
	LatencyMS      float64  `json:"latency_ms"`
	Warnings       []string `json:"warnings"`
}

func (s *Server) testDataSource(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := s.Store.DataSource(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	res, err := testConnection(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) testDataSourceInput(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in dataSourceInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	d, err := in.toStore()
	if err != nil {
		return err
	}
	if in.Password == nil {
		// An edit form tests without retyping the stored password.
		if old, err := s.Store.DataSource(r.Context(), d.Name); err == nil {
			d.Password = old.Password
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	res, err := testConnection(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// openDataSource connects to a data source and checks the connection.
func openDataSource(ctx context.Context, d store.DataSource) (*sql.DB, error) {
	cfg, err := dataSourceConfig(d)
	if err != nil {
		return nil, invalid("params", "%v", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = connectTimeout
	}
	db, err := sql.Open("mysql", cfg.DSN("readTimeout=30s"))
	if err != nil {
		return nil, connectionFailed("data source %q: %v", d.Name, err)
	}
	db.SetMaxOpenConns(2)
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, connectionFailed("cannot connect to data source %q at %s as %q: %v; check the host, port, user and password, and that the server accepts connections from this node",
			d.Name, cfg.Addr(), d.User, err)
	}
	return db, nil
}

// testConnection connects for real and reads what a pipeline needs to know
// about the server.
func testConnection(ctx context.Context, d store.DataSource) (connectionTest, error) {
	start := time.Now()
	db, err := openDataSource(ctx, d)
	if err != nil {
		return connectionTest{}, err
	}
	defer db.Close()
	res := connectionTest{OK: true, LatencyMS: float64(time.Since(start).Microseconds()) / 1000, Warnings: []string{}}
	qctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := db.QueryRowContext(qctx, "SELECT VERSION(), @@server_id").Scan(&res.Version, &res.ServerID); err != nil {
		return res, connectionFailed("data source %q: connected, but SELECT VERSION() failed: %v", d.Name, err)
	}
	rows, err := db.QueryContext(qctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image', 'gtid_mode')")
	if err != nil {
		return res, connectionFailed("data source %q: connected, but reading server variables failed: %v", d.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return res, connectionFailed("data source %q: read server variables: %v", d.Name, err)
		}
		switch strings.ToLower(k) {
		case "log_bin":
			res.LogBin = strings.EqualFold(v, "ON") || v == "1"
		case "binlog_format":
			res.BinlogFormat = v
		case "binlog_row_image":
			res.BinlogRowImage = v
		case "gtid_mode":
			res.GTIDMode = v
		}
	}
	if !res.LogBin {
		res.Warnings = append(res.Warnings, "the binary log is off (log_bin=OFF): this server can be a pipeline target but not a source")
	} else if !strings.EqualFold(res.BinlogFormat, "ROW") {
		res.Warnings = append(res.Warnings, fmt.Sprintf("binlog_format is %s, not ROW: this server cannot be a pipeline source until it is ROW", res.BinlogFormat))
	}
	if res.LogBin && res.BinlogRowImage != "" && !strings.EqualFold(res.BinlogRowImage, "FULL") {
		res.Warnings = append(res.Warnings, fmt.Sprintf("binlog_row_image is %s: FULL is recommended for a pipeline source", res.BinlogRowImage))
	}
	return res, rows.Err()
}

type tableNameJSON struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
}

// systemSchemas are never offered for replication.
const systemSchemasSQL = "('mysql', 'information_schema', 'performance_schema', 'sys')"

// sourceTables lists a data source's base tables.
func sourceTables(ctx context.Context, d store.DataSource) ([]tableNameJSON, error) {
	db, err := openDataSource(ctx, d)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN "+systemSchemasSQL+" ORDER BY TABLE_SCHEMA, TABLE_NAME LIMIT 100000")
	if err != nil {
		return nil, connectionFailed("data source %q: list tables: %v", d.Name, err)
	}
	defer rows.Close()
	out := []tableNameJSON{}
	for rows.Next() {
		var t tableNameJSON
		if err := rows.Scan(&t.Schema, &t.Table, &t.Rows); err != nil {
			return nil, fmt.Errorf("data source %q: list tables: %w", d.Name, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Server) listSourceTables(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := s.Store.DataSource(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	ts, err := sourceTables(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": ts})
	return nil
}
