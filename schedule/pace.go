package schedule

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The node's batched database work — claiming the fires of a moment,
// writing run states — takes tens to hundreds of milliseconds of CPU, in
// this process on SQLite and in the database server on MySQL, on machines
// that may have two cores. Done at the instant thousands of runs start, it
// would take the processor from them. The pacer runs each such operation
// in a quiet window instead: after the last burst of starts is out, and
// ending (by its expected duration) before the next one, unless waiting
// longer would miss the operation's deadline.
//
// Each kind of operation is paced on its own: a slow run state write must
// not hold back the claims, which have deadlines; a write waits for a claim
// in progress instead (when both have the database, both take longer).
type pacer struct {
	s *Scheduler
	// claiming is set while a claim batch runs.
	claiming atomic.Bool

	mu     sync.Mutex
	recent map[string][]time.Duration // the last durations, by kind of operation
}

// The kinds of paced operations.
const (
	opClaim = "claim"
	opFlush = "flush"
)

const (
	// busyRuns is how many runs an instant needs to count as a burst that
	// database work keeps away from.
	busyRuns = 64
	// paceMargin is added to an operation's expected duration.
	paceMargin = 20 * time.Millisecond
	// paceFirstGuess is the expected duration of an operation never timed.
	paceFirstGuess = 100 * time.Millisecond
	// burstSettle is how long after a burst's instant paced work may start.
	burstSettle = 25 * time.Millisecond
)

func newPacer(s *Scheduler) *pacer {
	return &pacer{s: s, recent: map[string][]time.Duration{}}
}

// paceRecent is how many past durations the expected one is the longest of:
// an operation that overruns its window takes the processor from a burst,
// one that waits for a wider window costs nothing.
const paceRecent = 8

func (p *pacer) expected(kind string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := p.recent[kind]
	if len(ds) == 0 {
		return paceFirstGuess
	}
	return slices.Max(ds)
}

func (p *pacer) observe(kind string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ds := append(p.recent[kind], d)
	if len(ds) > paceRecent {
		ds = ds[len(ds)-paceRecent:]
	}
	p.recent[kind] = ds
}

// do runs f in a quiet window that starts by deadline (zero: no deadline
// beyond a second from now). It returns false without running f when ctx
// ended first.
func (p *pacer) do(ctx context.Context, kind string, deadline time.Time, f func()) bool {
	need := p.expected(kind)
	need += need/8 + paceMargin
	if deadline.IsZero() {
		deadline = p.s.clock.Now().Add(time.Second)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for last := false; !last; {
		now := p.s.clock.Now()
		latest := deadline.Add(-need)
		if !now.Before(latest) {
			break
		}
		at := p.s.starts.quietAt(now, need)
		if kind != opClaim && p.claiming.Load() && !at.After(now) {
			at = now.Add(5 * time.Millisecond)
		}
		if !at.After(now) {
			break
		}
		if at.After(latest) {
			// No window wide enough before the deadline: start right after
			// the last burst before it, where the operation overlaps the
			// next burst least.
			at, last = p.s.starts.afterLastBurst(now, latest), true
			if !at.After(now) {
				break
			}
		}
		timer.Reset(at.Sub(now))
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
	}
	start := time.Now()
	if kind == opClaim {
		p.claiming.Store(true)
		defer p.claiming.Store(false)
	}
	f()
	p.observe(kind, time.Since(start))
	return true
}

// quietAt is the earliest time from now at which work lasting need neither
// overlaps a burst of starts nor competes with one still starting.
func (st *starter) quietAt(now time.Time, need time.Duration) time.Time {
	if st.burst.Load() > 0 {
		// The runs of an instant are still being started.
		return now.Add(2 * time.Millisecond)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	t := now
	for range 8 {
		var next time.Time
		for _, sl := range st.order {
			if len(sl.items) >= busyRuns && !sl.at.Before(t) && (next.IsZero() || sl.at.Before(next)) {
				next = sl.at
			}
		}
		if next.IsZero() || next.Sub(t) >= need {
			return t
		}
		// After that burst: by then it has started (or the check above
		// makes the caller wait a little more). The margin is for the
		// bursts of other processes on the machine, other nodes' among
		// them, which the burst count does not see.
		t = next.Add(burstSettle)
	}
	return t
}

// afterLastBurst is the latest time in (now, latest] right after a burst's
// instant, or latest when no burst comes before it.
func (st *starter) afterLastBurst(now, latest time.Time) time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	var best time.Time
	for _, sl := range st.order {
		t := sl.at.Add(burstSettle)
		if len(sl.items) >= busyRuns && t.After(now) && !t.After(latest) && t.After(best) {
			best = t
		}
	}
	if best.IsZero() {
		return latest
	}
	return best
}
