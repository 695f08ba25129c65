package snapshot

import (
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/schema"
)

// The window logic (DBLog). A chunk's rows are read from the source while
// the stream goes on. Every row change the stream delivers while the
// chunk's window is open is recorded by key; when the window closes, the
// chunk's rows with those keys are dropped (the stream carries their newer
// state as full row images) and the rest are emitted into the stream at
// that point. The window must open before the read's view of the source
// and close after it:
//
//   - watermark method: it opens when the stream delivers the low
//     watermark, written on the source and committed before the read
//     started, and closes when it delivers the high watermark, written
//     after the read ended. Commits are ordered like the binlog
//     (binlog_order_commits), so every change the read saw is before the
//     high watermark, and every change it did not see is after the low one.
//   - snapshot method (MariaDB): the read runs in a consistent snapshot
//     whose exact binlog position P the server reports. The window opens
//     before the snapshot is taken and closes once the stream has
//     delivered everything up to P; changes before P are in the chunk,
//     changes after P are in the window or after the chunk. Opening the
//     window first is not enough on its own: the server sends a
//     transaction to the stream once it is in the binlog, a moment before
//     its commit is visible to reads, so the stream may have delivered a
//     change to the table (before the window opened, unrecorded) that a
//     snapshot taken just after does not see (P is before it). The window
//     therefore notes how far the stream had delivered changes to the
//     table when it opened (streamEnd); the read takes its snapshot again
//     until P reaches that point, and a chunk whose P is still before it
//     is read again.
//
// A table without a key cannot drop rows by key: its stream changes are
// held back (dropped) until its one chunk is emitted, and the chunk is
// read again when the table changed inside the window.
//
// tracker holds that logic as plain code over plain values: the copier
// feeds it transactions, watermarks and positions under its lock, and
// tests feed it by hand.
type tracker struct {
	method Method
	flavor change.Flavor
	// mark identifies this copier's watermark rows in the stream.
	mark markID
	// tables are the tables being copied, by source "schema.table".
	tables map[string]*table
	// chunks are the chunks whose window is registered, in order.
	chunks []*chunk
	// ready: the stream has delivered every transaction that ends at or
	// before it (snapshot method).
	ready change.Position
	// last is where the stream is: the End of the last transaction
	// delivered, the position emitted chunks take.
	last   change.Position
	lastTS time.Time
	// txnTables are the copied tables the transaction being observed
	// changes, and fragTables those the delivered fragments of a large
	// transaction changed (its End comes with its last fragment).
	txnTables  []*table
	fragTables []*table
}

// markID names the watermark table and this copier's rows in it.
type markID struct {
	schema, table string
	pipeline      string
	run           uint64
}

type winState uint8

const (
	waitLow winState = iota // watermark method: the low mark is not seen yet
	open                    // changes are recorded
	closed                  // the high mark is seen (watermark method)
	broken                  // a high mark came without its low mark
)

// chunk is one key range of one table on its way through a read and a
// window.
type chunk struct {
	table *table
	seq   uint64
	// lower is exclusive, upper inclusive; nil means the table's start or
	// end. final is set on the table's last chunk.
	lower, upper []change.Value
	final        bool
	span         uint64 // integer key: the keys the range spans
	want         int    // the rows it is planned to hold
	// ddl is the table's DDL count when the definition the chunk is read
	// with was loaded.
	ddl     uint64
	attempt int

	state             winState
	lowMark, highMark uint64
	snapPos           change.Position // snapshot method: the read's position
	read              bool            // rows are in
	rows              []change.Row
	readRows          int // rows read, before the window drops any
	changed           map[string]struct{}
	touched           bool            // keyless: the table changed in the window
	touchedEnd        change.Position // keyless, snapshot method: the latest such change
	// streamEnd is the End of the last transaction changing the table that
	// the stream had delivered when the window opened: changes up to it
	// are not recorded in the window, so the read's snapshot must include
	// them (snapshot method). streamMid: a large transaction changing the
	// table was partly delivered then; streamEnd is set once its last
	// fragment is.
	streamEnd change.Position
	streamMid bool
	took      time.Duration // how long the read took
	redoWhy   string        // why take returned the chunk to be read again
}

// register opens c's window (or prepares it to open at its low mark).
func (t *tracker) register(c *chunk) {
	c.state = open
	if t.method == MethodWatermark {
		c.state = waitLow
	}
	c.changed = map[string]struct{}{}
	c.streamEnd, c.streamMid = c.table.streamEnd, containsTable(t.fragTables, c.table)
	t.chunks = append(t.chunks, c)
	c.table.windows++
}

// observe looks at a transaction the stream delivers, before it is shaped
// for the target: it notes watermarks, records the keys changed inside
// open windows, counts DDL per table, and removes from txn the rows of
// keyless tables not copied yet and this copier's watermark rows.
func (t *tracker) observe(txn *change.Txn) {
	if txn.DDL != nil {
		t.observeDDL(txn.DDL)
		return
	}
	defer t.noteDelivered(txn)
	out := txn.Changes[:0]
	var key []byte
	for i := range txn.Changes {
		c := &txn.Changes[i]
		if c.Table.Name == t.mark.table && c.Table.Schema == t.mark.schema {
			if id, ok := t.readMark(c); ok {
				t.onMark(id)
			}
			continue
		}
		tb := t.tables[c.Table.Schema+"."+c.Table.Name]
		if tb == nil {
			out = append(out, *c)
			continue
		}
		t.txnTables = addTable(t.txnTables, tb)
		if tb.keyless() {
			if tb.emitted {
				out = append(out, *c)
				continue
			}
			for _, ch := range t.chunks {
				if ch.table == tb && ch.state == open {
					ch.touched = true
					if txn.More || txn.Fragment > 0 {
						ch.touchedEnd = change.Position{} // unknown: counts as after
					} else if ch.touchedEnd.IsZero() || txn.End.Compare(ch.touchedEnd) > 0 {
						ch.touchedEnd = txn.End
					}
				}
			}
			continue // held back until the table's copy is emitted
		}
		if tb.windows > 0 {
			for _, img := range [2]change.Row{c.Before, c.After} {
				if img == nil || len(img) != len(tb.def.Columns) {
					continue
				}
				key = appendKey(key[:0], img, tb.key)
				for _, ch := range t.chunks {
					if ch.table == tb && ch.state == open {
						ch.changed[string(key)] = struct{}{}
					}
				}
			}
		}
		out = append(out, *c)
	}
	clear(txn.Changes[len(out):])
	txn.Changes = out
}

// noteDelivered records, for each copied table the transaction changed,
// that the stream has delivered its changes up to the transaction's End.
// The fragments of a large transaction count once its last one comes.
func (t *tracker) noteDelivered(txn *change.Txn) {
	if txn.More {
		for _, tb := range t.txnTables {
			t.fragTables = addTable(t.fragTables, tb)
		}
		clear(t.txnTables)
		t.txnTables = t.txnTables[:0]
		return
	}
	if txn.Fragment > 0 {
		for _, tb := range t.fragTables {
			t.txnTables = addTable(t.txnTables, tb)
		}
		clear(t.fragTables)
		t.fragTables = t.fragTables[:0]
		for _, ch := range t.chunks {
			if ch.streamMid && containsTable(t.txnTables, ch.table) {
				ch.streamMid = false
				if !txn.End.IsZero() && (ch.streamEnd.IsZero() || txn.End.Compare(ch.streamEnd) > 0) {
					ch.streamEnd = txn.End
				}
			}
		}
	}
	if !txn.End.IsZero() {
		for _, tb := range t.txnTables {
			if tb.streamEnd.IsZero() || txn.End.Compare(tb.streamEnd) > 0 {
				tb.streamEnd = txn.End
			}
		}
	}
	clear(t.txnTables)
	t.txnTables = t.txnTables[:0]
}

func containsTable(list []*table, tb *table) bool {
	for _, x := range list {
		if x == tb {
			return true
		}
	}
	return false
}

func addTable(list []*table, tb *table) []*table {
	if containsTable(list, tb) {
		return list
	}
	return append(list, tb)
}

// snapshotBehind reports whether a snapshot at pos misses changes to c's
// table that the stream delivered before c's window opened: the server
// had sent them, but their commit was not visible yet.
func (t *tracker) snapshotBehind(c *chunk, pos change.Position) bool {
	return !c.streamEnd.IsZero() && pos.Compare(c.streamEnd) < 0
}

// observeDDL counts a schema change against the tables it touches: chunks
// read with the old definition are read again.
func (t *tracker) observeDDL(d *change.DDL) {
	st := schema.Describe(d.Statement, t.flavor)
	switch st.Kind {
	case schema.StatementTable:
		for _, ref := range st.Tables {
			s := ref.Schema
			if s == "" {
				s = d.Schema
			}
			if tb := t.tables[s+"."+ref.Name]; tb != nil {
				tb.ddl++
			}
		}
	case schema.StatementDatabase:
		db := st.Database
		if db == "" {
			db = d.Schema
		}
		for _, tb := range t.tables {
			if tb.def.Schema == db {
				tb.ddl++
			}
		}
	}
}

// readMark reads a watermark row: (pipeline, worker, run, seq).
func (t *tracker) readMark(c *change.RowChange) (uint64, bool) {
	img := c.After
	if len(img) < 4 || img[0].Kind != change.KindString && img[0].Kind != change.KindBytes {
		return 0, false
	}
	if string(img[0].B) != t.mark.pipeline || uint64(img[2].I) != t.mark.run {
		return 0, false
	}
	return uint64(img[3].I), true
}

func (t *tracker) onMark(id uint64) {
	for _, ch := range t.chunks {
		switch {
		case ch.lowMark == id && ch.state == waitLow:
			ch.state = open
		case ch.highMark == id:
			if ch.state == open {
				ch.state = closed
			} else if ch.state == waitLow {
				ch.state = broken
			}
		}
	}
}

// advance notes that the stream has delivered a whole transaction ending
// at end.
func (t *tracker) advance(end change.Position, ts time.Time) {
	if end.IsZero() {
		return
	}
	t.last = end
	if !ts.IsZero() {
		t.lastTS = ts
	}
	if t.ready.IsZero() || end.Compare(t.ready) > 0 {
		t.ready = end
	}
}

// progress notes a heartbeat: when capture is caught up, everything up to
// the source's end has been delivered.
func (t *tracker) progress(pos, sourceEnd change.Position, caughtUp bool) {
	if !caughtUp {
		return
	}
	if !pos.IsZero() && (t.last.IsZero() || pos.Compare(t.last) > 0) {
		t.last = pos
	}
	for _, p := range []change.Position{pos, sourceEnd} {
		if p.File != "" && (t.ready.IsZero() || p.Compare(t.ready) > 0) {
			t.ready = p
		}
	}
}

// take removes the chunks whose window has closed and returns those to
// emit, with the rows changed in the window dropped, and those to read
// again (their table changed shape, or a keyless table changed, in the
// window).
func (t *tracker) take() (emit, retry []*chunk) {
	n := 0
	for _, ch := range t.chunks {
		state, why := t.closedState(ch)
		switch state {
		case stillOpen:
			t.chunks[n] = ch
			n++
			continue
		case redo:
			ch.rows, ch.redoWhy = nil, why
			retry = append(retry, ch)
		case done:
			ch.rows = dropChanged(ch.rows, ch.table.key, ch.changed)
			emit = append(emit, ch)
		}
		ch.table.windows--
		ch.changed = nil
	}
	clear(t.chunks[n:])
	t.chunks = t.chunks[:n]
	return emit, retry
}

type closure uint8

const (
	stillOpen closure = iota
	done
	redo
)

// closedState says whether ch's window has closed and, when the chunk must
// be read again, why.
func (t *tracker) closedState(ch *chunk) (closure, string) {
	if ch.state == broken {
		return redo, "its high watermark came without its low one"
	}
	if !ch.read {
		return stillOpen, ""
	}
	switch t.method {
	case MethodWatermark:
		if ch.state != closed {
			return stillOpen, ""
		}
	default:
		if ch.snapPos.IsZero() || t.ready.IsZero() || t.ready.Compare(ch.snapPos) < 0 {
			return stillOpen, ""
		}
		if ch.streamMid {
			return stillOpen, "" // the End of a transaction delivered in part is not known yet
		}
		if t.snapshotBehind(ch, ch.snapPos) {
			// The rows miss a change the stream delivered before the
			// window opened: emitted after it, they would undo it.
			return redo, "its snapshot missed a change the stream had already delivered"
		}
	}
	if ch.ddl != ch.table.ddl {
		return redo, "its table's definition changed"
	}
	if ch.table.keyless() && ch.touched {
		if t.method == MethodWatermark || ch.touchedEnd.IsZero() || ch.touchedEnd.Compare(ch.snapPos) > 0 {
			return redo, "its table changed inside its window"
		}
	}
	return done, ""
}

// dropChanged is the DBLog rule: the chunk's rows whose key changed in the
// window are left to the stream.
func dropChanged(rows []change.Row, key []int, changed map[string]struct{}) []change.Row {
	if len(changed) == 0 || key == nil {
		return rows
	}
	out := rows[:0]
	var k []byte
	for _, r := range rows {
		k = appendKey(k[:0], r, key)
		if _, ok := changed[string(k)]; ok {
			continue
		}
		out = append(out, r)
	}
	clear(rows[len(out):])
	return out
}
