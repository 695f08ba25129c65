package snapshot

import (
	"github.com/sluice-db/sluice/change"
)

// table is one source table of the copy. Fields under "plan" belong to the
// planner (Copier.planMu); the others to the copier's lock (Copier.mu).
type table struct {
	def *change.Table // the definition chunks are read with
	// key is the columns chunks are ordered and windows keyed by: the
	// primary key or a unique key of NOT NULL columns. nil: the table is
	// copied in one pass.
	key     []int
	target  *change.Table
	project []int

	ddl      uint64   // DDL statements seen on the table in the stream
	windows  int      // chunks registered and not taken
	emitted  bool     // keyless: its one chunk is emitted
	planned  bool     // the final chunk is handed out (or the table is gone)
	done     bool     // every chunk is emitted
	queued   bool     // waits for a done-only transaction
	gone     bool     // dropped or renamed on the source during the copy
	handed   int      // chunks handed out and not emitted
	copied   uint64   // rows read by emitted chunks
	indexes  []string // deferred index definitions the target still lacks
	estimate uint64
	// streamEnd is the End of the last transaction changing the table
	// that the stream delivered (window.go).
	streamEnd change.Position

	// plan
	defDDL    uint64 // the DDL count def was loaded at
	next      []change.Value
	nextSeq   uint64
	intKey    bool
	maxKey    change.Value
	width     uint64 // int key: key span of the next chunk
	chunkRows int
}

func (tb *table) keyless() bool { return tb.key == nil }

func (tb *table) name() string { return tb.def.Schema + "." + tb.def.Name }

// chooseKey picks the chunk key of a source table: its primary key, else
// its first unique key of NOT NULL columns. A target without a key (the
// mapping left its key columns out) makes the table keyless too: its rows
// could not be written again idempotently.
func chooseKey(def, target *change.Table) []int {
	if target != nil && target.Key() == nil {
		return nil
	}
	if len(def.PrimaryKey) > 0 {
		return def.PrimaryKey
	}
	for _, uk := range def.UniqueKeys {
		ok := true
		for _, c := range uk {
			if def.Columns[c].Nullable {
				ok = false
				break
			}
		}
		if ok {
			return uk
		}
	}
	return nil
}

// intChunkable reports whether a key can be chunked by arithmetic: one
// integer column.
func intChunkable(def *change.Table, key []int) bool {
	if len(key) != 1 {
		return false
	}
	switch def.Columns[key[0]].Type {
	case change.TypeTinyInt, change.TypeSmallInt, change.TypeMediumInt, change.TypeInt, change.TypeBigInt:
		return true
	}
	return false
}

// projectRow maps a source row to the target's columns.
func projectRow(r change.Row, cols []int) change.Row {
	if cols == nil {
		return r
	}
	out := make(change.Row, len(cols))
	for i, c := range cols {
		out[i] = r[c]
	}
	return out
}

// sameShape reports whether two definitions of a target table name the
// same columns and key, so that rows of one may be written as rows of the
// other.
func sameShape(a, b *change.Table) bool {
	if len(a.Columns) != len(b.Columns) || len(a.PrimaryKey) != len(b.PrimaryKey) {
		return false
	}
	for i := range a.Columns {
		if a.Columns[i].Name != b.Columns[i].Name {
			return false
		}
	}
	ka, kb := a.Key(), b.Key()
	if len(ka) != len(kb) {
		return false
	}
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}
