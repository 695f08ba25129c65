package schema

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver for SQLiteStore
)

// sqlStore is a Store over database/sql; SQLite and MySQL differ only in
// the table's DDL.
type sqlStore struct {
	db    *sql.DB
	table string // quoted, possibly qualified
}

const timeLayout = "2006-01-02 15:04:05.000000"

// SQLiteStore keeps schema histories in a SQLite file (sluice tail
// --schema-history FILE).
type SQLiteStore struct{ sqlStore }

// OpenSQLiteStore opens (creating when missing) a SQLite file as a store.
func OpenSQLiteStore(ctx context.Context, path string) (*SQLiteStore, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, fmt.Errorf("open schema history file %s: %w", path, err)
	}
	// One writer at a time is all SQLite offers; one connection avoids
	// "database is locked" between our own connections.
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_history (
		history     TEXT    NOT NULL,
		seq         INTEGER NOT NULL,
		kind        TEXT    NOT NULL,
		binlog_file TEXT    NOT NULL DEFAULT '',
		binlog_pos  INTEGER NOT NULL DEFAULT 0,
		gtid        TEXT    NOT NULL DEFAULT '',
		schema_name TEXT    NOT NULL DEFAULT '',
		ddl         TEXT    NOT NULL DEFAULT '',
		data        TEXT    NOT NULL,
		created_at  TEXT    NOT NULL,
		PRIMARY KEY (history, seq)
	)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema_history in %s: %w", path, err)
	}
	return &SQLiteStore{sqlStore{db: db, table: "schema_history"}}, nil
}

// Close closes the file.
func (s *SQLiteStore) Close() error { return s.db.Close() }

// MySQLStore keeps schema histories in a table of a MySQL database (for
// sync: the target's sluice schema), keyed by history name.
type MySQLStore struct{ sqlStore }

// NewMySQLStore uses table in database on db, creating both when missing.
// The caller owns db.
func NewMySQLStore(ctx context.Context, db *sql.DB, database, table string) (*MySQLStore, error) {
	if database == "" || table == "" {
		return nil, fmt.Errorf("schema history store: database and table names are required")
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(database)); err != nil {
		return nil, fmt.Errorf("create database %s for the schema history: %w", database, err)
	}
	qt := quoteIdent(database) + "." + quoteIdent(table)
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+qt+` (
		history     VARCHAR(191)    NOT NULL,
		seq         BIGINT UNSIGNED NOT NULL,
		kind        VARCHAR(16)     NOT NULL,
		binlog_file VARCHAR(255)    NOT NULL DEFAULT '',
		binlog_pos  BIGINT UNSIGNED NOT NULL DEFAULT 0,
		gtid        LONGTEXT        NOT NULL,
		schema_name VARCHAR(64)     NOT NULL DEFAULT '',
		ddl         LONGTEXT        NOT NULL,
		data        LONGTEXT        NOT NULL,
		created_at  DATETIME(6)     NOT NULL,
		PRIMARY KEY (history, seq)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
	if err != nil {
		return nil, fmt.Errorf("create schema history table %s.%s: %w", database, table, err)
	}
	return &MySQLStore{sqlStore{db: db, table: qt}}, nil
}

func (s *sqlStore) Append(ctx context.Context, history string, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO "+s.table+
		" (history, seq, kind, binlog_file, binlog_pos, gtid, schema_name, ddl, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer stmt.Close()
	for _, r := range recs {
		t := r.Time
		if t.IsZero() {
			t = time.Now()
		}
		if _, err := stmt.ExecContext(ctx, history, r.Seq, string(r.Kind), r.Pos.File, r.Pos.Offset, r.Pos.GTID,
			r.Schema, r.DDL, string(r.Data), t.UTC().Format(timeLayout)); err != nil {
			return fmt.Errorf("insert version %d at %s: %w", r.Seq, r.Pos, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *sqlStore) Snapshots(ctx context.Context, history string) ([]SnapshotInfo, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT seq, binlog_file, binlog_pos, gtid FROM "+s.table+
		" WHERE history = ? AND kind = ? ORDER BY seq", history, string(KindSnapshot))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SnapshotInfo
	for rows.Next() {
		var si SnapshotInfo
		if err := rows.Scan(&si.Seq, &si.Pos.File, &si.Pos.Offset, &si.Pos.GTID); err != nil {
			return nil, err
		}
		out = append(out, si)
	}
	return out, rows.Err()
}

func (s *sqlStore) Records(ctx context.Context, history string, from uint64) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT seq, kind, binlog_file, binlog_pos, gtid, schema_name, ddl, data, created_at FROM "+s.table+
		" WHERE history = ? AND seq >= ? ORDER BY seq", history, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var kind, data, created string
		if err := rows.Scan(&r.Seq, &kind, &r.Pos.File, &r.Pos.Offset, &r.Pos.GTID, &r.Schema, &r.DDL, &data, &created); err != nil {
			return nil, err
		}
		r.Kind, r.Data = RecordKind(kind), []byte(data)
		if t, err := time.Parse(timeLayout, created); err == nil {
			r.Time = t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqlStore) Truncate(ctx context.Context, history string, after uint64) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM "+s.table+" WHERE history = ? AND seq > ?", history, after)
	return err
}

func (s *sqlStore) Compact(ctx context.Context, history string, before uint64) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM "+s.table+" WHERE history = ? AND seq < ?", history, before)
	return err
}

var (
	_ Store = (*SQLiteStore)(nil)
	_ Store = (*MySQLStore)(nil)
)
