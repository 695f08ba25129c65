package binlog

import (
	"strconv"

	"github.com/sluice-db/sluice/change"
)

// TableFromMap builds a table definition from a TABLE_MAP alone, for when no
// schema history is available (binlog files read offline without their DDL,
// tests). Column names come from the optional metadata, else they are
// "col_1", "col_2", ...; types, signedness, charsets, ENUM/SET members and
// the primary key come from the event as far as it carries them. Without
// charset metadata, string columns are taken as text in an unknown charset.
//
// One case needs a real table definition: MariaDB temporal columns with
// fractional seconds created while mysql56_temporal_format=OFF look like the
// old TIME, DATETIME and TIMESTAMP types in a TABLE_MAP but are stored in
// MariaDB's own wider format, which only the column's precision (from the
// schema) identifies.
func TableFromMap(tm *TableMap) *change.Table {
	t := &change.Table{Schema: tm.Schema, Name: tm.Table, Columns: make([]change.Column, len(tm.Types))}
	for i := range tm.Types {
		c := &t.Columns[i]
		if i < len(tm.Names) && tm.Names[i] != "" {
			c.Name = tm.Names[i]
		} else {
			c.Name = "col_" + strconv.Itoa(i+1)
		}
		c.Nullable = i < len(tm.Nullable) && tm.Nullable[i]
		c.Unsigned = i < len(tm.Unsigned) && tm.Unsigned[i]
		if i < len(tm.Collations) && tm.Collations[i] != 0 {
			if info, ok := Collation(tm.Collations[i]); ok {
				c.Charset, c.Collation = info.Charset, info.Collation
			}
		}
		if i < len(tm.Visible) {
			c.Invisible = !tm.Visible[i]
		}
		binary := c.Charset == "binary"
		meta := tm.Meta[i]
		switch tm.RealType(i) {
		case TypeTiny:
			c.Type = change.TypeTinyInt
		case TypeShort:
			c.Type = change.TypeSmallInt
		case TypeInt24:
			c.Type = change.TypeMediumInt
		case TypeLong:
			c.Type = change.TypeInt
		case TypeLongLong:
			c.Type = change.TypeBigInt
		case TypeNewDecimal, TypeDecimal:
			c.Type = change.TypeDecimal
			c.Precision, c.Scale = int(meta>>8), int(meta&0xff)
		case TypeFloat:
			c.Type = change.TypeFloat
		case TypeDouble:
			c.Type = change.TypeDouble
		case TypeBit:
			c.Type = change.TypeBit
			c.Length = int(meta>>8)*8 + int(meta&0xff)
		case TypeYear:
			c.Type = change.TypeYear
		case TypeDate, TypeNewDate:
			c.Type = change.TypeDate
		case TypeTime, TypeTime2:
			c.Type = change.TypeTime
			c.Scale = int(temporalFsp(tm.Types[i], meta))
		case TypeDateTime, TypeDateTime2:
			c.Type = change.TypeDateTime
			c.Scale = int(temporalFsp(tm.Types[i], meta))
		case TypeTimestamp, TypeTimestamp2:
			c.Type = change.TypeTimestamp
			c.Scale = int(temporalFsp(tm.Types[i], meta))
		case TypeEnum:
			c.Type = change.TypeEnum
			if i < len(tm.EnumValues) {
				c.Elems = tm.EnumValues[i]
			}
		case TypeSet:
			c.Type = change.TypeSet
			if i < len(tm.SetValues) {
				c.Elems = tm.SetValues[i]
			}
		case TypeString:
			c.Type = change.TypeChar
			if binary {
				c.Type = change.TypeBinary
			}
			c.Length = stringMaxLen(meta) / charsetMaxLen(c.Charset)
		case TypeVarChar, TypeVarString, TypeVarCharCompressedMaria:
			c.Type = change.TypeVarChar
			if binary {
				c.Type = change.TypeVarBinary
			}
			c.Length = int(meta) / charsetMaxLen(c.Charset)
		case TypeBlob, TypeBlobCompressedMaria:
			c.Type = change.TypeText
			if binary {
				c.Type = change.TypeBlob
			}
		case TypeJSON:
			c.Type = change.TypeJSON
		case TypeGeometry:
			c.Type = change.TypeGeometry
		case TypeVector:
			c.Type = change.TypeVector
			if i < len(tm.VectorDims) {
				c.Length = int(tm.VectorDims[i])
			}
		}
		switch c.Type {
		case change.TypeChar, change.TypeVarChar, change.TypeText, change.TypeEnum, change.TypeSet,
			change.TypeBinary, change.TypeVarBinary, change.TypeBlob:
		default:
			// VECTOR (and, on MariaDB, GEOMETRY) columns have charset
			// metadata "binary" that says nothing about text.
			c.Charset, c.Collation = "", ""
		}
	}
	if len(tm.PrimaryKey) > 0 {
		t.PrimaryKey = append([]int(nil), tm.PrimaryKey...)
	}
	return t
}

// temporalFsp returns the fractional-second digits of a temporal column:
// the metadata of the *2 types, 0 for the old ones.
func temporalFsp(t byte, meta uint16) uint8 {
	switch t {
	case TypeTime2, TypeDateTime2, TypeTimestamp2:
		if meta > 6 {
			return 6
		}
		return uint8(meta)
	}
	return 0
}

// stringMaxLen decodes the byte length of a CHAR/BINARY column from its
// MYSQL_TYPE_STRING metadata, where lengths above 255 borrow two bits of the
// real-type byte.
func stringMaxLen(meta uint16) int {
	b0, b1 := byte(meta>>8), byte(meta)
	if meta < 256 {
		return int(meta)
	}
	if b0&0x30 != 0x30 {
		return int(b1) | int((b0&0x30)^0x30)<<4
	}
	return int(b1)
}
