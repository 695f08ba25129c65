package schedule

import (
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

// TestQuietAt: batched database work goes between bursts of starts: right
// away when it fits before the next burst, else right after it; small
// instants do not count.
func TestQuietAt(t *testing.T) {
	s := &Scheduler{}
	st := newStarter(s)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	burst := func(at time.Time, n int) {
		items := make([]startItem, n)
		for i := range items {
			items[i] = startItem{at: at, run: store.Run{ID: int64(i)}}
		}
		st.addAll(items)
	}
	burst(base.Add(time.Second), busyRuns)
	burst(base.Add(2*time.Second), busyRuns)
	burst(base.Add(1500*time.Millisecond), busyRuns-1)
	for _, c := range []struct {
		now  time.Duration
		need time.Duration
		want time.Duration
	}{
		{0, 500 * time.Millisecond, 0},
		{0, 1200 * time.Millisecond, 2025 * time.Millisecond}, // no gap between the two bursts is that wide
		{600 * time.Millisecond, 500 * time.Millisecond, 1025 * time.Millisecond},
		{1100 * time.Millisecond, 500 * time.Millisecond, 1100 * time.Millisecond},
		{1100 * time.Millisecond, 1500 * time.Millisecond, 2025 * time.Millisecond},
	} {
		if got := st.quietAt(base.Add(c.now), c.need); !got.Equal(base.Add(c.want)) {
			t.Errorf("quietAt(+%s, need %s) = +%s, want +%s", c.now, c.need, got.Sub(base), c.want)
		}
	}
	// While an instant's runs are still starting, nothing goes.
	st.burst.Add(1)
	if got := st.quietAt(base, time.Millisecond); !got.After(base) {
		t.Errorf("quietAt during a burst = +%s, want later than now", got.Sub(base))
	}
}

// TestAfterLastBurst: work that fits no window before its deadline starts
// right after the last burst before the deadline.
func TestAfterLastBurst(t *testing.T) {
	st := newStarter(&Scheduler{})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		items := make([]startItem, busyRuns)
		for i := range items {
			items[i] = startItem{at: base.Add(at), run: store.Run{ID: int64(i)}}
		}
		st.addAll(items)
	}
	for _, c := range []struct{ latest, want time.Duration }{
		{2500 * time.Millisecond, 2*time.Second + burstSettle},
		{3*time.Second + burstSettle, 3*time.Second + burstSettle},
		{500 * time.Millisecond, 500 * time.Millisecond}, // no burst before it
	} {
		if got := st.afterLastBurst(base, base.Add(c.latest)); !got.Equal(base.Add(c.want)) {
			t.Errorf("afterLastBurst(latest +%s) = +%s, want +%s", c.latest, got.Sub(base), c.want)
		}
	}
}
