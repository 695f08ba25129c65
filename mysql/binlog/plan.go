package binlog

import (
	"fmt"

	"github.com/sluice-db/sluice/change"
)

// A decode plan says, for each column of a table, how its cells are laid out
// in a row image and what Value they become. It is built once per table map
// and resolution, so the row loop only switches on a small op code.

type colOp uint8

const (
	opNull colOp = iota
	opInt8
	opUint8
	opInt16
	opUint16
	opInt24
	opUint24
	opInt32
	opUint32
	opInt64
	opUint64
	opFloat
	opDouble
	opDecimal
	opYear
	opDate
	opTimeOld
	opTime2
	opDateTimeOld
	opDateTime2
	opTimestampOld
	opTimestamp2
	opBit
	opEnum
	opSet
	opString // CHAR, VARCHAR, BLOB, GEOMETRY, VECTOR, MariaDB JSON: length prefix and bytes
	opJSON   // MySQL binary JSON
	opMariaCompressed
	opTimeHires
	opDateTimeHires
	opTimestampHires
)

type colPlan struct {
	op     colOp
	kind   change.Kind // for opString and opMariaCompressed
	prefix uint8       // length-prefix bytes of opString, opJSON, opMariaCompressed
	frac   uint8       // fractional digits of temporal types
	size   int         // bytes of opDecimal, opBit, opEnum, opSet
	prec   int         // DECIMAL precision
	scale  int         // DECIMAL scale
	elems  [][]byte    // ENUM and SET members
	// pad is the length BINARY(n) values are padded to with zero bytes: the
	// binlog strips trailing zeros as the server strips trailing spaces of
	// CHAR, but a BINARY value keeps them.
	pad  int
	name string
}

// buildPlan checks that the table definition fits the table map and makes
// the decode plan. It returns the number of JSON columns (for partial JSON
// bitmaps).
func buildPlan(tm *TableMap, t *change.Table) ([]colPlan, int, error) {
	if len(t.Columns) != len(tm.Types) {
		return nil, 0, fmt.Errorf("table definition has %d columns, the binlog has %d", len(t.Columns), len(tm.Types))
	}
	plan := make([]colPlan, len(tm.Types))
	jsonCols := 0
	for i := range tm.Types {
		p, err := planColumn(tm, t, i)
		if err != nil {
			return nil, 0, fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
		}
		if tm.Types[i] == TypeJSON {
			jsonCols++
		}
		plan[i] = p
	}
	return plan, jsonCols, nil
}

func planColumn(tm *TableMap, t *change.Table, i int) (colPlan, error) {
	col := &t.Columns[i]
	meta := tm.Meta[i]
	rt := tm.RealType(i)
	p := colPlan{name: col.Name}
	if !compatible(rt, col.Type) {
		return p, fmt.Errorf("binlog type %s does not match the table definition's %s", binlogTypeName(rt), col.Type)
	}
	unsigned := col.Unsigned
	if tm.Unsigned != nil {
		unsigned = tm.Unsigned[i]
	}
	pick := func(signed, uns colOp) colOp {
		if unsigned {
			return uns
		}
		return signed
	}
	switch rt {
	case TypeNull:
		p.op = opNull
	case TypeTiny:
		p.op = pick(opInt8, opUint8)
	case TypeShort:
		p.op = pick(opInt16, opUint16)
	case TypeInt24:
		p.op = pick(opInt24, opUint24)
	case TypeLong:
		p.op = pick(opInt32, opUint32)
	case TypeLongLong:
		p.op = pick(opInt64, opUint64)
	case TypeFloat:
		p.op = opFloat
	case TypeDouble:
		p.op = opDouble
	case TypeNewDecimal:
		p.op = opDecimal
		p.prec, p.scale = int(meta>>8), int(meta&0xff)
		if err := validDecimal(p.prec, p.scale); err != nil {
			return p, err
		}
		p.size = decimalSize(p.prec, p.scale)
	case TypeYear:
		p.op = opYear
	case TypeDate, TypeNewDate:
		p.op = opDate
	case TypeTime:
		p.op = opTimeOld
		if hiresScale(col) > 0 {
			p.op, p.frac = opTimeHires, hiresScale(col)
		}
	case TypeTime2:
		p.op, p.frac = opTime2, temporalFsp(rt, meta)
	case TypeDateTime:
		p.op = opDateTimeOld
		if hiresScale(col) > 0 {
			p.op, p.frac = opDateTimeHires, hiresScale(col)
		}
	case TypeDateTime2:
		p.op, p.frac = opDateTime2, temporalFsp(rt, meta)
	case TypeTimestamp:
		p.op = opTimestampOld
		if hiresScale(col) > 0 {
			p.op, p.frac = opTimestampHires, hiresScale(col)
		}
	case TypeTimestamp2:
		p.op, p.frac = opTimestamp2, temporalFsp(rt, meta)
	case TypeBit:
		p.op = opBit
		nbits := int(meta>>8)*8 + int(meta&0xff)
		p.size = (nbits + 7) / 8
		if p.size > 8 {
			return p, fmt.Errorf("bit(%d) is wider than 64", nbits)
		}
	case TypeEnum, TypeSet:
		p.op = opEnum
		if rt == TypeSet {
			p.op = opSet
		}
		p.size = int(meta & 0xff)
		if p.size < 1 || p.size > 8 || (rt == TypeEnum && p.size > 2) {
			return p, fmt.Errorf("%s with a %d-byte value", binlogTypeName(rt), p.size)
		}
		elems := col.Elems
		if len(elems) == 0 {
			if rt == TypeEnum && i < len(tm.EnumValues) {
				elems = tm.EnumValues[i]
			} else if rt == TypeSet && i < len(tm.SetValues) {
				elems = tm.SetValues[i]
			}
		}
		if len(elems) > 0 {
			p.elems = make([][]byte, len(elems))
			for j, e := range elems {
				p.elems[j] = []byte(e)
			}
		}
	case TypeString:
		p.op, p.kind = opString, textKind(tm, col, i)
		p.prefix = 1
		if stringMaxLen(meta) > 255 {
			p.prefix = 2
		}
		if p.kind == change.KindBytes {
			p.pad = stringMaxLen(meta)
		}
	case TypeVarChar, TypeVarString:
		p.op, p.kind = opString, textKind(tm, col, i)
		p.prefix = 1
		if meta > 255 {
			p.prefix = 2
		}
	case TypeBlob:
		p.op, p.kind, p.prefix = opString, textKind(tm, col, i), uint8(meta)
		if col.Type == change.TypeJSON {
			// MariaDB's JSON is a LONGTEXT holding JSON text.
			p.kind = change.KindJSON
		}
	case TypeGeometry:
		p.op, p.kind, p.prefix = opString, change.KindGeometry, uint8(meta)
	case TypeVector:
		p.op, p.kind, p.prefix = opString, change.KindVector, uint8(meta)
	case TypeJSON:
		p.op, p.prefix = opJSON, uint8(meta)
	case TypeVarCharCompressedMaria:
		p.op, p.kind = opMariaCompressed, textKind(tm, col, i)
		p.prefix = 1
		if meta > 255 {
			p.prefix = 2
		}
	case TypeBlobCompressedMaria:
		p.op, p.kind, p.prefix = opMariaCompressed, textKind(tm, col, i), uint8(meta)
	default:
		return p, fmt.Errorf("binlog type %s is not supported", binlogTypeName(rt))
	}
	if (p.op == opString || p.op == opJSON || p.op == opMariaCompressed) && (p.prefix < 1 || p.prefix > 4) {
		return p, fmt.Errorf("%s with a %d-byte length", binlogTypeName(rt), p.prefix)
	}
	return p, nil
}

// hiresScale is the fractional precision of an old-type temporal column
// according to the table definition. Old types with a precision are
// MariaDB's hires format; the TABLE_MAP alone cannot tell.
func hiresScale(col *change.Column) uint8 {
	if col.Scale > 6 {
		return 6
	}
	return uint8(col.Scale)
}

// textKind decides between text and bytes: a string column holds bytes when
// its character set is "binary". The TABLE_MAP's charset metadata is the
// server's word; without it the table definition decides.
func textKind(tm *TableMap, col *change.Column, i int) change.Kind {
	if i < len(tm.Collations) && tm.Collations[i] != 0 {
		if tm.Collations[i] == binaryCollation {
			return change.KindBytes
		}
		return change.KindString
	}
	switch {
	case col.Charset == "binary", col.Type == change.TypeBinary, col.Type == change.TypeVarBinary, col.Type == change.TypeBlob:
		return change.KindBytes
	}
	return change.KindString
}

// compatible reports whether a column the schema says is of type ct can be
// written in the binlog as type bt. TypeUnknown fits anything.
func compatible(bt byte, ct change.ColumnType) bool {
	if ct == change.TypeUnknown || bt == TypeNull {
		return true
	}
	switch bt {
	case TypeTiny:
		return ct == change.TypeTinyInt
	case TypeShort:
		return ct == change.TypeSmallInt
	case TypeInt24:
		return ct == change.TypeMediumInt
	case TypeLong:
		return ct == change.TypeInt
	case TypeLongLong:
		return ct == change.TypeBigInt
	case TypeNewDecimal, TypeDecimal:
		return ct == change.TypeDecimal
	case TypeFloat:
		return ct == change.TypeFloat
	case TypeDouble:
		return ct == change.TypeDouble
	case TypeBit:
		return ct == change.TypeBit
	case TypeYear:
		return ct == change.TypeYear
	case TypeDate, TypeNewDate:
		return ct == change.TypeDate
	case TypeTime, TypeTime2:
		return ct == change.TypeTime
	case TypeDateTime, TypeDateTime2:
		return ct == change.TypeDateTime
	case TypeTimestamp, TypeTimestamp2:
		return ct == change.TypeTimestamp
	case TypeEnum:
		return ct == change.TypeEnum
	case TypeSet:
		return ct == change.TypeSet
	case TypeString:
		return ct == change.TypeChar || ct == change.TypeBinary
	case TypeVarChar, TypeVarString, TypeVarCharCompressedMaria:
		return ct == change.TypeVarChar || ct == change.TypeVarBinary
	case TypeBlob, TypeBlobCompressedMaria:
		return ct == change.TypeText || ct == change.TypeBlob || ct == change.TypeJSON
	case TypeJSON:
		return ct == change.TypeJSON
	case TypeGeometry:
		return ct == change.TypeGeometry
	case TypeVector:
		return ct == change.TypeVector
	}
	return false
}

func binlogTypeName(t byte) string {
	switch t {
	case TypeDecimal:
		return "decimal(old)"
	case TypeTiny:
		return "tinyint"
	case TypeShort:
		return "smallint"
	case TypeLong:
		return "int"
	case TypeFloat:
		return "float"
	case TypeDouble:
		return "double"
	case TypeNull:
		return "null"
	case TypeTimestamp, TypeTimestamp2:
		return "timestamp"
	case TypeLongLong:
		return "bigint"
	case TypeInt24:
		return "mediumint"
	case TypeDate, TypeNewDate:
		return "date"
	case TypeTime, TypeTime2:
		return "time"
	case TypeDateTime, TypeDateTime2:
		return "datetime"
	case TypeYear:
		return "year"
	case TypeVarChar, TypeVarString:
		return "varchar"
	case TypeBit:
		return "bit"
	case TypeJSON:
		return "json"
	case TypeNewDecimal:
		return "decimal"
	case TypeEnum:
		return "enum"
	case TypeSet:
		return "set"
	case TypeBlob:
		return "blob"
	case TypeString:
		return "char"
	case TypeGeometry:
		return "geometry"
	case TypeVector:
		return "vector"
	case TypeVarCharCompressedMaria:
		return "varchar compressed"
	case TypeBlobCompressedMaria:
		return "blob compressed"
	}
	return fmt.Sprintf("type %d", t)
}
