package apply

import (
	"hash/maphash"
	"time"

	"github.com/sluice-db/sluice/change"
)

// Group is a run of consecutive source transactions applied to the target as
// one transaction, together with the checkpoint that says the target now
// holds everything up to End. Grouping never splits a source transaction, so
// the target only ever shows states the source had.
type Group struct {
	Seq  uint64
	Txns []*change.Txn
	Rows int
	// End is the source position after the group's last transaction: the
	// checkpoint committed with it. Timestamp is that transaction's commit
	// time.
	End       change.Position
	Timestamp time.Time
	// Tables are the merged operations per target table, in order of first
	// appearance. Empty for a DDL group or a group that only moves the
	// position.
	Tables []*TableOps
	// DDL is set for a group that holds one DDL statement and nothing else.
	DDL *change.Txn
	// Open is set on a group that holds a fragment of a large transaction
	// other than its last: the target transaction stays open after it.
	Open bool
	// Continues is set on a group that continues the open target
	// transaction of the group before it.
	Continues bool

	// conflicts counts the rows of a two-way group that conflicted.
	conflicts int

	writes map[uint64]struct{}
	// tableWide holds hashes of tables whose every change conflicts with
	// every other change to the table (no key, or keys compared under a
	// collation sluice does not model).
	tableWide map[uint64]struct{}
}

// Empty reports whether the group only moves the checkpoint.
func (g *Group) Empty() bool { return len(g.Tables) == 0 && g.DDL == nil }

// ConflictsWith reports whether g writes a row that h writes, so that g must
// not start before h has committed. A DDL group conflicts with everything.
func (g *Group) ConflictsWith(h *Group) bool {
	if g.DDL != nil || h.DDL != nil || g.Continues || h.Open {
		return true
	}
	small, large := g.writes, h.writes
	if len(small) > len(large) {
		small, large = large, small
	}
	for k := range small {
		if _, ok := large[k]; ok {
			return true
		}
	}
	for k := range g.tableWide {
		if _, ok := h.tableWide[k]; ok {
			return true
		}
	}
	return false
}

// GroupLimits bound a group.
type GroupLimits struct {
	// MaxRows closes a group once it holds this many row changes.
	MaxRows int
	// MaxTxns closes a group once it holds this many transactions.
	MaxTxns int
}

// grouper builds groups from transactions. It is plain code over plain
// values: the applier feeds it and decides when to close a group.
type grouper struct {
	limits GroupLimits
	seed   maphash.Seed
	seq    uint64
	cur    *Group
	m      *merger
	h      maphash.Hash
}

func newGrouper(limits GroupLimits, seed maphash.Seed) *grouper {
	if limits.MaxRows <= 0 {
		limits.MaxRows = 5000
	}
	if limits.MaxTxns <= 0 {
		limits.MaxTxns = 2000
	}
	g := &grouper{limits: limits, seed: seed}
	g.h.SetSeed(seed)
	return g
}

// Fits reports whether txn may join the current group. A DDL, or a
// fragment of a large transaction, always starts its own group.
func (gr *grouper) Fits(txn *change.Txn) bool {
	if gr.cur == nil {
		return true
	}
	if gr.cur.DDL != nil || gr.cur.Open || gr.cur.Continues || txn.DDL != nil || txn.More || txn.Fragment > 0 {
		return false
	}
	return gr.cur.Rows+len(txn.Changes) <= gr.limits.MaxRows && len(gr.cur.Txns) < gr.limits.MaxTxns
}

// Full reports whether the current group should be closed now.
func (gr *grouper) Full() bool {
	c := gr.cur
	return c != nil && (c.DDL != nil || c.Open || c.Continues || c.Rows >= gr.limits.MaxRows || len(c.Txns) >= gr.limits.MaxTxns)
}

// Rows is the number of row changes in the current group.
func (gr *grouper) Rows() int {
	if gr.cur == nil {
		return 0
	}
	return gr.cur.Rows
}

// Len is the number of transactions in the current group.
func (gr *grouper) Len() int {
	if gr.cur == nil {
		return 0
	}
	return len(gr.cur.Txns)
}

// Add puts txn into the current group, starting one if needed. The caller
// checks Fits first and closes the group with Take when it does not.
func (gr *grouper) Add(txn *change.Txn) {
	if gr.cur == nil {
		gr.seq++
		gr.cur = &Group{Seq: gr.seq, writes: map[uint64]struct{}{}}
		gr.m = newMerger(gr.seed)
	}
	g := gr.cur
	g.Txns = append(g.Txns, txn)
	g.Rows += len(txn.Changes)
	if !txn.More {
		g.End = txn.End
		g.Timestamp = txn.Timestamp
	}
	if txn.DDL != nil {
		g.DDL = txn
		return
	}
	g.Open = txn.More
	g.Continues = txn.Fragment > 0
	gr.m.txn = txn
	for i := range txn.Changes {
		c := &txn.Changes[i]
		gr.m.add(c)
		gr.noteWrites(g, c)
	}
}

// Take closes the current group and returns it (nil when there is none).
func (gr *grouper) Take() *Group {
	g := gr.cur
	if g == nil {
		return nil
	}
	for _, o := range gr.m.order {
		o.finish()
		g.Tables = append(g.Tables, o)
	}
	gr.cur, gr.m = nil, nil
	return g
}

// noteWrites adds the rows a change touches to the group's write set: the
// key before and after, and the values of every other unique key, so that
// two groups that touch one row or one unique value never run at once.
func (gr *grouper) noteWrites(g *Group, c *change.RowChange) {
	t := c.Table
	key := t.Key()
	if key == nil || collatedKey(t) {
		if g.tableWide == nil {
			g.tableWide = map[uint64]struct{}{}
		}
		gr.h.Reset()
		gr.h.WriteString(t.Schema)
		gr.h.WriteByte(0)
		gr.h.WriteString(t.Name)
		g.tableWide[gr.h.Sum64()] = struct{}{}
		return
	}
	for _, img := range [2]change.Row{c.Before, c.After} {
		if img == nil {
			continue
		}
		gr.noteKey(g, t, 0, key, img)
		for i, uk := range t.UniqueKeys {
			gr.noteKey(g, t, i+1, uk, img)
		}
		if len(t.PrimaryKey) > 0 && !sameCols(t.PrimaryKey, key) {
			gr.noteKey(g, t, len(t.UniqueKeys)+1, t.PrimaryKey, img)
		}
	}
}

func (gr *grouper) noteKey(g *Group, t *change.Table, which int, cols []int, img change.Row) {
	// A column absent from this image: the other image names the row.
	if k, ok := writeKey(&gr.h, t, which, cols, img); ok {
		g.writes[k] = struct{}{}
	}
}

// collatedKey reports whether a key or unique key of t holds text compared
// under a case- or accent-insensitive collation. Two different byte strings
// may then name the same row at different times ('a' and 'A'), which byte
// hashes cannot see, so every change to such a table conflicts with every
// other.
func collatedKey(t *change.Table) bool {
	check := func(cols []int) bool {
		for _, c := range cols {
			col := &t.Columns[c]
			if col.Type.IsString() && col.Charset != "binary" && !isBinaryCollation(col.Collation) {
				return true
			}
		}
		return false
	}
	if check(t.PrimaryKey) {
		return true
	}
	for _, uk := range t.UniqueKeys {
		if check(uk) {
			return true
		}
	}
	return false
}

func isBinaryCollation(c string) bool {
	return c == "binary" || len(c) > 4 && c[len(c)-4:] == "_bin"
}
