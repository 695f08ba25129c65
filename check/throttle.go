package check

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// throttle keeps the check from loading the source: it caps the rows read
// per second and pauses while the source is busy (Threads_running above a
// limit), checking the load at most once a second.
type throttle struct {
	db         *sql.DB
	maxRows    int64
	maxThreads int64
	log        *slog.Logger

	mu        sync.Mutex
	start     time.Time
	rows      int64
	lastCheck time.Time
}

func newThrottle(db *sql.DB, o *Options) *throttle {
	return &throttle{db: db, maxRows: o.MaxRowsPerSecond, maxThreads: o.MaxThreadsRunning, log: o.Logger}
}

// wait returns when reading rows more source rows is allowed.
func (t *throttle) wait(ctx context.Context, rows int64) error {
	if t.maxRows > 0 {
		t.mu.Lock()
		if t.start.IsZero() {
			t.start = time.Now()
		}
		due := t.start.Add(time.Duration(float64(t.rows) / float64(t.maxRows) * float64(time.Second)))
		t.rows += rows
		t.mu.Unlock()
		if d := time.Until(due); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	if t.maxThreads <= 0 {
		return nil
	}
	logged := false
	for {
		t.mu.Lock()
		recent := time.Since(t.lastCheck) < time.Second
		if !recent {
			t.lastCheck = time.Now()
		}
		t.mu.Unlock()
		if recent && !logged {
			return nil
		}
		var name, v string
		if err := t.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &v); err != nil {
			// The load probe is advisory: a check that cannot read it goes on.
			return nil
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if n <= t.maxThreads {
			if logged {
				t.log.Info("source load is back under the limit; resuming", "threads_running", n)
			}
			return nil
		}
		if !logged {
			t.log.Warn("source is busy; pausing the check", "threads_running", n, "limit", t.maxThreads)
			logged = true
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}
