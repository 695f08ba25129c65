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

	// Flavor is the server that wrote the event; MySQL and MariaDB differ in
	// which columns some optional metadata fields cover.
	Flavor change.Flavor

	// PrimaryKeyPrefix is parallel to PrimaryKey: the prefix length of each
	// key column, 0 for a whole column (PRIMARY_KEY_WITH_PREFIX metadata).
	PrimaryKeyPrefix []int
}

// TableResolver gives the table definition that rows events following a
// TABLE_MAP are decoded with. The schema history implements it: it looks the
// table up at the given binlog position, merges what the TABLE_MAP's optional
// metadata says, and fails with a clear error (table, position) when the
// table is unknown or its column count does not match the event.
//
// The Decoder calls it for the first rows event after a new TABLE_MAP, with
// the decoder's file and that event's offset, and caches the result per
// table id: an identical TABLE_MAP (one per statement) does not call it
// again. QUERY events other than BEGIN/COMMIT/ROLLBACK/XA (where DDL
// arrives) and Decoder.ResetTables drop the cached results. The returned
// table must not be modified afterwards; rows events share it.
type TableResolver interface {
	ResolveTable(tm *TableMap, pos change.Position) (*change.Table, error)
}

// QualifiedName returns "schema.table" for messages.
func (tm *TableMap) QualifiedName() string { return tm.Schema + "." + tm.Table }

// RealType returns column i's type with ENUM and SET told apart from CHAR:
// MySQL writes all three as MYSQL_TYPE_STRING with the real type in Meta.
func (tm *TableMap) RealType(i int) byte {
	t := tm.Types[i]
	if t == TypeString && tm.Meta[i] >= 256 {
		rt := byte(tm.Meta[i] >> 8)
		if rt == TypeEnum || rt == TypeSet {
			return rt
		}
	}
	return t
}

// Charset returns the character set name of column i from the optional
// metadata, or "" when the event did not carry it or the id is unknown.
func (tm *TableMap) Charset(i int) string {
	if i >= len(tm.Collations) || tm.Collations[i] == 0 {
		return ""
	}
	return CharsetName(tm.Collations[i])
}
