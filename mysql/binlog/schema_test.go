package binlog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-db/sluice/change"
)

// infoSchemaResolver is a test stand-in for the schema history: it reads a
// table's definition from the live server's information_schema, which is
// right as long as the test does no DDL after the changes it decodes. It
// lets the tests decode binlogs written with binlog_row_metadata=MINIMAL or
// NO_LOG, whose TABLE_MAPs lack names, ENUM members or signedness.
type infoSchemaResolver struct {
	db *sql.DB
	// elems overrides the ENUM/SET members of the named columns.
	// information_schema returns column types in utf8mb3, which turns a
	// 4-byte member into "?"; the schema history reads members from the DDL
	// statement, and so does the test, through this map.
	elems map[string][]string
	mu    sync.Mutex
	// calls counts resolutions, to check the decoder's cache.
	calls int
}

func (r *infoSchemaResolver) ResolveTable(tm *TableMap, pos change.Position) (*change.Table, error) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	ctx := context.Background()
	rows, err := r.db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
		COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''),
		COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), COALESCE(DATETIME_PRECISION, 0),
		COALESCE(CHARACTER_MAXIMUM_LENGTH, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
		tm.Schema, tm.Table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s at %s: %w", tm.QualifiedName(), pos, err)
	}
	defer rows.Close()
	t := &change.Table{Schema: tm.Schema, Name: tm.Table}
	for rows.Next() {
		var c change.Column
		var dataType, colType, nullable string
		var prec, scale, dtPrec, maxLen int64
		if err := rows.Scan(&c.Name, &dataType, &colType, &nullable, &c.Charset, &c.Collation, &prec, &scale, &dtPrec, &maxLen); err != nil {
			return nil, err
		}
		c.SQLType = colType
		c.Nullable = nullable == "YES"
		c.Unsigned = strings.Contains(colType, "unsigned")
		c.Type = columnTypeOf(dataType)
		switch c.Type {
		case change.TypeDecimal:
			c.Precision, c.Scale = int(prec), int(scale)
		case change.TypeTime, change.TypeDateTime, change.TypeTimestamp:
			c.Scale = int(dtPrec)
		case change.TypeEnum, change.TypeSet:
			c.Elems = parseElems(colType)
			if e, ok := r.elems[c.Name]; ok {
				c.Elems = e
			}
		case change.TypeText:
			if c.Charset == "" {
				c.Type = change.TypeBlob
			}
		}
		if c.Type.IsString() || c.Type == change.TypeText {
			c.Length = int(maxLen)
		}
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("table %s unknown at %s", tm.QualifiedName(), pos)
	}
	// MariaDB's JSON is a LONGTEXT with a json_valid() check.
	checks, err := r.db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, tm.Schema, tm.Table)
	if err != nil {
		return nil, err
	}
	defer checks.Close()
	for checks.Next() {
		var clause string
		if err := checks.Scan(&clause); err != nil {
			return nil, err
		}
		for i := range t.Columns {
			if clause == "json_valid(`"+t.Columns[i].Name+"`)" {
				t.Columns[i].Type = change.TypeJSON
			}
		}
	}
	return t, checks.Err()
}

func columnTypeOf(dataType string) change.ColumnType {
	switch dataType {
	case "tinyint":
		return change.TypeTinyInt
	case "smallint":
		return change.TypeSmallInt
	case "mediumint":
		return change.TypeMediumInt
	case "int":
		return change.TypeInt
	case "bigint":
		return change.TypeBigInt
	case "decimal":
		return change.TypeDecimal
	case "float":
		return change.TypeFloat
	case "double":
		return change.TypeDouble
	case "bit":
		return change.TypeBit
	case "year":
		return change.TypeYear
	case "date":
		return change.TypeDate
	case "time":
		return change.TypeTime
	case "datetime":
		return change.TypeDateTime
	case "timestamp":
		return change.TypeTimestamp
	case "char":
		return change.TypeChar
	case "varchar":
		return change.TypeVarChar
	case "binary", "inet6", "uuid", "inet4":
		// MariaDB's INET6, UUID and INET4 travel as fixed binary strings.
		return change.TypeBinary
	case "varbinary":
		return change.TypeVarBinary
	case "tinytext", "text", "mediumtext", "longtext":
		return change.TypeText
	case "tinyblob", "blob", "mediumblob", "longblob":
		return change.TypeBlob
	case "enum":
		return change.TypeEnum
	case "set":
		return change.TypeSet
	case "json":
		return change.TypeJSON
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return change.TypeGeometry
	}
	return change.TypeUnknown
}

// parseElems reads the members of "enum('a','b”c')".
func parseElems(colType string) []string {
	i := strings.IndexByte(colType, '(')
	if i < 0 {
		return nil
	}
	s := colType[i+1:]
	var out []string
	for len(s) > 0 && s[0] == '\'' {
		var b strings.Builder
		j := 1
		for j < len(s) {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					b.WriteByte('\'')
					j += 2
					continue
				}
				break
			}
			b.WriteByte(s[j])
			j++
		}
		out = append(out, b.String())
		s = strings.TrimPrefix(s[j+1:], ",")
	}
	return out
}

var _ TableResolver = (*infoSchemaResolver)(nil)

// readServerBinlogs flushes the server's binlog and decodes every file in
// it, in order, returning the events (payloads flattened) and the files.
func readServerBinlogs(t *testing.T, datadir string, logs []string, opts DecoderOptions) []Event {
	t.Helper()
	d := NewDecoder(opts)
	var out []Event
	for _, f := range logs {
		err := ReadFile(datadir+"/"+f, d, func(ev Event) error {
			out = append(out, ev)
			return nil
		})
		if err != nil {
			t.Fatalf("decode %s: %v", f, err)
		}
	}
	return out
}
