package schema

import (
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-db/sluice/change"
)

// tableDef is one version of a table's definition as the history keeps it:
// the change.Table handed to the decoder, plus what DDL needs and the model
// does not carry (index names and parts, system-versioning columns). A
// tableDef recorded in a version is never modified; DDL works on a clone.
type tableDef struct {
	Table   change.Table `json:"table"`
	Indexes []indexDef   `json:"indexes,omitempty"`
	// RowStart and RowEnd name MariaDB's system-versioning columns.
	RowStart string `json:"row_start,omitempty"`
	RowEnd   string `json:"row_end,omitempty"`
	// HiddenVersioning says RowStart and RowEnd are the implicit columns
	// MariaDB adds last and hides from SHOW CREATE TABLE; new columns go
	// before them.
	HiddenVersioning bool `json:"hidden_versioning,omitempty"`
	// Refresh, when set, says the definition went stale at a DDL the
	// history could not read (it holds the reason); the table's next
	// TABLE_MAP with full metadata, or a live SHOW CREATE TABLE, replaces it.
	Refresh string `json:"refresh,omitempty"`
	// FromTableMap says the definition was built from a TABLE_MAP event's
	// metadata rather than from DDL: it lacks unique keys and defaults.
	FromTableMap bool `json:"from_table_map,omitempty"`
}

type indexKind string

const (
	indexPrimary  indexKind = "primary"
	indexUnique   indexKind = "unique"
	indexPlain    indexKind = "index"
	indexFulltext indexKind = "fulltext"
	indexSpatial  indexKind = "spatial"
	indexVector   indexKind = "vector"
)

// indexDef is one index. Columns holds the names of its key parts; an
// expression part (MySQL 8 functional index) is "".
type indexDef struct {
	Name    string    `json:"name"`
	Kind    indexKind `json:"kind"`
	Columns []string  `json:"columns"`
	// Partial is set when a key part is a prefix of its column; the
	// server orders such unique keys after the others.
	Partial bool `json:"partial,omitempty"`
}

func (d *tableDef) clone() *tableDef {
	c := *d
	c.Table = *d.Table.Clone()
	if len(c.Table.UniqueKeys) == 0 {
		c.Table.UniqueKeys = nil // as finalize leaves it, so that versions compare equal
	}
	c.Indexes = make([]indexDef, len(d.Indexes))
	for i, ix := range d.Indexes {
		ix.Columns = append([]string(nil), ix.Columns...)
		c.Indexes[i] = ix
	}
	return &c
}

func (d *tableDef) column(name string) int { return d.Table.ColumnIndex(name) }

func (d *tableDef) index(name string) int {
	for i := range d.Indexes {
		if strings.EqualFold(d.Indexes[i].Name, name) {
			return i
		}
	}
	return -1
}

func (d *tableDef) primary() int {
	for i := range d.Indexes {
		if d.Indexes[i].Kind == indexPrimary {
			return i
		}
	}
	return -1
}

// uniqueIndexName picks the name MySQL gives an unnamed index: its first
// column's name, then name_2, name_3, ... while taken.
func (d *tableDef) uniqueIndexName(base string) string {
	if base == "" {
		base = "idx"
	}
	if d.index(base) < 0 && !strings.EqualFold(base, "PRIMARY") {
		return base
	}
	for n := 2; ; n++ {
		name := base + "_" + strconv.Itoa(n)
		if d.index(name) < 0 {
			return name
		}
	}
}

// renameColumn updates index parts after a column rename.
func (d *tableDef) renameColumn(old, new string) {
	for i := range d.Indexes {
		for j, c := range d.Indexes[i].Columns {
			if strings.EqualFold(c, old) {
				d.Indexes[i].Columns[j] = new
			}
		}
	}
	if strings.EqualFold(d.RowStart, old) {
		d.RowStart = new
	}
	if strings.EqualFold(d.RowEnd, old) {
		d.RowEnd = new
	}
}

// dropColumn removes a column and its key parts; an index left without
// parts goes too, as in MySQL.
func (d *tableDef) dropColumn(i int) {
	name := d.Table.Columns[i].Name
	d.Table.Columns = append(d.Table.Columns[:i], d.Table.Columns[i+1:]...)
	kept := d.Indexes[:0]
	for _, ix := range d.Indexes {
		cols := ix.Columns[:0]
		for _, c := range ix.Columns {
			if !strings.EqualFold(c, name) {
				cols = append(cols, c)
			}
		}
		ix.Columns = cols
		if len(cols) > 0 {
			kept = append(kept, ix)
		}
	}
	d.Indexes = kept
	if strings.EqualFold(d.RowStart, name) {
		d.RowStart = ""
	}
	if strings.EqualFold(d.RowEnd, name) {
		d.RowEnd = ""
	}
}

// finalize derives the change.Table's keys from the indexes, and makes
// primary key columns NOT NULL as the server does. Unique keys are ordered
// as InnoDB orders them: those whose columns are all NOT NULL first, then
// the rest, each group in creation order. A unique key with an expression
// part cannot identify a row by column values and is left out.
func (d *tableDef) finalize() {
	t := &d.Table
	t.PrimaryKey = nil
	t.UniqueKeys = nil
	keyCols := func(ix indexDef) ([]int, bool) {
		cols := make([]int, 0, len(ix.Columns))
		for _, c := range ix.Columns {
			i := t.ColumnIndex(c)
			if c == "" || i < 0 {
				return nil, false
			}
			cols = append(cols, i)
		}
		return cols, true
	}
	if p := d.primary(); p >= 0 {
		if cols, ok := keyCols(d.Indexes[p]); ok {
			t.PrimaryKey = cols
			for _, i := range cols {
				t.Columns[i].Nullable = false
				if t.Columns[i].Default != nil && strings.EqualFold(*t.Columns[i].Default, "NULL") {
					t.Columns[i].Default = nil
				}
			}
		}
	}
	// MySQL's sort_keys: unique keys without nullable parts first, then
	// those without prefix parts, else in creation order.
	type uk struct {
		cols            []int
		nullable, parts bool
	}
	var uks []uk
	for _, ix := range d.Indexes {
		if ix.Kind != indexUnique {
			continue
		}
		cols, ok := keyCols(ix)
		if !ok {
			continue
		}
		anyNull := false
		for _, i := range cols {
			anyNull = anyNull || t.Columns[i].Nullable
		}
		uks = append(uks, uk{cols, anyNull, ix.Partial})
	}
	sort.SliceStable(uks, func(i, j int) bool {
		a, b := uks[i], uks[j]
		if a.nullable != b.nullable {
			return !a.nullable
		}
		return !a.parts && b.parts
	})
	for _, k := range uks {
		t.UniqueKeys = append(t.UniqueKeys, k.cols)
	}
}
