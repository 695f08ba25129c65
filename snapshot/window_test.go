package snapshot

import (
	"fmt"
	"testing"

	"github.com/sluice-db/sluice/change"
)

// The window rules, tested without a server: chunks, stream transactions
// and positions are fed by hand, as the copier feeds them.

var (
	itemsDef = &change.Table{Schema: "shop", Name: "items", Columns: []change.Column{
		{Name: "id", Type: change.TypeInt}, {Name: "v", Type: change.TypeVarChar, Charset: "utf8mb4"},
	}, PrimaryKey: []int{0}}
	logDef = &change.Table{Schema: "shop", Name: "log", Columns: []change.Column{{Name: "msg", Type: change.TypeVarChar}}}
)

func pos(n uint64) change.Position { return change.Position{File: "binlog.000001", Offset: n} }

func row(id int64, v string) change.Row { return change.Row{change.Int(id), change.String([]byte(v))} }

func newTestTracker(m Method) (*tracker, *table, *table) {
	items := &table{def: itemsDef, key: []int{0}, target: itemsDef}
	log := &table{def: logDef, target: logDef}
	tr := &tracker{method: m, flavor: change.MariaDB,
		mark:   markID{schema: "sluice", table: "watermark", pipeline: "p", run: 7},
		tables: map[string]*table{"shop.items": items, "shop.log": log}}
	return tr, items, log
}

func txn(end uint64, changes ...change.RowChange) *change.Txn {
	return &change.Txn{Begin: pos(end - 10), End: pos(end), Changes: changes}
}

func upd(before, after change.Row) change.RowChange {
	return change.RowChange{Table: itemsDef, Op: change.Update, Before: before, After: after}
}

func ids(rows []change.Row) string {
	s := ""
	for _, r := range rows {
		s += fmt.Sprint(r[0].I, ",")
	}
	return s
}

// deliver is what the copier does with a stream transaction.
func deliver(tr *tracker, t *change.Txn) {
	tr.observe(t)
	tr.advance(t.End, t.Timestamp)
}

func TestSnapshotWindowDropsKeysChangedAfterRegistration(t *testing.T) {
	tr, items, _ := newTestTracker(MethodSnapshot)
	deliver(tr, txn(100))
	ch := &chunk{table: items, seq: 1}
	tr.register(ch)
	// Changes delivered after the window opened: one before the
	// snapshot's position (already in the rows), one after it; both keys
	// are left to the stream. A key change names both keys.
	deliver(tr, txn(200, upd(row(2, "a"), row(2, "b"))))
	ch.rows, ch.readRows, ch.snapPos, ch.read = []change.Row{row(1, "x"), row(2, "b"), row(3, "x"), row(4, "x")}, 4, pos(250), true
	if emit, retry := tr.take(); len(emit)+len(retry) != 0 {
		t.Fatal("a chunk was taken before the stream passed its position")
	}
	deliver(tr, txn(300, upd(row(3, "x"), row(9, "x"))))
	emit, retry := tr.take()
	if len(emit) != 1 || len(retry) != 0 {
		t.Fatalf("emit %d, retry %d", len(emit), len(retry))
	}
	if got := ids(emit[0].rows); got != "1,4," {
		t.Fatalf("emitted rows %s, want 1,4,", got)
	}
	if items.windows != 0 || len(tr.chunks) != 0 {
		t.Fatal("the window is still registered")
	}
}

func TestSnapshotWindowWaitsForTheStream(t *testing.T) {
	tr, items, _ := newTestTracker(MethodSnapshot)
	deliver(tr, txn(100))
	ch := &chunk{table: items, seq: 1}
	tr.register(ch)
	ch.rows, ch.readRows, ch.snapPos, ch.read = []change.Row{row(1, "x")}, 1, pos(500), true
	if emit, _ := tr.take(); len(emit) != 0 {
		t.Fatal("emitted before the stream reached the snapshot's position")
	}
	// An idle source: a heartbeat says everything up to 500 is delivered.
	tr.progress(pos(100), pos(500), true)
	if emit, _ := tr.take(); len(emit) != 1 {
		t.Fatal("not emitted once a heartbeat showed the stream at the position")
	}
	// A heartbeat of a stream in the middle of a transaction says nothing.
	ch2 := &chunk{table: items, seq: 2}
	tr.register(ch2)
	ch2.rows, ch2.snapPos, ch2.read = []change.Row{row(5, "x")}, pos(900), true
	tr.progress(pos(100), pos(900), false)
	if emit, _ := tr.take(); len(emit) != 0 {
		t.Fatal("emitted on a heartbeat that was not caught up")
	}
}

func del(r change.Row) change.RowChange {
	return change.RowChange{Table: itemsDef, Op: change.Delete, Before: r}
}

// The server sends a transaction to the stream once it is in the binlog,
// a moment before its commit is visible: the stream can deliver a delete
// before the window opens that the snapshot taken just after does not see
// (its position is before the delete's). Emitted after the delete, the
// chunk's stale row would bring the deleted row back on the target.
func TestSnapshotBehindTheStreamIsReadAgain(t *testing.T) {
	tr, items, _ := newTestTracker(MethodSnapshot)
	deliver(tr, txn(100))
	// Delivered, not visible yet: row 3 is deleted at 200.
	deliver(tr, txn(200, del(row(3, "x"))))
	ch := &chunk{table: items, seq: 1}
	tr.register(ch)
	// The snapshot is at 150: it still holds row 3.
	ch.rows, ch.readRows, ch.snapPos, ch.read = []change.Row{row(1, "x"), row(3, "x"), row(4, "x")}, 3, pos(150), true
	deliver(tr, txn(300))
	emit, retry := tr.take()
	for _, e := range emit {
		if got := ids(e.rows); got != "1,4," {
			t.Fatalf("emitted rows %s after their delete: the delete is undone on the target", got)
		}
	}
	if len(emit) != 0 || len(retry) != 1 {
		t.Fatalf("emit %d, retry %d; a chunk whose snapshot missed a delivered change must be read again", len(emit), len(retry))
	}
	if items.windows != 0 || len(tr.chunks) != 0 {
		t.Fatal("the window is still registered")
	}
	// Read again, at a snapshot that sees the delete: emitted.
	tr.register(ch)
	ch.rows, ch.readRows, ch.snapPos, ch.read = []change.Row{row(1, "x"), row(4, "x")}, 2, pos(300), true
	if emit, retry := tr.take(); len(emit) != 1 || len(retry) != 0 || ids(emit[0].rows) != "1,4," {
		t.Fatalf("emit %d, retry %d on the second read", len(emit), len(retry))
	}
	// Changes to other tables do not hold a chunk back.
	other := &change.Table{Schema: "shop", Name: "other", Columns: itemsDef.Columns, PrimaryKey: []int{0}}
	deliver(tr, txn(400, change.RowChange{Table: other, Op: change.Delete, Before: row(7, "x")}))
	ch2 := &chunk{table: items, seq: 2}
	tr.register(ch2)
	ch2.rows, ch2.readRows, ch2.snapPos, ch2.read = []change.Row{row(5, "x")}, 1, pos(350), true
	deliver(tr, txn(500))
	if emit, retry := tr.take(); len(emit) != 1 || len(retry) != 0 {
		t.Fatalf("emit %d, retry %d: a change to another table made the chunk read again", len(emit), len(retry))
	}
}

// snapshotBehind tells the read to take its snapshot again.
func TestSnapshotBehind(t *testing.T) {
	tr, items, _ := newTestTracker(MethodSnapshot)
	ch := &chunk{table: items, seq: 1}
	tr.register(ch)
	if tr.snapshotBehind(ch, pos(10)) {
		t.Fatal("behind, with no change to the table delivered")
	}
	tr.take()
	deliver(tr, txn(200, del(row(3, "x"))))
	ch = &chunk{table: items, seq: 2}
	tr.register(ch)
	if !tr.snapshotBehind(ch, pos(150)) {
		t.Fatal("a snapshot before a change the stream delivered is not reported behind")
	}
	if tr.snapshotBehind(ch, pos(200)) || tr.snapshotBehind(ch, pos(250)) {
		t.Fatal("a snapshot that sees the delivered change is reported behind")
	}
}

// The same with a large transaction delivered in fragments: the window
// opens after its first fragment, and the transaction's End, which the
// snapshot must reach, comes with its last.
func TestSnapshotBehindAFragmentedTransaction(t *testing.T) {
	for _, tc := range []struct {
		snap      uint64
		wantRetry bool
	}{
		{snap: 150, wantRetry: true},  // the snapshot does not see the transaction (it ends at 200)
		{snap: 250, wantRetry: false}, // it does: the stream lags behind the source
	} {
		tr, items, _ := newTestTracker(MethodSnapshot)
		deliver(tr, txn(100))
		first := &change.Txn{Begin: pos(110), Changes: []change.RowChange{del(row(3, "x"))}, More: true}
		tr.observe(first)
		ch := &chunk{table: items, seq: 1}
		tr.register(ch)
		ch.rows, ch.readRows, ch.snapPos, ch.read = []change.Row{row(1, "x")}, 1, pos(tc.snap), true
		if tc.wantRetry {
			ch.rows, ch.readRows = append(ch.rows, row(3, "x")), 2
		}
		// Whatever the stream's position, the window stays open until the
		// transaction's End is known.
		ready := tr.ready
		tr.ready = pos(tc.snap + 1)
		if emit, retry := tr.take(); len(emit)+len(retry) != 0 {
			t.Fatalf("snapshot at %d: taken before the transaction's End was known", tc.snap)
		}
		tr.ready = ready
		last := &change.Txn{Begin: pos(110), End: pos(200), Changes: []change.RowChange{del(row(9, "x"))}, Fragment: 1}
		deliver(tr, last)
		deliver(tr, txn(300))
		emit, retry := tr.take()
		if tc.wantRetry && (len(emit) != 0 || len(retry) != 1) || !tc.wantRetry && (len(emit) != 1 || len(retry) != 0) {
			t.Fatalf("snapshot at %d: emit %d, retry %d", tc.snap, len(emit), len(retry))
		}
		if !tc.wantRetry && ids(emit[0].rows) != "1," {
			t.Fatalf("snapshot at %d: emitted %s", tc.snap, ids(emit[0].rows))
		}
	}
}

func mark(seq uint64, run uint64) change.RowChange {
	wm := &change.Table{Schema: "sluice", Name: "watermark"}
	return change.RowChange{Table: wm, Op: change.Update, After: change.Row{
		change.String([]byte("p")), change.Uint(0), change.Uint(run), change.Uint(seq)}}
}

func TestWatermarkWindow(t *testing.T) {
	tr, items, _ := newTestTracker(MethodWatermark)
	ch := &chunk{table: items, seq: 1, lowMark: 1, highMark: 2}
	tr.register(ch)
	// Before the low mark: not in the window (the read sees it).
	deliver(tr, txn(100, upd(row(1, "a"), row(1, "b"))))
	deliver(tr, txn(110, mark(1, 7)))
	// Another copier's marks (another run) are not this chunk's.
	deliver(tr, txn(115, mark(2, 8)))
	deliver(tr, txn(120, upd(row(2, "a"), row(2, "b"))))
	ch.rows, ch.readRows, ch.read = []change.Row{row(1, "b"), row(2, "a"), row(3, "x")}, 3, true
	if emit, _ := tr.take(); len(emit) != 0 {
		t.Fatal("emitted before the high mark")
	}
	w := txn(130, mark(2, 7))
	deliver(tr, w)
	if len(w.Changes) != 0 {
		t.Fatal("the watermark row was not removed from the stream")
	}
	emit, _ := tr.take()
	if len(emit) != 1 || ids(emit[0].rows) != "1,3," {
		t.Fatalf("emitted %v", emit)
	}
}

func TestWatermarkHighWithoutLowIsReadAgain(t *testing.T) {
	tr, items, _ := newTestTracker(MethodWatermark)
	ch := &chunk{table: items, seq: 1, lowMark: 1, highMark: 2}
	tr.register(ch)
	ch.read = true
	deliver(tr, txn(130, mark(2, 7)))
	if _, retry := tr.take(); len(retry) != 1 {
		t.Fatal("a window whose low mark was never seen was not read again")
	}
}

func TestKeylessTableHeldBackUntilCopied(t *testing.T) {
	tr, _, log := newTestTracker(MethodSnapshot)
	deliver(tr, txn(100))
	ins := func(m string) change.RowChange {
		return change.RowChange{Table: logDef, Op: change.Insert, After: change.Row{change.String([]byte(m))}}
	}
	ch := &chunk{table: log, seq: 1, final: true}
	tr.register(ch)
	// A change before the snapshot's position: dropped from the stream,
	// it is in the rows.
	t1 := txn(150, ins("before"))
	deliver(tr, t1)
	if len(t1.Changes) != 0 {
		t.Fatal("a change to a keyless table not copied yet went on")
	}
	ch.rows, ch.readRows, ch.snapPos, ch.read = []change.Row{{change.String([]byte("before"))}}, 1, pos(150), true
	emit, retry := tr.take()
	if len(emit) != 1 || len(retry) != 0 {
		t.Fatalf("emit %d retry %d", len(emit), len(retry))
	}
	// A change after the position, before the chunk was taken: read again.
	log.emitted = false
	ch2 := &chunk{table: log, seq: 1, final: true}
	tr.register(ch2)
	ch2.rows, ch2.snapPos, ch2.read = []change.Row{{change.String([]byte("x"))}}, pos(160), true
	deliver(tr, txn(170, ins("after")))
	if emit, retry := tr.take(); len(emit) != 0 || len(retry) != 1 {
		t.Fatalf("emit %d retry %d; a keyless table that changed after the snapshot must be read again", len(emit), len(retry))
	}
	// Once copied, its changes go on.
	log.emitted = true
	t3 := txn(180, ins("later"))
	deliver(tr, t3)
	if len(t3.Changes) != 1 {
		t.Fatal("a change to a copied keyless table was held back")
	}
}

func TestDDLMakesChunksReadAgain(t *testing.T) {
	tr, items, _ := newTestTracker(MethodSnapshot)
	deliver(tr, txn(100))
	ch := &chunk{table: items, seq: 1}
	tr.register(ch)
	ch.rows, ch.snapPos, ch.read = []change.Row{row(1, "x")}, pos(100), true
	deliver(tr, &change.Txn{End: pos(200), DDL: &change.DDL{Schema: "shop", Statement: "ALTER TABLE items ADD COLUMN w INT"}})
	if emit, retry := tr.take(); len(emit) != 0 || len(retry) != 1 {
		t.Fatalf("emit %d retry %d after an ALTER of the chunk's table", len(emit), len(retry))
	}
	if items.ddl != 1 {
		t.Fatalf("ddl count %d", items.ddl)
	}
}

func TestBoundRoundTrip(t *testing.T) {
	vals := []change.Value{change.Int(-5), change.Uint(1 << 63), change.String([]byte("a`'\x00é")), change.Bytes(nil),
		change.DateTime(2024, 2, 29, 1, 2, 3, 456, 6), change.Enum(2, []byte("b")), change.Decimal([]byte("-1.50")), change.Null()}
	b, err := encodeBound(vals)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBound(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if !got[i].Equal(vals[i]) && !(vals[i].Kind == change.KindBytes && got[i].Kind == change.KindBytes && len(got[i].B) == 0) {
			t.Errorf("value %d: %v (%v), want %v (%v)", i, got[i], got[i].Kind, vals[i], vals[i].Kind)
		}
	}
	if b, _ := encodeBound(nil); b != nil {
		t.Fatal("an open bound must be NULL")
	}
}

func TestAppendKeyMatchesAcrossKinds(t *testing.T) {
	// A BINARY key read from a result is bytes; the binlog may call it a
	// string. Both name the same row.
	a := appendKey(nil, change.Row{change.String([]byte("k"))}, []int{0})
	b := appendKey(nil, change.Row{change.Bytes([]byte("k"))}, []int{0})
	if string(a) != string(b) {
		t.Fatal("string and bytes keys differ")
	}
	c := appendKey(nil, change.Row{change.Int(1), change.Int(23)}, []int{0, 1})
	d := appendKey(nil, change.Row{change.Int(12), change.Int(3)}, []int{0, 1})
	if string(c) == string(d) {
		t.Fatal("composite keys (1,23) and (12,3) collide")
	}
}

func TestResumePoint(t *testing.T) {
	for _, tc := range []struct {
		seqs      []uint64
		wantN     uint64
		wantRows  uint64
		wantUpper string
		finalLast bool
		wantFinal bool
	}{
		{seqs: nil, wantN: 0},
		{seqs: []uint64{1, 2, 3}, wantN: 3, wantRows: 30, wantUpper: "u3"},
		{seqs: []uint64{1, 2, 4, 5}, wantN: 2, wantRows: 20, wantUpper: "u2"},
		{seqs: []uint64{2, 3}, wantN: 0},
		{seqs: []uint64{1, 2}, finalLast: true, wantN: 2, wantRows: 20, wantFinal: true},
	} {
		ts := TableState{}
		for i, s := range tc.seqs {
			c := ChunkState{Seq: s, Rows: 10, Upper: []byte(fmt.Sprint("u", s))}
			if tc.finalLast && i == len(tc.seqs)-1 {
				c.Upper = nil
			}
			ts.Chunks = append(ts.Chunks, c)
		}
		n, upper, rows, final := ts.resumePoint()
		if n != tc.wantN || rows != tc.wantRows || string(upper) != tc.wantUpper || final != tc.wantFinal {
			t.Errorf("chunks %v: resume after %d (%q, %d rows, final %v), want %d (%q, %d, %v)", tc.seqs, n, upper, rows, final, tc.wantN, tc.wantUpper, tc.wantRows, tc.wantFinal)
		}
	}
}
