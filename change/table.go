package change

import (
	"fmt"
	"strings"
)

// ColumnType is the SQL type family of a column, independent of how a binlog
// encodes it (DATETIME and DATETIME2 are both TypeDateTime).
type ColumnType uint8

const (
	TypeUnknown ColumnType = iota
	TypeTinyInt
	TypeSmallInt
	TypeMediumInt
	TypeInt
	TypeBigInt
	TypeDecimal
	TypeFloat
	TypeDouble
	TypeBit
	TypeYear
	TypeDate
	TypeTime
	TypeDateTime
	TypeTimestamp
	TypeChar
	TypeVarChar
	TypeBinary
	TypeVarBinary
	TypeText // TINYTEXT .. LONGTEXT
	TypeBlob // TINYBLOB .. LONGBLOB
	TypeEnum
	TypeSet
	TypeJSON
	TypeGeometry
	TypeVector
)

var columnTypeNames = [...]string{
	TypeUnknown:   "unknown",
	TypeTinyInt:   "tinyint",
	TypeSmallInt:  "smallint",
	TypeMediumInt: "mediumint",
	TypeInt:       "int",
	TypeBigInt:    "bigint",
	TypeDecimal:   "decimal",
	TypeFloat:     "float",
	TypeDouble:    "double",
	TypeBit:       "bit",
	TypeYear:      "year",
	TypeDate:      "date",
	TypeTime:      "time",
	TypeDateTime:  "datetime",
	TypeTimestamp: "timestamp",
	TypeChar:      "char",
	TypeVarChar:   "varchar",
	TypeBinary:    "binary",
	TypeVarBinary: "varbinary",
	TypeText:      "text",
	TypeBlob:      "blob",
	TypeEnum:      "enum",
	TypeSet:       "set",
	TypeJSON:      "json",
	TypeGeometry:  "geometry",
	TypeVector:    "vector",
}

func (t ColumnType) String() string {
	if int(t) < len(columnTypeNames) {
		return columnTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// IsString reports whether values of t carry text in a character set.
func (t ColumnType) IsString() bool {
	switch t {
	case TypeChar, TypeVarChar, TypeText, TypeEnum, TypeSet:
		return true
	}
	return false
}

// Column is one column of a table as the source defines it.
type Column struct {
	Name     string     `json:"name"`
	Type     ColumnType `json:"type"`
	SQLType  string     `json:"sql_type,omitempty"` // as SHOW CREATE TABLE prints it, e.g. "bigint(20) unsigned"
	Unsigned bool       `json:"unsigned,omitempty"`
	Nullable bool       `json:"nullable,omitempty"`
	// Charset is the column's character set for string types ("utf8mb4",
	// "latin1", "binary"). Collation is its collation when known.
	Charset   string `json:"charset,omitempty"`
	Collation string `json:"collation,omitempty"`
	// Length is the declared length: characters for CHAR/VARCHAR, bytes for
	// BINARY/VARBINARY, bits for BIT, dimensions for VECTOR.
	Length int `json:"length,omitempty"`
	// Precision and Scale describe DECIMAL; Scale is also the fractional
	// seconds precision of TIME, DATETIME and TIMESTAMP.
	Precision int      `json:"precision,omitempty"`
	Scale     int      `json:"scale,omitempty"`
	Elems     []string `json:"elems,omitempty"` // ENUM and SET members, in order
	// Default is the column default as SQL text, when it has one.
	Default   *string `json:"default,omitempty"`
	Generated bool    `json:"generated,omitempty"` // a generated (virtual or stored) column
	Invisible bool    `json:"invisible,omitempty"`
}

// Table is the definition of one table at one point of the binlog.
type Table struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	// PrimaryKey lists the indexes into Columns of the primary key, in key
	// order. UniqueKeys lists the other unique keys the same way.
	PrimaryKey []int   `json:"primary_key,omitempty"`
	UniqueKeys [][]int `json:"unique_keys,omitempty"`
	Charset    string  `json:"charset,omitempty"` // table default
	Collation  string  `json:"collation,omitempty"`
}

// QualifiedName returns "schema.table" without quoting, for messages and maps.
func (t *Table) QualifiedName() string { return t.Schema + "." + t.Name }

// ColumnIndex returns the index of the named column (case-insensitive, as
// MySQL compares column names), or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// Key returns the columns that identify a row: the primary key, else the first
// unique key whose columns are all NOT NULL, else the first unique key, else
// nil (the table has no key and rows are matched on all their columns).
func (t *Table) Key() []int {
	if len(t.PrimaryKey) > 0 {
		return t.PrimaryKey
	}
	for _, uk := range t.UniqueKeys {
		notNull := true
		for _, c := range uk {
			if t.Columns[c].Nullable {
				notNull = false
				break
			}
		}
		if notNull {
			return uk
		}
	}
	if len(t.UniqueKeys) > 0 {
		return t.UniqueKeys[0]
	}
	return nil
}

// Clone returns a deep copy that shares nothing with t.
func (t *Table) Clone() *Table {
	c := *t
	c.Columns = make([]Column, len(t.Columns))
	for i, col := range t.Columns {
		if col.Elems != nil {
			col.Elems = append([]string(nil), col.Elems...)
		}
		if col.Default != nil {
			d := *col.Default
			col.Default = &d
		}
		c.Columns[i] = col
	}
	c.PrimaryKey = append([]int(nil), t.PrimaryKey...)
	c.UniqueKeys = make([][]int, len(t.UniqueKeys))
	for i, uk := range t.UniqueKeys {
		c.UniqueKeys[i] = append([]int(nil), uk...)
	}
	return &c
}
