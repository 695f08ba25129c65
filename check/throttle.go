package check

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// clock is the throttle's time: the real one, or a fake in tests so that a
// rate limit is checked without waiting for it.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time                                   { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// throttle keeps the check from loading the source: it caps the rows read
// per second and pauses while the source is busy (Threads_running, not
// counting the check's own queries, above a limit). It is asked before each
// chunk, so a pause or a rate step never cuts a chunk in two.
type throttle struct {
	db         *sql.DB
	maxRows    int64
	maxThreads int64
	log        *slog.Logger
	clock      clock
	// probeEvery is how often the load is read, and re-read while paused.
	probeEvery time.Duration
	// own tells how many of the check's queries are running on the source,
	// so that the check does not pause for its own load.
	own func() int64

	onPause, onResume func(threadsRunning int64) // test hooks

	mu    sync.Mutex
	start time.Time
	rows  int64

	// load is held by the one caller that probes (and, when the source is
	// busy, sleeps); the others wait behind it, so that every table pauses.
	load      chan struct{}
	lastProbe time.Time
}

func newThrottle(db *sql.DB, o *Options, own func() int64) *throttle {
	t := &throttle{db: db, maxRows: o.MaxRowsPerSecond, maxThreads: o.MaxThreadsRunning, log: o.Logger,
		clock: o.hooks.clock, probeEvery: o.hooks.probeEvery, own: own,
		onPause: o.hooks.onPause, onResume: o.hooks.onResume, load: make(chan struct{}, 1)}
	if t.clock == nil {
		t.clock = realClock{}
	}
	if t.probeEvery <= 0 {
		t.probeEvery = time.Second
	}
	return t
}

// wait returns when reading rows more source rows is allowed.
func (t *throttle) wait(ctx context.Context, rows int64) error {
	if err := t.waitLoad(ctx); err != nil {
		return err
	}
	return t.waitRate(ctx, rows)
}

// waitRate spaces the reads so that by any time T at most MaxRowsPerSecond
// x T rows (plus the chunk being read) have been asked for.
func (t *throttle) waitRate(ctx context.Context, rows int64) error {
	if t.maxRows <= 0 {
		return nil
	}
	t.mu.Lock()
	now := t.clock.Now()
	if t.start.IsZero() {
		t.start = now
	}
	due := t.start.Add(time.Duration(float64(t.rows) / float64(t.maxRows) * float64(time.Second)))
	t.rows += rows
	t.mu.Unlock()
	if d := due.Sub(now); d > 0 {
		return t.clock.Sleep(ctx, d)
	}
	return nil
}

// correct replaces a chunk's planned rows with the rows it held, once
// known, so that the rate follows what was read.
func (t *throttle) correct(planned, actual int64) {
	if t.maxRows <= 0 {
		return
	}
	t.mu.Lock()
	t.rows += actual - planned
	t.mu.Unlock()
}

// waitLoad probes Threads_running at most once per probeEvery and, while
// it is above the limit, holds every caller.
func (t *throttle) waitLoad(ctx context.Context) error {
	if t.maxThreads <= 0 {
		return nil
	}
	select {
	case t.load <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.load }()
	if t.clock.Now().Sub(t.lastProbe) < t.probeEvery {
		return nil
	}
	paused := false
	for {
		t.lastProbe = t.clock.Now()
		n, ok := t.threadsRunning(ctx)
		if !ok || n <= t.maxThreads {
			if paused {
				t.log.Info("source load is back under the limit; resuming the check", "threads_running", n)
				if t.onResume != nil {
					t.onResume(n)
				}
			}
			return nil
		}
		if !paused {
			paused = true
			t.log.Warn("source is busy; pausing the check", "threads_running", n, "limit", t.maxThreads)
			if t.onPause != nil {
				t.onPause(n)
			}
		}
		if err := t.clock.Sleep(ctx, t.probeEvery); err != nil {
			return err
		}
	}
}

// threadsRunning reads the source's Threads_running less the probe itself
// and the check's own running queries. The probe is advisory: when it
// cannot be read, ok is false and the check goes on.
func (t *throttle) threadsRunning(ctx context.Context) (n int64, ok bool) {
	var name, v string
	if err := t.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &v); err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	n-- // the probe
	if t.own != nil {
		n -= t.own()
	}
	return max(n, 0), true
}
