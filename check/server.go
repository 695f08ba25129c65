package check

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	_ "github.com/go-sql-driver/mysql" // the driver both sides are reached with

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/source"
)

// server is one side of a check: its pool and what it is.
type server struct {
	role     string // "source" or "target"
	cfg      source.Config
	db       *sql.DB
	serverID uint32
	mariadb  bool
	feat     features
}

// openServer connects to a side. Every session runs in UTC so that both sides
// print TIMESTAMP values alike, and with text-protocol queries, so that every
// value arrives as the server prints it.
func openServer(ctx context.Context, role string, cfg source.Config) (*server, error) {
	db, err := sql.Open("mysql", cfg.DSN("interpolateParams=true", "parseTime=false", "charset=utf8mb4",
		"time_zone='+00:00'", "sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"))
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", role, cfg, err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	s := &server{role: role, cfg: cfg, db: db}
	var version string
	var id uint64
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@server_id").Scan(&version, &id); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s %s: %w", role, cfg, err)
	}
	s.serverID = uint32(id)
	s.mariadb = strings.Contains(strings.ToLower(version), "mariadb")
	s.feat.crc32c = s.try(ctx, "SELECT CRC32C('')") && s.probeRowVariable(ctx)
	s.feat.jsonNormalize = s.try(ctx, "SELECT JSON_NORMALIZE('{}')")
	return s, nil
}

// probeRowVariable confirms that the server evaluates the row hashes'
// operands left to right, so that the user variable the first CRC assigns
// is the one the second reads.
func (s *server) probeRowVariable(ctx context.Context) bool {
	var a, b, c, d string
	err := s.db.QueryRowContext(ctx, "SELECT CAST(CRC32(@sluice_row := CONCAT('a', 1)) << 32 | CRC32C(@sluice_row) AS CHAR), "+
		"CAST(CRC32('a1') << 32 | CRC32C('a1') AS CHAR), "+
		"CAST(CRC32(@sluice_row := CONCAT('b', 2)) * "+mixFactor+" + CRC32C(@sluice_row) AS CHAR), "+
		"CAST(CRC32('b2') * "+mixFactor+" + CRC32C('b2') AS CHAR)").Scan(&a, &b, &c, &d)
	return err == nil && a == b && c == d
}

func (s *server) try(ctx context.Context, q string) bool {
	var v sql.NullString
	return s.db.QueryRowContext(ctx, q).Scan(&v) == nil
}

func (s *server) String() string { return s.role + " " + s.cfg.String() }

func (s *server) close() { s.db.Close() }

// snapshot is a read view of the source and the binlog position it
// reflects: every change before the position is visible in it and none
// after.
type snapshot struct {
	conn *sql.Conn
	pos  change.Position
}

// beginSnapshot opens a consistent snapshot on a connection of its own.
// MariaDB tells the position of the snapshot itself (binlog_snapshot_file
// and _position); elsewhere the binlog end read just after the snapshot
// started is used, which is at or after it, so waiting for it is safe.
func (s *server) beginSnapshot(ctx context.Context) (*snapshot, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", s, err)
	}
	sn := &snapshot{conn: conn}
	if _, err := conn.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: set isolation: %w", s, err)
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: start consistent snapshot: %w", s, err)
	}
	if s.mariadb {
		rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
		if err != nil {
			sn.close()
			return nil, fmt.Errorf("%s: read snapshot position: %w", s, err)
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				sn.close()
				return nil, fmt.Errorf("%s: read snapshot position: %w", s, err)
			}
			switch strings.ToLower(k) {
			case "binlog_snapshot_file":
				sn.pos.File = v
			case "binlog_snapshot_position":
				sn.pos.Offset, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		rows.Close()
		return sn, nil
	}
	m, err := queryMap(ctx, conn, "SHOW MASTER STATUS")
	if err != nil {
		sn.close()
		return nil, fmt.Errorf("%s: read binlog position: %w", s, err)
	}
	sn.pos.File = m["File"]
	sn.pos.Offset, _ = strconv.ParseUint(m["Position"], 10, 64)
	return sn, nil
}

func (sn *snapshot) close() {
	_, _ = sn.conn.ExecContext(context.Background(), "ROLLBACK")
	sn.conn.Close()
}

// queryer is a pool, a connection or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryMap runs a query returning at most one row, as column name to text;
// nil when there is no row.
func queryMap(ctx context.Context, q queryer, query string, args ...any) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		m[c] = vals[i].String
	}
	return m, rows.Err()
}
