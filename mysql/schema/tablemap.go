package schema

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
)

// buildFromTableMap makes a table definition from a TABLE_MAP event that
// carries full metadata (column names; binlog_row_metadata=FULL). Types,
// lengths and charsets come from the event; unique keys and defaults it does
// not carry. When old is the table's stale definition, what the event cannot
// say (defaults, generated, SQL types, unique keys) is kept for columns whose
// name and type still match.
func (h *History) buildFromTableMap(tm *binlog.TableMap, old *tableDef) *tableDef {
	schema, name := h.storedName(tm.Schema), h.storedName(tm.Table)
	d := &tableDef{Table: change.Table{Schema: schema, Name: name}, FromTableMap: true}
	if db := h.dbs[h.fold(schema)]; db != nil {
		d.Table.Charset, d.Table.Collation = db.Charset, db.Collation
	}
	if old != nil && old.Table.Charset != "" {
		d.Table.Charset, d.Table.Collation = old.Table.Charset, old.Table.Collation
	}
	env := columnEnv{flavor: h.opts.Flavor}
	d.Table.Columns = make([]change.Column, len(tm.Types))
	for i := range tm.Types {
		c := &d.Table.Columns[i]
		c.Name = tm.Names[i]
		c.Nullable = i < len(tm.Nullable) && tm.Nullable[i]
		var meta uint16
		if i < len(tm.Meta) {
			meta = tm.Meta[i]
		}
		if i < len(tm.Unsigned) {
			c.Unsigned = tm.Unsigned[i]
		}
		if i < len(tm.Collations) && tm.Collations[i] != 0 {
			c.Charset, c.Collation, _ = collations.ByID(tm.Collations[i])
		}
		bin := i < len(tm.Collations) && tm.Collations[i] == binaryCollation
		if i < len(tm.Visible) {
			c.Invisible = !tm.Visible[i]
		}
		maxBytes := charsetMaxBytes(c.Charset)
		bt := realType(tm, i)
		switch bt {
		case btTiny:
			c.Type = change.TypeTinyInt
		case btShort:
			c.Type = change.TypeSmallInt
		case btInt24:
			c.Type = change.TypeMediumInt
		case btLong:
			c.Type = change.TypeInt
		case btLongLong:
			c.Type = change.TypeBigInt
		case btNewDecimal, btDecimal:
			c.Type, c.Precision, c.Scale = change.TypeDecimal, int(meta>>8), int(meta&0xff)
		case btFloat:
			c.Type = change.TypeFloat
		case btDouble:
			c.Type = change.TypeDouble
		case btBit:
			c.Type, c.Length = change.TypeBit, int(meta>>8)*8+int(meta&0xff)
		case btYear:
			c.Type = change.TypeYear
		case btDate, btNewDate:
			c.Type = change.TypeDate
		case btTime, btTime2:
			c.Type, c.Scale = change.TypeTime, pick(bt == btTime2, int(meta), 0)
		case btDateTime, btDateTime2:
			c.Type, c.Scale = change.TypeDateTime, pick(bt == btDateTime2, int(meta), 0)
		case btTimestamp, btTimestamp2:
			c.Type, c.Scale = change.TypeTimestamp, pick(bt == btTimestamp2, int(meta), 0)
		case btVarchar, btVarString, btVarcharCompr:
			c.Type = pick(bin, change.TypeVarBinary, change.TypeVarChar)
			c.Length = int(meta) / pick(bin, 1, maxBytes)
		case btString:
			b0, b1 := int(meta>>8), int(meta&0xff)
			n := (b0&0x30^0x30)<<4 | b1
			c.Type = pick(bin, change.TypeBinary, change.TypeChar)
			c.Length = n / pick(bin, 1, maxBytes)
		case btEnum:
			c.Type = change.TypeEnum
			if i < len(tm.EnumValues) {
				c.Elems = slices.Clone(tm.EnumValues[i])
			}
		case btSet:
			c.Type = change.TypeSet
			if i < len(tm.SetValues) {
				c.Elems = slices.Clone(tm.SetValues[i])
			}
		case btTinyBlob, btBlob, btMediumBlob, btLongBlob, btBlobCompr:
			c.Type = pick(bin, change.TypeBlob, change.TypeText)
			prefix := [...]string{"tiny", "tiny", "", "medium", "long"}[min(int(meta), 4)]
			c.SQLType = prefix + pick(bin, "blob", "text")
			if bt == btBlobCompr {
				c.SQLType += " /*M!100301 COMPRESSED*/"
			}
		case btJSON:
			c.Type = change.TypeJSON
		case btGeometry:
			c.Type, c.SQLType = change.TypeGeometry, "geometry"
		case btVector:
			c.Type = change.TypeVector
			if i < len(tm.VectorDims) {
				c.Length = int(tm.VectorDims[i])
			}
		}
		if !hasCharset(c.Type) {
			c.Charset, c.Collation = "", ""
		}
		if c.SQLType == "" && c.Type != change.TypeUnknown {
			c.SQLType = env.sqlType(c, -1, -1, false)
			if bt == btVarcharCompr {
				c.SQLType += " /*M!100301 COMPRESSED*/"
			}
		}
		if old != nil {
			if j := old.column(c.Name); j >= 0 {
				o := old.Table.Columns[j]
				if o.Type == c.Type {
					c.Default, c.Generated, c.SQLType = o.Default, o.Generated, o.SQLType
					if c.Elems == nil {
						c.Elems = o.Elems
					}
				}
			}
		}
	}
	if len(tm.PrimaryKey) > 0 {
		cols := make([]string, 0, len(tm.PrimaryKey))
		for _, i := range tm.PrimaryKey {
			if i >= 0 && i < len(d.Table.Columns) {
				cols = append(cols, d.Table.Columns[i].Name)
			}
		}
		d.Indexes = append(d.Indexes, indexDef{Name: "PRIMARY", Kind: indexPrimary, Columns: cols})
	}
	if old != nil {
		for _, ix := range old.Indexes {
			if ix.Kind == indexPrimary && len(tm.PrimaryKey) > 0 {
				continue
			}
			all := true
			for _, c := range ix.Columns {
				all = all && c != "" && d.column(c) >= 0
			}
			if all {
				d.Indexes = append(d.Indexes, ix)
			}
		}
		d.RowStart, d.RowEnd = old.RowStart, old.RowEnd
	}
	d.finalize()
	// The event's null flags are the truth, primary key or not.
	for i := range d.Table.Columns {
		if i < len(tm.Nullable) {
			d.Table.Columns[i].Nullable = tm.Nullable[i]
		}
	}
	return d
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func now() time.Time { return time.Now().UTC() }

func sortTables(ts []*change.Table) {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Schema != ts[j].Schema {
			return ts[i].Schema < ts[j].Schema
		}
		return ts[i].Name < ts[j].Name
	})
}

// sortDeltas orders a catalog so that snapshots of the same state are equal.
func sortDeltas(d *recordData) {
	sort.Slice(d.Databases, func(i, j int) bool { return d.Databases[i].Key < d.Databases[j].Key })
	sort.Slice(d.Tables, func(i, j int) bool {
		a, b := d.Tables[i], d.Tables[j]
		if a.Schema != b.Schema {
			return a.Schema < b.Schema
		}
		return strings.Compare(a.Name, b.Name) < 0
	})
}
