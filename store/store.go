// Package store owns sluice's meta store: the tables that hold jobs, runs,
// nodes and data sources, on an embedded SQLite file or on a MySQL server
// shared by several nodes, with versioned migrations applied on open. It owns
// no policy: what a row means for scheduling is the schedule package's.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // the embedded meta store
)

// Dialect names the SQL flavour of a meta store.
type Dialect string

const (
	// SQLite is the embedded single-node meta store.
	SQLite Dialect = "sqlite"
	// MySQL is a MySQL or MariaDB server shared by several nodes.
	MySQL Dialect = "mysql"
)

// Store is an open meta store. Its methods are safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect Dialect
	// where names the store in errors and logs without its password.
	where  string
	secret *Secret
}

// Options tune Open.
type Options struct {
	// Secret seals data source passwords. Without it data sources can be
	// listed but no password can be stored or read.
	Secret *Secret
	// NoMigrate opens the store without applying migrations (tools that
	// only read).
	NoMigrate bool
}

// Open opens the meta store named by dsn and applies pending migrations.
//
// dsn is one of:
//
//	sqlite:///abs/path/sluice.db   sqlite:relative/path.db   path/to/file.db
//	mysql://user:password@host:port/database?param=value
//
// A MySQL database that does not exist yet is created.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	dialect, driverDSN, where, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if dialect == SQLite {
		// A new data directory is made, as the file in it is.
		if err := os.MkdirAll(filepath.Dir(sqlitePath(dsn)), 0o700); err != nil {
			return nil, fmt.Errorf("open meta store %s: %w", where, err)
		}
	}
	db, err := sql.Open(string(dialect), driverDSN)
	if err != nil {
		return nil, fmt.Errorf("open meta store %s: %w", where, err)
	}
	s := &Store{db: db, dialect: dialect, where: where, secret: opts.Secret}
	switch dialect {
	case SQLite:
		// One writer at a time is all SQLite allows; a small pool lets
		// readers proceed in WAL mode while a batch is written.
		db.SetMaxOpenConns(4)
	case MySQL:
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(16)
		db.SetConnMaxLifetime(30 * time.Minute)
	}
	if err := s.ping(ctx, dsn); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.NoMigrate {
		if err := s.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) ping(ctx context.Context, dsn string) error {
	err := s.db.PingContext(ctx)
	var me *mysql.MySQLError
	if s.dialect == MySQL && errors.As(err, &me) && me.Number == 1049 {
		// Unknown database: create it, as SQLite creates its file.
		if cerr := createMySQLDatabase(ctx, dsn); cerr != nil {
			return cerr
		}
		err = s.db.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("connect to meta store %s: %w", s.where, err)
	}
	return nil
}

func createMySQLDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parse meta store dsn: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/"
	_, driverDSN, where, err := parseDSN(u.String())
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", driverDSN)
	if err != nil {
		return fmt.Errorf("open meta store %s: %w", where, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+QuoteIdent(name)+" DEFAULT CHARACTER SET utf8mb4"); err != nil {
		return fmt.Errorf("create meta store database %s on %s: %w", name, where, err)
	}
	return nil
}

// QuoteIdent quotes a MySQL identifier with backticks.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// parseDSN turns a sluice meta store DSN into a driver name and DSN, and a
// description safe to log.
func parseDSN(dsn string) (Dialect, string, string, error) {
	switch {
	case strings.HasPrefix(dsn, "mysql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", "", fmt.Errorf("parse meta store dsn: %w", err)
		}
		cfg := mysql.NewConfig()
		cfg.Net = "tcp"
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		cfg.Addr = host
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		if u.Path == "" {
			cfg.DBName = "sluice"
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		cfg.InterpolateParams = true
		cfg.MultiStatements = true
		// Affected rows count matched rows, so that a conditional update that
		// changes nothing still tells whether its row was there.
		cfg.ClientFoundRows = true
		cfg.Timeout = 5 * time.Second
		// Times are written and compared in UTC; CURRENT_TIMESTAMP in column
		// defaults follows the session time zone.
		cfg.Params = map[string]string{"time_zone": "'+00:00'"}
		for k, vs := range u.Query() {
			if len(vs) > 0 {
				cfg.Params[k] = vs[len(vs)-1]
			}
		}
		where := fmt.Sprintf("mysql://%s@%s/%s", cfg.User, cfg.Addr, cfg.DBName)
		return MySQL, cfg.FormatDSN(), where, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		p := sqlitePath(dsn)
		if p == "" {
			return "", "", "", errors.New("meta store dsn sqlite: names no file")
		}
		return SQLite, sqliteDSN(p), "sqlite:" + p, nil
	case strings.HasSuffix(dsn, ".db") || strings.HasSuffix(dsn, ".sqlite"):
		return SQLite, sqliteDSN(dsn), "sqlite:" + dsn, nil
	}
	return "", "", "", fmt.Errorf("meta store dsn %q: want mysql://user:password@host:port/db or sqlite:path", redact(dsn))
}

// sqlitePath is the file a SQLite DSN names.
func sqlitePath(dsn string) string {
	return strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
}

func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + filepath.Clean(path) + "?" + q.Encode()
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsn
}

// Dialect reports the store's SQL flavour.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB is the connection pool, for packages that keep their own tables in the
// meta store (their migrations live in store/migrations).
func (s *Store) DB() *sql.DB { return s.db }

// Secret is the key that seals data source passwords, or nil.
func (s *Store) Secret() *Secret { return s.secret }

// String names the store without its password.
func (s *Store) String() string { return s.where }

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Now is the meta store's clock: UTC_TIMESTAMP(6) on MySQL, so that nodes
// with skewed clocks agree; the local clock on SQLite, which only one node
// uses.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if s.dialect == SQLite {
		return time.Now().UTC(), nil
	}
	var t time.Time
	if err := s.db.QueryRowContext(ctx, "SELECT UTC_TIMESTAMP(6)").Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("read the clock of meta store %s: %w", s.where, err)
	}
	return t.UTC(), nil
}

// nowSQL is the SQL expression for the store's current time, and the
// argument it binds (SQLite takes the local clock as a bound value so that
// the text format matches what Go writes).
func (s *Store) nowSQL() (string, []any) {
	if s.dialect == MySQL {
		return "UTC_TIMESTAMP(6)", nil
	}
	return "?", []any{FormatTime(time.Now())}
}

// plusSQL is nowSQL plus d.
func (s *Store) plusSQL(d time.Duration) (string, []any) {
	if s.dialect == MySQL {
		return "UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND", []any{d.Microseconds()}
	}
	return "?", []any{FormatTime(time.Now().Add(d))}
}

// onConflictDoNothing is the statement suffix that skips rows
// colliding on a unique key, without swallowing other errors.
func (s *Store) onConflictDoNothing(conflictCols string) string {
	if s.dialect == MySQL {
		// Not "id = id": assigning the AUTO_INCREMENT column in the update
		// branch moves the statement's next id past the duplicate's, so
		// later rows of a multi-row INSERT can be given ids other rows
		// hold, hit the primary key and "update" those rows instead of
		// being inserted, without an error (lost claims of fires).
		col, _, _ := strings.Cut(conflictCols, ",")
		col = "`" + strings.TrimSpace(col) + "`"
		return " ON DUPLICATE KEY UPDATE " + col + " = " + col
	}
	return " ON CONFLICT(" + conflictCols + ") DO NOTHING"
}
