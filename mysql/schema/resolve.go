package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
)

// Binlog column type codes (MYSQL_TYPE_*) as TABLE_MAP events carry them.
const (
	btDecimal       = 0
	btTiny          = 1
	btShort         = 2
	btLong          = 3
	btFloat         = 4
	btDouble        = 5
	btTimestamp     = 7
	btLongLong      = 8
	btInt24         = 9
	btDate          = 10
	btTime          = 11
	btDateTime      = 12
	btYear          = 13
	btNewDate       = 14
	btVarchar       = 15
	btBit           = 16
	btTimestamp2    = 17
	btDateTime2     = 18
	btTime2         = 19
	btBlobCompr     = 140 // MariaDB MYSQL_TYPE_BLOB_COMPRESSED
	btVarcharCompr  = 141 // MariaDB MYSQL_TYPE_VARCHAR_COMPRESSED
	btVector        = 242
	btJSON          = 245
	btNewDecimal    = 246
	btEnum          = 247
	btSet           = 248
	btTinyBlob      = 249
	btMediumBlob    = 250
	btLongBlob      = 251
	btBlob          = 252
	btVarString     = 253
	btString        = 254
	btGeometry      = 255
	binaryCollation = 63
)

// realType returns a column's binlog type with MYSQL_TYPE_STRING resolved
// to ENUM or SET when its metadata says so. A CHAR longer than 255 bytes
// borrows bits of that byte for its length; it is a STRING.
func realType(tm *binlog.TableMap, i int) byte {
	t := tm.Types[i]
	if t != btString || i >= len(tm.Meta) {
		return t
	}
	b0 := byte(tm.Meta[i] >> 8)
	if b0&0x30 != 0x30 {
		return btString
	}
	return b0
}

// compatible reports whether a column of type ct can be written with binlog
// type bt. An incompatible pair means the history has drifted from the
// source.
func compatible(ct change.ColumnType, bt byte) bool {
	switch ct {
	case change.TypeUnknown:
		return true
	case change.TypeTinyInt:
		return bt == btTiny
	case change.TypeSmallInt:
		return bt == btShort
	case change.TypeMediumInt:
		return bt == btInt24
	case change.TypeInt:
		return bt == btLong
	case change.TypeBigInt:
		return bt == btLongLong
	case change.TypeDecimal:
		return bt == btNewDecimal || bt == btDecimal
	case change.TypeFloat:
		return bt == btFloat
	case change.TypeDouble:
		return bt == btDouble
	case change.TypeBit:
		return bt == btBit
	case change.TypeYear:
		return bt == btYear
	case change.TypeDate:
		return bt == btDate || bt == btNewDate
	case change.TypeTime:
		return bt == btTime || bt == btTime2
	case change.TypeDateTime:
		return bt == btDateTime || bt == btDateTime2
	case change.TypeTimestamp:
		return bt == btTimestamp || bt == btTimestamp2
	case change.TypeChar, change.TypeBinary:
		return bt == btString
	case change.TypeVarChar, change.TypeVarBinary:
		return bt == btVarchar || bt == btVarString || bt == btVarcharCompr
	case change.TypeText, change.TypeBlob:
		return bt >= btTinyBlob && bt <= btBlob || bt == btBlobCompr
	case change.TypeEnum:
		return bt == btEnum
	case change.TypeSet:
		return bt == btSet
	case change.TypeJSON:
		return bt == btJSON || bt == btBlob || bt == btBlobCompr
	case change.TypeGeometry:
		return bt == btGeometry
	case change.TypeVector:
		return bt == btVector || bt == btVarchar
	}
	return false
}

var binlogTypeNames = map[byte]string{
	btDecimal: "DECIMAL", btTiny: "TINY", btShort: "SHORT", btLong: "LONG", btFloat: "FLOAT",
	btDouble: "DOUBLE", btTimestamp: "TIMESTAMP", btLongLong: "LONGLONG", btInt24: "INT24",
	btDate: "DATE", btTime: "TIME", btDateTime: "DATETIME", btYear: "YEAR", btNewDate: "NEWDATE",
	btVarchar: "VARCHAR", btBit: "BIT", btTimestamp2: "TIMESTAMP2", btDateTime2: "DATETIME2",
	btTime2: "TIME2", btBlobCompr: "BLOB_COMPRESSED", btVarcharCompr: "VARCHAR_COMPRESSED",
	btVector: "VECTOR", btJSON: "JSON", btNewDecimal: "NEWDECIMAL", btEnum: "ENUM", btSet: "SET",
	btTinyBlob: "TINY_BLOB", btMediumBlob: "MEDIUM_BLOB", btLongBlob: "LONG_BLOB", btBlob: "BLOB",
	btVarString: "VAR_STRING", btString: "STRING", btGeometry: "GEOMETRY",
}

func binlogTypeName(bt byte) string {
	if n, ok := binlogTypeNames[bt]; ok {
		return n
	}
	return fmt.Sprintf("type %d", bt)
}

// History is the decoder's TableResolver.
var _ binlog.TableResolver = (*History)(nil)

// resolveCache holds the last TABLE_MAP a table was resolved for and the
// result, so that the steady state (the same TABLE_MAP before every rows
// event) is a comparison, not a merge.
type resolveCache struct {
	version *tableVersion
	tm      binlog.TableMap // a deep copy
	table   *change.Table
}

// at returns the version in force at pos, or nil. The common case (pos at
// or after the newest version) is one file/offset comparison.
func (st *tableState) at(f change.Flavor, pos change.Position) *tableVersion {
	n := len(st.versions)
	if n == 0 {
		return nil
	}
	last := st.versions[n-1]
	if !fileBefore(pos, last.pos) {
		return last
	}
	// By file the position is before the newest version. With GTIDs that
	// may be wrong (a failover to a server with other file numbers): ask
	// them, from the newest version back.
	for i := n - 1; i >= 0; i-- {
		v := st.versions[i]
		after, ok, err := atOrAfter(f, pos, v.pos)
		if err != nil || !ok {
			after = !fileBefore(pos, v.pos)
		}
		if after {
			return v
		}
	}
	return nil
}

func (c *resolveCache) matches(v *tableVersion, tm *binlog.TableMap) bool {
	if c.version != v || c.table == nil {
		return false
	}
	o := &c.tm
	return o.Schema == tm.Schema && o.Table == tm.Table && o.HasMetadata == tm.HasMetadata &&
		slices.Equal(o.Types, tm.Types) && slices.Equal(o.Meta, tm.Meta) &&
		slices.Equal(o.Nullable, tm.Nullable) && slices.Equal(o.Unsigned, tm.Unsigned) &&
		slices.Equal(o.Collations, tm.Collations) && slices.Equal(o.Names, tm.Names) &&
		equalNested(o.EnumValues, tm.EnumValues) && equalNested(o.SetValues, tm.SetValues) &&
		slices.Equal(o.GeoTypes, tm.GeoTypes) && slices.Equal(o.PrimaryKey, tm.PrimaryKey) &&
		slices.Equal(o.Visible, tm.Visible) && slices.Equal(o.VectorDims, tm.VectorDims)
}

func equalNested(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// copyTableMap copies what the cache compares: the decoder may reuse the
// event's buffers.
func copyTableMap(tm *binlog.TableMap) binlog.TableMap {
	c := *tm
	c.Types = slices.Clone(tm.Types)
	c.Meta = slices.Clone(tm.Meta)
	c.Nullable = slices.Clone(tm.Nullable)
	c.Unsigned = slices.Clone(tm.Unsigned)
	c.Collations = slices.Clone(tm.Collations)
	c.Names = slices.Clone(tm.Names)
	c.EnumValues = cloneNested(tm.EnumValues)
	c.SetValues = cloneNested(tm.SetValues)
	c.GeoTypes = slices.Clone(tm.GeoTypes)
	c.PrimaryKey = slices.Clone(tm.PrimaryKey)
	c.Visible = slices.Clone(tm.Visible)
	c.VectorDims = slices.Clone(tm.VectorDims)
	c.PrimaryKeyPrefix = slices.Clone(tm.PrimaryKeyPrefix)
	return c
}

func cloneNested(a [][]string) [][]string {
	if a == nil {
		return nil
	}
	c := make([][]string, len(a))
	for i := range a {
		c[i] = slices.Clone(a[i])
	}
	return c
}

// ResolveTable implements binlog.TableResolver: it returns the definition
// of the TABLE_MAP's table in force at pos, merged with what the event's
// optional metadata says (the event is the truth where they differ). It
// fails with an error naming the table and the position when the table is
// unknown (and the event has no column names to build it from), when the
// column counts differ, or when a column's binlog type cannot be the
// history's type: the history has drifted from the source.
//
// The result is shared and must not be modified. In the steady state the
// call is a map lookup and a comparison with the previous TABLE_MAP; it does
// not allocate.
func (h *History) ResolveTable(tm *binlog.TableMap, pos change.Position) (*change.Table, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := tableKey{h.fold(tm.Schema), h.fold(tm.Table)}
	st := h.tables[k]
	var v *tableVersion
	if st != nil {
		v = st.at(h.opts.Flavor, pos)
		if st.cache.matches(v, tm) {
			return st.cache.table, nil
		}
	}
	return h.resolveSlow(k, st, v, tm, pos)
}

func (h *History) resolveSlow(k tableKey, st *tableState, v *tableVersion, tm *binlog.TableMap, pos change.Position) (*change.Table, error) {
	n := len(tm.Types)
	name := tm.Schema + "." + tm.Table
	if len(tm.Nullable) != n && tm.Nullable != nil || len(tm.Meta) != n && tm.Meta != nil {
		return nil, fmt.Errorf("schema history %q: table %s at %s: malformed TABLE_MAP (%d types, %d metadata, %d null flags)",
			h.opts.Name, name, pos, n, len(tm.Meta), len(tm.Nullable))
	}
	fullNames := len(tm.Names) == n && n > 0
	latest := st == nil || len(st.versions) == 0 || v == st.versions[len(st.versions)-1]
	var def *tableDef
	if v != nil {
		def = v.def
	}
	if def == nil || def.Refresh != "" {
		if !fullNames {
			return nil, h.unknownTableError(name, st, def, pos)
		}
		if !latest {
			return nil, fmt.Errorf("schema history %q: table %s has no definition at %s (it was dropped or unknown then)", h.opts.Name, name, pos)
		}
		built := h.buildFromTableMap(tm, def)
		why := "unknown to the history"
		if def != nil {
			why = "stale: " + def.Refresh
		}
		h.log.Warn("table definition built from the TABLE_MAP's full metadata", "table", name, "pos", pos.String(), "reason", why)
		st, v = h.recordFromTableMap(k, built, pos, "table "+name+" was "+why+"; built from its TABLE_MAP")
		def = built
	}
	cols := def.Table.Columns
	if len(cols) != n {
		return nil, fmt.Errorf("schema history %q: table %s at %s: the binlog event has %d columns but the history has %d (%s); "+
			"the history has drifted from the source (a DDL it did not see?): rebuild it from the live server, or restart from a position where it is known",
			h.opts.Name, name, pos, n, len(cols), columnList(cols))
	}
	if fullNames {
		renamed := false
		for i := range cols {
			if !strings.EqualFold(cols[i].Name, tm.Names[i]) {
				renamed = true
				break
			}
		}
		if renamed {
			fixed := def.clone()
			for i := range fixed.Table.Columns {
				if old := fixed.Table.Columns[i].Name; old != tm.Names[i] {
					fixed.renameColumn(old, tm.Names[i])
					fixed.Table.Columns[i].Name = tm.Names[i]
				}
			}
			fixed.finalize()
			h.log.Warn("column names in the TABLE_MAP differ from the history's; the TABLE_MAP is the truth",
				"table", name, "pos", pos.String(), "history", columnList(cols), "binlog", strings.Join(tm.Names, ","))
			if latest {
				st, v = h.recordFromTableMap(k, fixed, pos, "column names of "+name+" corrected from its TABLE_MAP")
			}
			def = fixed
			cols = def.Table.Columns
		}
	}
	for i := range cols {
		if bt := realType(tm, i); !compatible(cols[i].Type, bt) {
			return nil, fmt.Errorf("schema history %q: table %s at %s: column %d (%s) is %s in the history but the binlog event writes %s: "+
				"the history has drifted from the source; rebuild it from the live server, or restart from a position where it is known",
				h.opts.Name, name, pos, i+1, cols[i].Name, cols[i].SQLType, binlogTypeName(bt))
		}
	}
	t := h.mergeTableMap(def, tm, pos)
	if st != nil {
		st.cache = resolveCache{version: v, tm: copyTableMap(tm), table: t}
	}
	return t, nil
}

func columnList(cols []change.Column) string {
	names := make([]string, len(cols))
	for i := range cols {
		names[i] = cols[i].Name
	}
	return strings.Join(names, ",")
}

func (h *History) unknownTableError(name string, st *tableState, def *tableDef, pos change.Position) error {
	if def != nil && def.Refresh != "" {
		return fmt.Errorf("schema history %q: table %s at %s needs a refresh (%s) and its TABLE_MAP carries no column names "+
			"(binlog_row_metadata is not FULL): set binlog_row_metadata=FULL on the source, or rebuild the history from the live server",
			h.opts.Name, name, pos, def.Refresh)
	}
	if st != nil && len(st.versions) > 0 && st.versions[0].def != nil && fileBefore(pos, st.versions[0].pos) {
		return fmt.Errorf("schema history %q: table %s has no definition at %s: the history's oldest version of it is at %s; "+
			"start from a position the history covers, or rebuild it", h.opts.Name, name, pos, st.versions[0].pos)
	}
	return fmt.Errorf("schema history %q: table %s is unknown at %s and its TABLE_MAP carries no column names "+
		"(binlog_row_metadata is not FULL): bootstrap the history from the live server when starting at its current position, "+
		"or start from a position where the history knows the table", h.opts.Name, name, pos)
}

// recordFromTableMap adds a version made from a TABLE_MAP; it is stored with
// the next DDL or Flush (ResolveTable does no I/O).
func (h *History) recordFromTableMap(k tableKey, d *tableDef, pos change.Position, note string) (*tableState, *tableVersion) {
	data := recordData{Tables: []tableDelta{{Schema: d.Table.Schema, Name: d.Table.Name, Def: d}}}
	raw, err := jsonMarshal(data)
	if err == nil {
		h.seq++
		h.pending = append(h.pending, Record{Seq: h.seq, Kind: KindTableMap, Pos: pos, Schema: d.Table.Schema, DDL: note, Data: raw, Time: now()})
		h.applyData(h.seq, pos, &data)
	} else {
		h.log.Warn("schema version not recorded", "table", k.String(), "error", err)
	}
	st := h.tables[k]
	if st == nil {
		// Only when encoding failed: keep the definition in memory.
		st = &tableState{key: k}
		h.tables[k] = st
		st.versions = append(st.versions, &tableVersion{seq: h.seq, pos: pos, def: d})
	}
	return st, st.versions[len(st.versions)-1]
}

// mergeTableMap returns the table the decoder uses: the history's
// definition where the event says nothing, the event's metadata where it
// speaks. It returns the history's own Table when they agree.
func (h *History) mergeTableMap(def *tableDef, tm *binlog.TableMap, pos change.Position) *change.Table {
	base := &def.Table
	t := base
	edit := func() *change.Table {
		if t == base {
			t = base.Clone()
		}
		return t
	}
	var notes []string
	for i := range base.Columns {
		c := &base.Columns[i]
		if i < len(tm.Nullable) && tm.Nullable[i] != c.Nullable {
			edit().Columns[i].Nullable = tm.Nullable[i]
		}
		if i < len(tm.Unsigned) && (isInteger(c.Type) || c.Type == change.TypeDecimal || c.Type == change.TypeFloat || c.Type == change.TypeDouble) {
			if tm.Unsigned[i] != c.Unsigned {
				if !def.FromTableMap {
					notes = append(notes, c.Name+" signedness")
				}
				edit().Columns[i].Unsigned = tm.Unsigned[i]
			}
		}
		if i < len(tm.Collations) && tm.Collations[i] != 0 && hasCharset(c.Type) {
			if cs, co, ok := collations.ByID(tm.Collations[i]); ok && (cs != c.Charset || co != c.Collation) {
				if c.Charset != "" {
					notes = append(notes, c.Name+" charset "+c.Collation+"->"+co)
				}
				e := &edit().Columns[i]
				e.Charset, e.Collation = cs, co
				e.Type = textOrBinary(e.Type, cs == "binary")
			}
		}
		if c.Type == change.TypeEnum && i < len(tm.EnumValues) && tm.EnumValues[i] != nil && !slices.Equal(tm.EnumValues[i], c.Elems) {
			if c.Elems != nil {
				notes = append(notes, c.Name+" enum values")
			}
			edit().Columns[i].Elems = slices.Clone(tm.EnumValues[i])
		}
		if c.Type == change.TypeSet && i < len(tm.SetValues) && tm.SetValues[i] != nil && !slices.Equal(tm.SetValues[i], c.Elems) {
			if c.Elems != nil {
				notes = append(notes, c.Name+" set values")
			}
			edit().Columns[i].Elems = slices.Clone(tm.SetValues[i])
		}
		if i < len(tm.Visible) && tm.Visible[i] == c.Invisible {
			edit().Columns[i].Invisible = !tm.Visible[i]
		}
		if c.Type == change.TypeVector && i < len(tm.VectorDims) && int(tm.VectorDims[i]) != c.Length && tm.VectorDims[i] != 0 {
			edit().Columns[i].Length = int(tm.VectorDims[i])
		}
		if i < len(tm.Meta) {
			meta := tm.Meta[i]
			switch realType(tm, i) {
			case btNewDecimal:
				p, s := int(meta>>8), int(meta&0xff)
				if p != c.Precision || s != c.Scale {
					notes = append(notes, c.Name+" precision")
					e := &edit().Columns[i]
					e.Precision, e.Scale = p, s
				}
			case btTime2, btDateTime2, btTimestamp2:
				if int(meta) != c.Scale {
					notes = append(notes, c.Name+" fractional seconds")
					edit().Columns[i].Scale = int(meta)
				}
			case btBit:
				if n := int(meta>>8)*8 + int(meta&0xff); n != c.Length {
					notes = append(notes, c.Name+" bit length")
					edit().Columns[i].Length = n
				}
			}
		}
	}
	if tm.PrimaryKey != nil && !slices.Equal(tm.PrimaryKey, base.PrimaryKey) {
		if base.PrimaryKey != nil {
			notes = append(notes, "primary key")
		}
		edit().PrimaryKey = slices.Clone(tm.PrimaryKey)
	}
	if len(notes) > 0 {
		h.log.Warn("the TABLE_MAP's metadata differs from the history; the TABLE_MAP is used",
			"table", base.QualifiedName(), "pos", pos.String(), "differences", strings.Join(notes, "; "))
	}
	return t
}

func isInteger(t change.ColumnType) bool {
	switch t {
	case change.TypeTinyInt, change.TypeSmallInt, change.TypeMediumInt, change.TypeInt, change.TypeBigInt:
		return true
	}
	return false
}

func hasCharset(t change.ColumnType) bool {
	switch t {
	case change.TypeChar, change.TypeVarChar, change.TypeText, change.TypeEnum, change.TypeSet,
		change.TypeBinary, change.TypeVarBinary, change.TypeBlob:
		return true
	}
	return false
}

// textOrBinary switches a string type between its text and binary forms.
func textOrBinary(t change.ColumnType, binary bool) change.ColumnType {
	switch t {
	case change.TypeChar, change.TypeBinary:
		return pick(binary, change.TypeBinary, change.TypeChar)
	case change.TypeVarChar, change.TypeVarBinary:
		return pick(binary, change.TypeVarBinary, change.TypeVarChar)
	case change.TypeText, change.TypeBlob:
		return pick(binary, change.TypeBlob, change.TypeText)
	}
	return t
}
