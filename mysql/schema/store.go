package schema

import (
	"context"
	"time"

	"github.com/sluice-db/sluice/change"
)

// RecordKind says what a stored record holds.
type RecordKind string

const (
	// KindSnapshot is the whole catalog at a position (bootstrap, and every
	// Options.SnapshotEvery versions).
	KindSnapshot RecordKind = "snapshot"
	// KindDDL is what one DDL statement changed.
	KindDDL RecordKind = "ddl"
	// KindTableMap is a definition taken from a TABLE_MAP event's metadata:
	// a table the history did not know, or column names that disagreed.
	KindTableMap RecordKind = "tablemap"
	// KindRefresh is a definition read from the live server (SHOW CREATE
	// TABLE), or a table marked stale after a DDL the parser rejected.
	KindRefresh RecordKind = "refresh"
)

// Record is one stored version of a history. Seq orders a history's records
// and never repeats; Data is JSON (the changed databases and table
// definitions, or the whole catalog for a snapshot).
type Record struct {
	Seq    uint64
	Kind   RecordKind
	Pos    change.Position
	Schema string // the QUERY event's default database, for DDL
	DDL    string // the statement, or a note saying where the record came from
	Data   []byte
	Time   time.Time
}

// SnapshotInfo locates a stored snapshot without its data.
type SnapshotInfo struct {
	Seq uint64
	Pos change.Position
}

// Store persists schema histories, several per store, told apart by name.
// SQLiteStore and MySQLStore implement it.
type Store interface {
	// Append adds records, in Seq order, atomically.
	Append(ctx context.Context, history string, recs []Record) error
	// Snapshots lists the history's snapshots in Seq order.
	Snapshots(ctx context.Context, history string) ([]SnapshotInfo, error)
	// Records returns the history's records with Seq >= from, in Seq order.
	Records(ctx context.Context, history string, from uint64) ([]Record, error)
	// Truncate deletes the records with Seq > after.
	Truncate(ctx context.Context, history string, after uint64) error
	// Compact deletes the records with Seq < before.
	Compact(ctx context.Context, history string, before uint64) error
}
