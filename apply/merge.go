package apply

import (
	"hash/maphash"

	"github.com/sluice-db/sluice/change"
)

// TableOps is what a group does to one target table once the changes to each
// row are merged: the rows to delete (by key), the rows to write in full
// (upsert), and, for tables without a key, the changes in source order.
type TableOps struct {
	Table *change.Table
	// Key is the columns that identify a row (change.Table.Key); nil when the
	// table has none and Serial holds its changes.
	Key []int
	// Deletes are the images whose key columns name rows to delete. They run
	// before Upserts.
	Deletes []change.Row
	// Upserts are final row images to write over rows the target has. An
	// image may have absent columns (binlog_row_image=MINIMAL); only
	// present columns are written.
	Upserts []change.Row
	// Inserts are final images of rows the target did not have when the
	// group began. They are written with a plain INSERT, which the server
	// runs faster than an upsert, and as an upsert again if the row turns
	// out to be there after all (a reset to an earlier position, rows of an
	// initial copy).
	Inserts []change.Row
	// Serial holds, in source order, the changes of a table without a key,
	// or of a table whose partial row images (binlog_row_image=MINIMAL)
	// cannot be merged safely because it has other unique keys.
	Serial []change.RowChange
	serial bool

	entries []entry
	index   map[uint64]int32 // key hash -> first entry with that hash
	// uniqueOthers are the unique keys other than Key. When one of their
	// values changes, the row is deleted and written again so that
	// swapped unique values never collide in the middle of a group.
	uniqueOthers [][]int
}

// entry is the merged state of one row within a group.
type entry struct {
	hash          uint64
	next          int32       // next entry with the same hash, or -1
	id            change.Row  // an image that carries the row's key values
	existedBefore bool        // the row was on the target when the group began
	existsAfter   bool        // the row is on the target when the group ends
	likelyNew     bool        // first seen as a copied row: write it as new, falling back to an upsert
	before        change.Row  // the row's image when the group began (existedBefore)
	after         change.Row  // the row's final image (existsAfter)
	txn           *change.Txn // the last transaction that changed the row
}

// merger folds the changes of consecutive transactions into per-table
// operations. The zero value is not usable; see newMerger.
type merger struct {
	// txn is the transaction whose changes are being added.
	txn *change.Txn
	// copied is set while a copied row is being added.
	copied bool
	seed   maphash.Seed
	h      maphash.Hash
	tables map[*change.Table]*TableOps
	order  []*TableOps
}

func newMerger(seed maphash.Seed) *merger {
	m := &merger{seed: seed, tables: map[*change.Table]*TableOps{}}
	m.h.SetSeed(seed)
	return m
}

func (m *merger) ops(t *change.Table) *TableOps {
	if o := m.tables[t]; o != nil {
		return o
	}
	o := &TableOps{Table: t, Key: t.Key(), index: map[uint64]int32{}}
	for _, uk := range t.UniqueKeys {
		if !sameCols(uk, o.Key) {
			o.uniqueOthers = append(o.uniqueOthers, uk)
		}
	}
	if len(t.PrimaryKey) > 0 && !sameCols(t.PrimaryKey, o.Key) {
		o.uniqueOthers = append(o.uniqueOthers, t.PrimaryKey)
	}
	m.tables[t] = o
	m.order = append(m.order, o)
	return o
}

func sameCols(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// add merges one row change.
func (m *merger) add(c *change.RowChange) {
	o := m.ops(c.Table)
	if o.Key == nil || o.serial {
		o.Serial = append(o.Serial, *c)
		return
	}
	if len(o.uniqueOthers) > 0 && len(o.entries) == 0 && (partial(c.Before) || partial(c.After)) {
		// Without full images a row whose other unique key changes cannot be
		// deleted and written again; keep the source's order instead.
		o.serial = true
		o.Serial = append(o.Serial, *c)
		return
	}
	switch c.Op {
	case change.Insert:
		m.write(o, c.After, nil)
	case change.Delete:
		m.remove(o, c.Before)
	case change.Update:
		if keyMoved(o.Key, c.Before, c.After) {
			// A new key is a different row: the old one goes, the new one
			// comes.
			m.remove(o, c.Before)
			m.write(o, c.After, nil)
			return
		}
		m.copied = c.Copied
		m.write(o, c.After, c.Before)
		m.copied = false
	}
}

// keyMoved reports whether an update changes the row's key. An after image
// that does not carry a key column (MINIMAL images) keeps the old value.
func keyMoved(key []int, before, after change.Row) bool {
	for _, k := range key {
		if after[k].Kind == change.KindAbsent {
			continue
		}
		if !before[k].Equal(after[k]) {
			return true
		}
	}
	return false
}

func (m *merger) keyHash(key []int, img change.Row) uint64 {
	m.h.Reset()
	for _, k := range key {
		img[k].Hash(&m.h)
	}
	return m.h.Sum64()
}

func (m *merger) find(o *TableOps, img change.Row) (int32, uint64) {
	h := m.keyHash(o.Key, img)
	i, ok := o.index[h]
	if !ok {
		return -1, h
	}
	for ; i >= 0; i = o.entries[i].next {
		e := &o.entries[i]
		if e.hash == h && keyEqual(o.Key, e.id, img) {
			return i, h
		}
	}
	return -1, h
}

func keyEqual(key []int, a, b change.Row) bool {
	for _, k := range key {
		if !a[k].Equal(b[k]) {
			return false
		}
	}
	return true
}

func (m *merger) newEntry(o *TableOps, h uint64, id change.Row, e entry) {
	e.hash = h
	e.id = id
	e.txn = m.txn
	e.next = -1
	if head, ok := o.index[h]; ok {
		e.next = head
	}
	o.entries = append(o.entries, e)
	o.index[h] = int32(len(o.entries) - 1)
}

// write records that the row with after's key exists after the change with
// image after. before is the row's image before the change when it is an
// update (nil for an insert).
func (m *merger) write(o *TableOps, after, before change.Row) {
	id := before
	if id == nil {
		id = after
	}
	i, h := m.find(o, id)
	if i < 0 {
		e := entry{existedBefore: before != nil, existsAfter: true, before: before, likelyNew: m.copied}
		e.after = overlay(nil, before, after, o.Key)
		m.newEntry(o, h, id, e)
		return
	}
	e := &o.entries[i]
	e.txn = m.txn
	if !e.existsAfter {
		// Deleted earlier in the group and written again: the new image
		// stands on its own.
		e.after = overlay(nil, before, after, o.Key)
	} else {
		e.after = overlay(e.after, before, after, o.Key)
	}
	e.existsAfter = true
}

func (m *merger) remove(o *TableOps, before change.Row) {
	i, h := m.find(o, before)
	if i < 0 {
		m.newEntry(o, h, before, entry{existedBefore: true, before: before})
		return
	}
	e := &o.entries[i]
	e.txn = m.txn
	e.existsAfter = false
	e.after = nil
}

// overlay returns the row image after applying img on top of prev (the row's
// image so far in the group, nil if none). A full image simply replaces it;
// a partial one (absent columns) is laid over prev, or over the key columns
// of before, so that the key is always present.
func overlay(prev, before, img change.Row, key []int) change.Row {
	if !partial(img) {
		return img
	}
	out := make(change.Row, len(img))
	if prev != nil {
		copy(out, prev)
	} else if before != nil {
		for _, k := range key {
			out[k] = before[k]
		}
	}
	for i, v := range img {
		if v.Kind != change.KindAbsent {
			out[i] = v
		}
	}
	return out
}

func partial(r change.Row) bool {
	for i := range r {
		if r[i].Kind == change.KindAbsent {
			return true
		}
	}
	return false
}

// finish turns the merged entries into Deletes and Upserts. The entries
// stay, for a two-way pipeline's conflict check, which may drop some and
// build the operations again.
func (o *TableOps) finish() {
	o.build(nil)
	o.index = nil
}

// build makes Deletes and Upserts from the entries not dropped.
func (o *TableOps) build(dropped []bool) {
	o.Deletes, o.Upserts, o.Inserts = o.Deletes[:0], o.Upserts[:0], o.Inserts[:0]
	for i := range o.entries {
		if dropped != nil && dropped[i] {
			continue
		}
		e := &o.entries[i]
		switch {
		case e.existsAfter:
			// A partial image cannot be written again after a delete; the
			// upsert alone then fails loudly on a unique collision rather
			// than lose columns.
			if e.existedBefore && !partial(e.after) && o.uniqueMoved(e) {
				o.Deletes = append(o.Deletes, e.before)
			}
			if (e.existedBefore && !e.likelyNew) || partial(e.after) {
				o.Upserts = append(o.Upserts, e.after)
			} else {
				o.Inserts = append(o.Inserts, e.after)
			}
		case e.existedBefore:
			o.Deletes = append(o.Deletes, e.before)
		}
	}
}

// uniqueMoved reports whether a row that stays changes the value of another
// unique key. A partial image cannot tell, so it counts as moved.
func (o *TableOps) uniqueMoved(e *entry) bool {
	for _, uk := range o.uniqueOthers {
		for _, c := range uk {
			a, b := e.before[c], e.after[c]
			if a.Kind == change.KindAbsent || b.Kind == change.KindAbsent || !a.Equal(b) {
				return true
			}
		}
	}
	return false
}
