package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFiles are the schema changes, applied in version order. A
// migration is a file migrations/NNNN_name.sql for both dialects, or a pair
// NNNN_name.mysql.sql and NNNN_name.sqlite.sql where their SQL differs. To
// add a table, add a file with the next free number: nothing else changes.
// A file may hold several statements; write them so that running one again
// is harmless (CREATE TABLE IF NOT EXISTS), because MySQL commits DDL as it
// goes and a migration cut short is run again whole.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change for the store's dialect.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d+)_([a-z0-9_]+?)(\.mysql|\.sqlite)?\.sql$`)

// Migrations lists the migrations for a dialect in version order.
func Migrations(d Dialect) ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	type found struct {
		name     string
		generic  string
		specific string
		other    bool
	}
	byVersion := map[int]*found{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_name[.mysql|.sqlite].sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		f := byVersion[v]
		if f == nil {
			f = &found{name: m[2]}
			byVersion[v] = f
		}
		if f.name != m[2] {
			return nil, fmt.Errorf("migration version %d has two names: %s and %s", v, f.name, m[2])
		}
		switch strings.TrimPrefix(m[3], ".") {
		case "":
			f.generic = string(b)
		case string(d):
			f.specific = string(b)
		default:
			f.other = true
		}
	}
	var out []Migration
	for v, f := range byVersion {
		text := f.specific
		if text == "" {
			text = f.generic
		}
		if text == "" {
			return nil, fmt.Errorf("migration %04d_%s has no file for %s", v, f.name, d)
		}
		out = append(out, Migration{Version: v, Name: f.name, SQL: text})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INT          NOT NULL PRIMARY KEY,
  name       VARCHAR(191) NOT NULL,
  applied_at VARCHAR(32)  NOT NULL
)`

// Migrate applies the migrations the store has not seen yet. Several nodes
// may start at once: on MySQL a named lock lets one apply them while the
// others wait; on SQLite the write transaction does.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations(s.dialect)
	if err != nil {
		return err
	}
	if s.dialect == SQLite {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate meta store %s: begin: %w", s.where, err)
		}
		defer tx.Rollback()
		if err := applyMigrations(ctx, tx, ms); err != nil {
			return fmt.Errorf("migrate meta store %s: %w", s.where, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate meta store %s: commit: %w", s.where, err)
		}
		return nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate meta store %s: %w", s.where, err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('sluice.migrate', 120)").Scan(&got); err != nil {
		return fmt.Errorf("migrate meta store %s: take the migration lock: %w", s.where, err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("migrate meta store %s: another node held the migration lock for 120s", s.where)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK('sluice.migrate')")
	if err := applyMigrations(ctx, conn, ms); err != nil {
		return fmt.Errorf("migrate meta store %s: %w", s.where, err)
	}
	return nil
}

type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func applyMigrations(ctx context.Context, db execQuerier, ms []Migration) error {
	if _, err := db.ExecContext(ctx, createSchemaMigrations); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if _, err := db.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, FormatTime(time.Now())); err != nil {
			return fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}
