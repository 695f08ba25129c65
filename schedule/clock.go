package schedule

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-db/sluice/store"
)

// dbClock tells the meta store's time from this node: the local clock plus
// an offset measured against UTC_TIMESTAMP(6). Nodes whose own clocks are
// skewed still agree on when a fire is due, to within a round trip. On
// SQLite, which one node uses, the offset is zero.
type dbClock struct {
	st     *store.Store
	offset atomic.Int64 // nanoseconds to add to the local clock

	mu      sync.Mutex
	samples []clockSample
}

type clockSample struct {
	rtt, offset time.Duration
}

// Now is the meta store's current time as this node estimates it.
func (c *dbClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// sync takes a few samples of the meta store's clock.
func (c *dbClock) sync(ctx context.Context) error {
	if c.st.Dialect() != store.MySQL {
		return nil
	}
	for i := 0; i < 3; i++ {
		if err := c.sample(ctx); err != nil {
			return err
		}
	}
	return nil
}

// sample measures the offset once. Of the recent samples, the one with the
// shortest round trip bounds the error best, so that one is used.
func (c *dbClock) sample(ctx context.Context) error {
	if c.st.Dialect() != store.MySQL {
		return nil
	}
	t0 := time.Now()
	db, err := c.st.Now(ctx)
	if err != nil {
		return err
	}
	rtt := time.Since(t0)
	mid := t0.Add(rtt / 2)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples = append(c.samples, clockSample{rtt: rtt, offset: db.Sub(mid.Round(0))})
	if len(c.samples) > 16 {
		c.samples = c.samples[1:]
	}
	best := c.samples[0]
	for _, s := range c.samples[1:] {
		if s.rtt < best.rtt {
			best = s
		}
	}
	c.offset.Store(int64(best.offset))
	return nil
}

// waitUntil returns once the clock has reached t, yielding the processor
// meanwhile. It is for the last millisecond or two before a start, which a
// timer cannot hit: timers fire late by up to a millisecond, and by more
// when the machine is busy.
func (c *dbClock) waitUntil(t time.Time) {
	for c.Now().Before(t) {
		runtime.Gosched()
	}
}
