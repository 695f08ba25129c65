package apply

import (
	"fmt"
	"hash/maphash"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/change"
)

// users is a table with a primary key on id and a unique key on email.
func usersTable() *change.Table {
	return &change.Table{
		Schema: "shop", Name: "users",
		Columns: []change.Column{
			{Name: "id", Type: change.TypeBigInt},
			{Name: "email", Type: change.TypeVarBinary, Charset: "binary"},
			{Name: "n", Type: change.TypeInt},
		},
		PrimaryKey: []int{0},
		UniqueKeys: [][]int{{1}},
	}
}

func row(id int64, email string, n int64) change.Row {
	return change.Row{change.Int(id), change.Bytes([]byte(email)), change.Int(n)}
}

func ins(t *change.Table, r change.Row) change.RowChange {
	return change.RowChange{Table: t, Op: change.Insert, After: r}
}
func upd(t *change.Table, b, a change.Row) change.RowChange {
	return change.RowChange{Table: t, Op: change.Update, Before: b, After: a}
}
func del(t *change.Table, r change.Row) change.RowChange {
	return change.RowChange{Table: t, Op: change.Delete, Before: r}
}

func txn(end uint64, cs ...change.RowChange) *change.Txn {
	return &change.Txn{Changes: cs, End: change.Position{File: "b.000001", Offset: end}}
}

// describe renders a TableOps as sorted "del <row>" / "put <row>" lines.
func describe(o *TableOps) string {
	var lines []string
	for _, r := range o.Deletes {
		lines = append(lines, "del "+fmtRow(r))
	}
	for _, r := range o.Upserts {
		lines = append(lines, "put "+fmtRow(r))
	}
	for _, r := range o.Inserts {
		lines = append(lines, "new "+fmtRow(r))
	}
	for _, c := range o.Serial {
		lines = append(lines, fmt.Sprintf("serial %s %s %s", c.Op, fmtRow(c.Before), fmtRow(c.After)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

func fmtRow(r change.Row) string {
	if r == nil {
		return "-"
	}
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = v.String()
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func TestMergeWithinGroup(t *testing.T) {
	u := usersTable()
	cases := []struct {
		name    string
		changes []change.RowChange
		want    string
	}{
		{"insert", []change.RowChange{ins(u, row(1, "a", 1))}, "new (1,a,1)"},
		{"insert then update is insert of final",
			[]change.RowChange{ins(u, row(1, "a", 1)), upd(u, row(1, "a", 1), row(1, "a", 2))}, "new (1,a,2)"},
		{"insert then delete is nothing",
			[]change.RowChange{ins(u, row(1, "a", 1)), del(u, row(1, "a", 1))}, ""},
		{"update then update keeps last",
			[]change.RowChange{upd(u, row(1, "a", 1), row(1, "a", 2)), upd(u, row(1, "a", 2), row(1, "a", 3))}, "put (1,a,3)"},
		{"update then delete is delete",
			[]change.RowChange{upd(u, row(1, "a", 1), row(1, "a", 2)), del(u, row(1, "a", 2))}, "del (1,a,1)"},
		{"delete then insert is a rewrite",
			[]change.RowChange{del(u, row(1, "a", 1)), ins(u, row(1, "a", 9))}, "put (1,a,9)"},
		{"primary key change is delete old, write new",
			[]change.RowChange{upd(u, row(1, "a", 1), row(2, "a", 1))}, "del (1,a,1); new (2,a,1)"},
		{"primary key change and back",
			[]change.RowChange{upd(u, row(1, "a", 1), row(2, "a", 1)), upd(u, row(2, "a", 1), row(1, "a", 5))},
			"put (1,a,5)"},
		{"unique key swap deletes both rows first",
			[]change.RowChange{
				upd(u, row(1, "a", 0), row(1, "tmp", 0)),
				upd(u, row(2, "b", 0), row(2, "a", 0)),
				upd(u, row(1, "tmp", 0), row(1, "b", 0)),
			},
			"del (1,a,0); del (2,b,0); put (1,b,0); put (2,a,0)"},
		{"unique key unchanged is an in-place write",
			[]change.RowChange{upd(u, row(1, "a", 0), row(1, "a", 7))}, "put (1,a,7)"},
		{"two rows stay apart",
			[]change.RowChange{ins(u, row(1, "a", 1)), ins(u, row(2, "b", 1)), del(u, row(3, "c", 1))},
			"del (3,c,1); new (1,a,1); new (2,b,1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gr := newGrouper(GroupLimits{}, maphash.MakeSeed())
			gr.Add(txn(100, c.changes...))
			g := gr.Take()
			got := ""
			if len(g.Tables) > 0 {
				got = describe(g.Tables[0])
			}
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestMergeAcrossTransactionsOfAGroup(t *testing.T) {
	u := usersTable()
	gr := newGrouper(GroupLimits{}, maphash.MakeSeed())
	gr.Add(txn(10, ins(u, row(1, "a", 1))))
	gr.Add(txn(20, upd(u, row(1, "a", 1), row(1, "a", 2))))
	gr.Add(txn(30, ins(u, row(2, "b", 1)), del(u, row(1, "a", 2))))
	g := gr.Take()
	if got, want := describe(g.Tables[0]), "new (2,b,1)"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if g.End.Offset != 30 || g.Rows != 4 || len(g.Txns) != 3 {
		t.Fatalf("group end %v rows %d txns %d", g.End, g.Rows, len(g.Txns))
	}
}

func TestMinimalImages(t *testing.T) {
	// A table with only a primary key: partial after images are laid over
	// each other and keep the key from the before image.
	tbl := &change.Table{Schema: "s", Name: "t",
		Columns:    []change.Column{{Name: "id"}, {Name: "a"}, {Name: "b"}},
		PrimaryKey: []int{0}}
	abs := change.Absent()
	gr := newGrouper(GroupLimits{}, maphash.MakeSeed())
	gr.Add(txn(10,
		upd(tbl, change.Row{change.Int(1), abs, abs}, change.Row{abs, change.Int(5), abs}),
		upd(tbl, change.Row{change.Int(1), abs, abs}, change.Row{abs, abs, change.Int(6)}),
	))
	g := gr.Take()
	if got, want := describe(g.Tables[0]), "put (1,5,6)"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}

	// With another unique key, partial images go in source order.
	tbl2 := usersTable()
	gr.Add(txn(20, upd(tbl2, change.Row{change.Int(1), abs, abs}, change.Row{abs, abs, change.Int(3)})))
	g = gr.Take()
	if len(g.Tables[0].Serial) != 1 || len(g.Tables[0].Upserts) != 0 {
		t.Fatalf("want one serial change, got %s", describe(g.Tables[0]))
	}
}

func TestNoKeyTableIsSerial(t *testing.T) {
	tbl := &change.Table{Schema: "s", Name: "log", Columns: []change.Column{{Name: "msg"}}}
	gr := newGrouper(GroupLimits{}, maphash.MakeSeed())
	r := change.Row{change.String([]byte("x"))}
	gr.Add(txn(10, ins(tbl, r), ins(tbl, r), del(tbl, r)))
	g := gr.Take()
	if n := len(g.Tables[0].Serial); n != 3 {
		t.Fatalf("want 3 serial changes, got %d", n)
	}
}

func TestGroupLimitsAndBarriers(t *testing.T) {
	u := usersTable()
	gr := newGrouper(GroupLimits{MaxRows: 3, MaxTxns: 10}, maphash.MakeSeed())
	a := txn(10, ins(u, row(1, "a", 1)), ins(u, row(2, "b", 1)))
	b := txn(20, ins(u, row(3, "c", 1)), ins(u, row(4, "d", 1)))
	if !gr.Fits(a) {
		t.Fatal("first txn must fit an empty group")
	}
	gr.Add(a)
	if gr.Fits(b) {
		t.Fatal("a txn over MaxRows must not fit")
	}
	gr.Take()
	// A transaction larger than the limit still forms a group on its own:
	// transactions are never split by grouping.
	big := txn(30, ins(u, row(5, "e", 1)), ins(u, row(6, "f", 1)), ins(u, row(7, "g", 1)), ins(u, row(8, "h", 1)))
	if !gr.Fits(big) {
		t.Fatal("a big txn must fit an empty group")
	}
	gr.Add(big)
	if !gr.Full() {
		t.Fatal("group over MaxRows must be full")
	}
	gr.Take()

	gr.Add(txn(40, ins(u, row(9, "i", 1))))
	ddl := &change.Txn{DDL: &change.DDL{Statement: "ALTER TABLE users ADD x INT"}, End: change.Position{File: "b.000001", Offset: 50}}
	if gr.Fits(ddl) {
		t.Fatal("a DDL must start its own group")
	}
	gr.Take()
	gr.Add(ddl)
	if !gr.Full() {
		t.Fatal("a DDL group is full at once")
	}
	g := gr.Take()
	if g.DDL == nil || g.End.Offset != 50 {
		t.Fatalf("DDL group %+v", g)
	}
}

func TestConflicts(t *testing.T) {
	u := usersTable()
	seed := maphash.MakeSeed()
	mk := func(cs ...change.RowChange) *Group {
		gr := newGrouper(GroupLimits{}, seed)
		gr.Add(txn(1, cs...))
		return gr.Take()
	}
	g1 := mk(ins(u, row(1, "a", 1)))
	cases := []struct {
		name string
		g    *Group
		want bool
	}{
		{"same key", mk(del(u, row(1, "zz", 1))), true},
		{"other key", mk(ins(u, row(2, "b", 1))), false},
		{"same unique value", mk(ins(u, row(2, "a", 1))), true},
		{"moves to the key", mk(upd(u, row(7, "q", 1), row(1, "q", 1))), true},
		{"other table", mk(ins(&change.Table{Schema: "shop", Name: "other", Columns: u.Columns, PrimaryKey: []int{0}}, row(1, "a", 1))), false},
	}
	for _, c := range cases {
		if got := c.g.ConflictsWith(g1); got != c.want {
			t.Errorf("%s: ConflictsWith = %v, want %v", c.name, got, c.want)
		}
		if got := g1.ConflictsWith(c.g); got != c.want {
			t.Errorf("%s (reversed): ConflictsWith = %v, want %v", c.name, got, c.want)
		}
	}

	// A key compared under a case-insensitive collation: 'a' and 'A' may be
	// the same row, so the whole table conflicts.
	ci := &change.Table{Schema: "s", Name: "codes",
		Columns:    []change.Column{{Name: "code", Type: change.TypeVarChar, Charset: "utf8mb4", Collation: "utf8mb4_general_ci"}},
		PrimaryKey: []int{0}}
	a := mk(ins(ci, change.Row{change.String([]byte("a"))}))
	b := mk(ins(ci, change.Row{change.String([]byte("B"))}))
	if !a.ConflictsWith(b) {
		t.Error("changes to a table keyed by case-insensitive text must conflict")
	}
	ddl := &Group{DDL: &change.Txn{}}
	if !ddl.ConflictsWith(g1) || !g1.ConflictsWith(ddl) {
		t.Error("DDL conflicts with everything")
	}
}

// TestCopiedRowsGoAsNew checks that rows of the initial copy are written as
// new rows (tried with a plain INSERT, falling back to an upsert) while a
// stream update of a row the target has stays an upsert, and that a copied
// row deleted later in the group is still deleted.
func TestCopiedRowsGoAsNew(t *testing.T) {
	u := usersTable()
	copied := func(r change.Row) change.RowChange {
		c := upd(u, r, r)
		c.Copied = true
		return c
	}
	gr := newGrouper(GroupLimits{}, maphash.MakeSeed())
	gr.Add(txn(10, copied(row(1, "a", 1)), copied(row(2, "b", 1)), copied(row(3, "c", 1))))
	gr.Add(txn(20, upd(u, row(2, "b", 1), row(2, "b", 2)), del(u, row(3, "c", 1)), upd(u, row(9, "z", 1), row(9, "z", 2))))
	g := gr.Take()
	if got, want := describe(g.Tables[0]), "del (3,c,1); new (1,a,1); new (2,b,2); put (9,z,2)"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// TestSplitShared checks how a group is divided around the rows an earlier
// group writes: rows it does not share run at once, shared rows last, and
// tables whose rows depend on each other (other unique keys, no key,
// collated keys) go last whole.
func TestSplitShared(t *testing.T) {
	seed := maphash.MakeSeed()
	var h maphash.Hash
	h.SetSeed(seed)
	mk := func(cs ...change.RowChange) *Group {
		gr := newGrouper(GroupLimits{}, seed)
		gr.Add(txn(1, cs...))
		return gr.Take()
	}
	items := &change.Table{Schema: "shop", Name: "items", Columns: usersTable().Columns[:1], PrimaryKey: []int{0}}
	it := func(id int64) change.Row { return change.Row{change.Int(id)} }
	u := usersTable()
	earlier := mk(ins(items, it(2)), del(items, it(5)), ins(u, row(9, "z", 0)))
	g := mk(ins(items, it(1)), ins(items, it(2)), ins(items, it(5)), del(items, it(3)), ins(u, row(1, "a", 0)))

	free, shared := splitShared(g, []*Group{earlier}, &h)
	render := func(ops []*TableOps) string {
		var s []string
		for _, o := range ops {
			s = append(s, o.Table.Name+": "+describe(o))
		}
		return strings.Join(s, " | ")
	}
	if got, want := render(free), "items: del (3); new (1)"; got != want {
		t.Errorf("free\n got %s\nwant %s", got, want)
	}
	if got, want := render(shared), "items: new (2); new (5) | users: new (1,a,0)"; got != want {
		t.Errorf("shared\n got %s\nwant %s", got, want)
	}
	// The group itself is left whole.
	if got, want := describe(g.Tables[0]), "del (3); new (1); new (2); new (5)"; got != want {
		t.Errorf("group's own operations changed: %s", got)
	}
	// Nothing earlier: everything is free.
	if free, shared := splitShared(g, nil, &h); len(free) != 2 || len(shared) != 0 {
		t.Errorf("with no earlier group: %d free, %d shared tables", len(free), len(shared))
	}
}

// TestFlowRateBoundsGroups checks the group size the coordinator aims for
// once it has measured the flow: about groupSpan of it, never below
// minSpanRows, and no bound before the first window.
func TestFlowRateBoundsGroups(t *testing.T) {
	var f flowRate
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := f.groupRows(); got != math.MaxInt {
		t.Fatalf("before any window: %d, want no bound", got)
	}
	// 8,000 rows a second: 4 rows every 500 microseconds.
	for i := 0; i <= 2000; i++ {
		f.add(4, now.Add(time.Duration(i)*500*time.Microsecond))
	}
	if got, want := f.groupRows(), 400; got < want-5 || got > want+5 {
		t.Fatalf("at 8,000 rows/s: group of %d rows, want about %d", got, want)
	}
	// A trickle: the floor applies.
	later := now.Add(10 * time.Second)
	for i := 0; i <= 10; i++ {
		f.add(1, later.Add(time.Duration(i)*110*time.Millisecond))
	}
	if got := f.groupRows(); got != minSpanRows {
		t.Fatalf("at 10 rows/s: group of %d rows, want %d", got, minSpanRows)
	}
}
