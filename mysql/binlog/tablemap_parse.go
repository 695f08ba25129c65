package binlog

import (
	"fmt"

	"github.com/sluice-db/sluice/change"
)

// Optional metadata field types of a TABLE_MAP (binlog_row_metadata).
const (
	metaSignedness           = 1
	metaDefaultCharset       = 2
	metaColumnCharset        = 3
	metaColumnName           = 4
	metaSetValues            = 5
	metaEnumValues           = 6
	metaGeometryType         = 7
	metaSimplePrimaryKey     = 8
	metaPrimaryKeyPrefix     = 9
	metaEnumSetDefaultCS     = 10
	metaEnumSetColumnCS      = 11
	metaColumnVisibility     = 12
	metaVectorDimensionality = 13
)

// maxColumns bounds the column count of a TABLE_MAP; MySQL and MariaDB allow
// 4096 columns, and a larger count is a corrupt event.
const maxColumns = 4096

// parseTableMap decodes a TABLE_MAP body (after the common header, without
// the checksum). idSize is 6, or 4 for servers whose post-header is 6 bytes.
func parseTableMap(body []byte, idSize int, flavor change.Flavor) (*TableMap, error) {
	r := reader{b: body}
	tm := &TableMap{Flavor: flavor}
	tm.TableID = r.uintN(idSize, "table id")
	tm.Flags = r.u16("flags")
	tm.Schema = string(r.bytes(int(r.u8("schema length")), "schema name"))
	r.skip(1, "schema terminator")
	tm.Table = string(r.bytes(int(r.u8("table length")), "table name"))
	r.skip(1, "table terminator")
	n := r.packedLen("column count")
	if r.err != nil {
		return nil, r.err
	}
	if n > maxColumns {
		return nil, fmt.Errorf("table map of %s has %d columns, more than %d", tm.QualifiedName(), n, maxColumns)
	}
	tm.Types = r.bytes(n, "column types")
	meta := r.packedBytes("column metadata")
	nulls := r.bytes((n+7)/8, "null bitmap")
	if r.err != nil {
		return nil, r.err
	}
	// Keep nothing that points into the event buffer: the map outlives it.
	tm.Types = append([]byte(nil), tm.Types...)
	var err error
	if tm.Meta, err = parseColumnMeta(tm.Types, meta); err != nil {
		return nil, err
	}
	tm.Nullable = make([]bool, n)
	for i := range tm.Nullable {
		tm.Nullable[i] = bitSet(nulls, i)
	}
	if err := tm.parseOptionalMeta(r.rest()); err != nil {
		return nil, fmt.Errorf("optional metadata of %s: %w", tm.QualifiedName(), err)
	}
	return tm, nil
}

// parseColumnMeta reads each column's type metadata: 0, 1 or 2 bytes
// depending on the type.
func parseColumnMeta(types, meta []byte) ([]uint16, error) {
	out := make([]uint16, len(types))
	p := 0
	need := func(n int, i int) error {
		if p+n > len(meta) {
			return fmt.Errorf("column %d (type %d) metadata: %w", i, types[i], errShort)
		}
		return nil
	}
	for i, t := range types {
		switch t {
		case TypeString, TypeNewDecimal:
			// Two bytes read as high, low: real type and length for
			// STRING, precision and scale for DECIMAL.
			if err := need(2, i); err != nil {
				return nil, err
			}
			out[i] = uint16(meta[p])<<8 | uint16(meta[p+1])
			p += 2
		case TypeVarString, TypeVarChar, TypeBit, TypeVarCharCompressedMaria:
			if err := need(2, i); err != nil {
				return nil, err
			}
			out[i] = uint16(meta[p]) | uint16(meta[p+1])<<8
			p += 2
		case TypeBlob, TypeDouble, TypeFloat, TypeGeometry, TypeJSON, TypeVector,
			TypeTime2, TypeDateTime2, TypeTimestamp2, TypeBlobCompressedMaria:
			if err := need(1, i); err != nil {
				return nil, err
			}
			out[i] = uint16(meta[p])
			p++
		case TypeTiny, TypeShort, TypeInt24, TypeLong, TypeLongLong, TypeNull, TypeYear,
			TypeDate, TypeNewDate, TypeTime, TypeDateTime, TypeTimestamp:
		default:
			return nil, fmt.Errorf("column %d has type %d, which a binlog does not carry", i, t)
		}
	}
	return out, nil
}

// isNumericColumn reports the columns SIGNEDNESS metadata has a bit for:
// the integer, decimal and floating point types, and on MariaDB also YEAR
// (MariaDB treats it as a number with a sign; MySQL does not).
func (tm *TableMap) isNumericColumn(i int) bool {
	switch tm.Types[i] {
	case TypeTiny, TypeShort, TypeInt24, TypeLong, TypeLongLong, TypeNewDecimal, TypeFloat, TypeDouble:
		return true
	case TypeYear:
		return tm.Flavor == change.MariaDB
	}
	return false
}

// isCharacterColumn reports the columns the charset metadata has an entry
// for: CHAR/BINARY, VARCHAR, TEXT/BLOB, (MySQL 9) VECTOR and (MariaDB)
// GEOMETRY, but not ENUM and SET, which have their own charset fields.
func (tm *TableMap) isCharacterColumn(i int) bool {
	switch tm.RealType(i) {
	case TypeString, TypeVarString, TypeVarChar, TypeBlob, TypeVector,
		TypeBlobCompressedMaria, TypeVarCharCompressedMaria:
		return true
	case TypeGeometry:
		return tm.Flavor == change.MariaDB
	}
	return false
}

func (tm *TableMap) isEnumOrSet(i int) bool {
	rt := tm.RealType(i)
	return rt == TypeEnum || rt == TypeSet
}

func (tm *TableMap) parseOptionalMeta(b []byte) error {
	n := len(tm.Types)
	r := reader{b: b}
	for r.left() > 0 && r.err == nil {
		typ := r.u8("field type")
		v := r.packedBytes("field value")
		if r.err != nil {
			return r.err
		}
		tm.HasMetadata = true
		f := reader{b: v}
		switch typ {
		case metaSignedness:
			tm.Unsigned = make([]bool, n)
			k := 0
			for i := range tm.Types {
				if !tm.isNumericColumn(i) {
					continue
				}
				if k>>3 >= len(v) {
					return fmt.Errorf("signedness bitmap: %w", errShort)
				}
				tm.Unsigned[i] = bitSetMSB(v, k)
				k++
			}
		case metaDefaultCharset, metaEnumSetDefaultCS:
			include := tm.isCharacterColumn
			if typ == metaEnumSetDefaultCS {
				include = tm.isEnumOrSet
			}
			def := f.packed("default collation")
			overrides := map[uint64]uint64{}
			for f.left() > 0 && f.err == nil {
				idx := f.packed("column index")
				overrides[idx] = f.packed("column collation")
			}
			if f.err != nil {
				return f.err
			}
			tm.ensureCollations()
			k := uint64(0)
			for i := 0; i < n; i++ {
				if !include(i) {
					continue
				}
				c, ok := overrides[k]
				if !ok {
					c = def
				}
				tm.Collations[i] = uint16(c)
				k++
			}
		case metaColumnCharset, metaEnumSetColumnCS:
			include := tm.isCharacterColumn
			if typ == metaEnumSetColumnCS {
				include = tm.isEnumOrSet
			}
			tm.ensureCollations()
			for i := 0; i < n; i++ {
				if include(i) {
					tm.Collations[i] = uint16(f.packed("column collation"))
				}
			}
		case metaColumnName:
			tm.Names = make([]string, n)
			for i := 0; i < n; i++ {
				tm.Names[i] = string(f.packedBytes("column name"))
			}
		case metaSetValues, metaEnumValues:
			want := TypeEnum
			if typ == metaSetValues {
				want = TypeSet
			}
			vals := make([][]string, n)
			for i := 0; i < n; i++ {
				if tm.RealType(i) != want {
					continue
				}
				cnt := f.packedLen("member count")
				vals[i] = make([]string, 0, cnt)
				for j := 0; j < cnt && f.err == nil; j++ {
					vals[i] = append(vals[i], string(f.packedBytes("member")))
				}
			}
			if typ == metaSetValues {
				tm.SetValues = vals
			} else {
				tm.EnumValues = vals
			}
		case metaGeometryType:
			tm.GeoTypes = make([]uint32, n)
			for i := 0; i < n; i++ {
				if tm.Types[i] == TypeGeometry {
					tm.GeoTypes[i] = uint32(f.packed("geometry type"))
				}
			}
		case metaSimplePrimaryKey:
			for f.left() > 0 && f.err == nil {
				tm.PrimaryKey = append(tm.PrimaryKey, int(f.packed("key column")))
				tm.PrimaryKeyPrefix = append(tm.PrimaryKeyPrefix, 0)
			}
		case metaPrimaryKeyPrefix:
			for f.left() > 0 && f.err == nil {
				tm.PrimaryKey = append(tm.PrimaryKey, int(f.packed("key column")))
				tm.PrimaryKeyPrefix = append(tm.PrimaryKeyPrefix, int(f.packed("key prefix")))
			}
		case metaColumnVisibility:
			if len(v) < (n+7)/8 {
				return fmt.Errorf("visibility bitmap: %w", errShort)
			}
			tm.Visible = make([]bool, n)
			for i := range tm.Visible {
				tm.Visible[i] = bitSetMSB(v, i)
			}
		case metaVectorDimensionality:
			tm.VectorDims = make([]uint32, n)
			for i := 0; i < n; i++ {
				if tm.Types[i] == TypeVector {
					tm.VectorDims[i] = uint32(f.packed("vector dimensions"))
				}
			}
		default:
			// Fields added by later servers; the TLV framing lets us skip them.
		}
		if f.err != nil {
			return f.err
		}
	}
	if r.err != nil {
		return r.err
	}
	for _, c := range tm.PrimaryKey {
		if c < 0 || c >= n {
			return fmt.Errorf("primary key column %d out of range (%d columns)", c, n)
		}
	}
	return nil
}

func (tm *TableMap) ensureCollations() {
	if tm.Collations == nil {
		tm.Collations = make([]uint16, len(tm.Types))
	}
}
