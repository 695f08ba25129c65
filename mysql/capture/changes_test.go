package capture

import (
	"testing"

	"github.com/sluice-db/sluice/change"
)

func TestChangeRun(t *testing.T) {
	mk := func(first, n int) []change.RowChange {
		cs := make([]change.RowChange, n)
		for i := range cs {
			cs[i].After = change.Row{change.Int(int64(first + i))}
		}
		return cs
	}
	check := func(got []change.RowChange, first, n int) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("got %d changes, want %d", len(got), n)
		}
		for i, c := range got {
			if c.After[0].I != int64(first+i) {
				t.Fatalf("change %d is %d, want %d", i, c.After[0].I, first+i)
			}
		}
	}
	var r changeRun
	if r.take() != nil {
		t.Fatal("empty run gave changes")
	}
	// One event: passed on as the decoder made it.
	one := mk(1, 3)
	r.add(one)
	got := r.take()
	check(got, 1, 3)
	if &got[0] != &one[0] {
		t.Error("a single event's changes were copied")
	}
	// Several events, across chunk boundaries.
	for _, sizes := range [][]int{{2, 5}, {4000, 200, 1}, {1, 9000}, {5000, 5000, 5000}} {
		n := 0
		for _, s := range sizes {
			r.add(mk(1+n, s))
			n += s
		}
		if r.len() != n {
			t.Fatalf("len %d, want %d", r.len(), n)
		}
		got := r.take()
		check(got, 1, n)
		// What was taken is not written again.
		r.add(mk(100000, 10))
		r.add(mk(100010, 10))
		check(got, 1, n)
		check(r.take(), 100000, 20)
	}
	r.add(mk(1, 2))
	r.add(mk(3, 2))
	r.drop()
	if r.len() != 0 || r.take() != nil {
		t.Fatal("drop left changes")
	}
}
