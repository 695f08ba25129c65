package binlog

import "github.com/sluice-db/sluice/change"

// TableMap is a decoded TABLE_MAP event: which table the following rows
// events write, with its column types as the binlog encodes them. The
// optional metadata fields are filled only when the server wrote them
// (binlog_row_metadata=MINIMAL gives signedness and charsets, FULL adds
// names, ENUM/SET members, the primary key and visibility).
type TableMap struct {
	TableID uint64
	Flags   uint16
	Schema  string
	Table   string
	// Types holds each column's binlog type code (MYSQL_TYPE_*), Meta its
	// type metadata, as the event carries them. For MYSQL_TYPE_STRING the
	// real type (ENUM, SET, STRING) is in the high byte of Meta.
	Types    []byte
	Meta     []uint16
	Nullable []bool

	// Optional metadata; nil when the event did not carry it.
	Unsigned    []bool     // per column; meaningful for numeric columns
	Collations  []uint16   // per column collation id; 0 where not a string column or unknown
	Names       []string   // column names
	EnumValues  [][]string // per column; nil for non-ENUM columns
	SetValues   [][]string // per column; nil for non-SET columns
	GeoTypes    []uint32   // per column; geometry subtype for GEOMETRY columns
	PrimaryKey  []int      // column indexes of the primary key
	Visible     []bool     // per column; false for invisible columns
	VectorDims  []uint32   // per column, MySQL 9 VECTOR dimensions
	HasMetadata bool       // any optional metadata was present
}

// TableResolver gives the table definition that rows events following a
// TABLE_MAP are decoded with. The schema history implements it: it looks the
// table up at the given binlog position, merges what the TABLE_MAP's optional
// metadata says, and fails with a clear error (table, position) when the
// table is unknown or its column count does not match the event.
type TableResolver interface {
	ResolveTable(tm *TableMap, pos change.Position) (*change.Table, error)
}
