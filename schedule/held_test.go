package schedule

import (
	"slices"
	"testing"
	"time"
)

// TestHeldRunsWhere: what a node publishes covers every run it holds: ids
// from runsFrom on, and the older ones listed; runs of a claim in flight
// (ids not known yet) are above runsFrom.
func TestHeldRunsWhere(t *testing.T) {
	h := newHeldRuns()
	h.recent = time.Minute
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.seen(100)
	from, old := h.where(now, nil)
	if from != 101 || len(old) != 0 {
		t.Errorf("nothing held: from %d old %v, want 101 []", from, old)
	}
	h.add([]int64{110, 111, 112}, now, false)
	h.add([]int64{5}, now, true) // taken over: an old id, always listed
	from, old = h.where(now, nil)
	if from != 110 || !slices.Equal(old, []int64{5}) {
		t.Errorf("from %d old %v, want 110 [5]", from, old)
	}
	// Run 110 runs long: once it is no longer recent, it is listed and
	// runsFrom moves on.
	from, old = h.where(now.Add(2*time.Minute), []int64{7})
	slices.Sort(old)
	if from != 113 || !slices.Equal(old, []int64{5, 7, 110, 111, 112}) {
		t.Errorf("later: from %d old %v, want 113 [5 7 110 111 112]", from, old)
	}
	h.done([]int64{111, 112, 5})
	// A claim in flight began when 112 was the highest id known: its rows
	// will be above that.
	end := h.beginClaim()
	h.seen(500) // another claim finished meanwhile
	from, old = h.where(now.Add(2*time.Minute), nil)
	if from != 113 || !slices.Equal(old, []int64{110}) {
		t.Errorf("claim in flight: from %d old %v, want 113 [110]", from, old)
	}
	end()
	if from, _ = h.where(now.Add(2*time.Minute), nil); from != 501 {
		t.Errorf("claim done: from %d, want 501", from)
	}
}
