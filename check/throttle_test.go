package check

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// fakeClock moves only when the code under test sleeps, so that a rate
// limit is checked by what it asks for, not by waiting for it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return ctx.Err()
}

func (c *fakeClock) elapsed(since time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(since)
}

// TestThrottleRateSpacesReads: at 1000 rows/s, chunks of 100 rows start
// 100 ms apart, the first at once; a chunk that held fewer rows than
// planned gives the difference back.
func TestThrottleRateSpacesReads(t *testing.T) {
	clk := newFakeClock()
	start := clk.Now()
	th := newThrottle(nil, &Options{MaxRowsPerSecond: 1000, hooks: hooks{clock: clk}}, nil)
	ctx := context.Background()
	for i := 0; i < 11; i++ {
		if err := th.wait(ctx, 100); err != nil {
			t.Fatal(err)
		}
		if got, want := clk.elapsed(start), time.Duration(i)*100*time.Millisecond; got != want {
			t.Fatalf("chunk %d may start at %s, want %s", i, got, want)
		}
	}
	// The 11th chunk may start at 1 s; it held 40 rows, not 100, so the
	// 12th is due at 1.04 s, not 1.1 s.
	th.correct(100, 40)
	if err := th.wait(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if got, want := clk.elapsed(start), 1040*time.Millisecond; got != want {
		t.Fatalf("after a short chunk the next starts at %s, want %s", got, want)
	}
}

// TestCheckKeepsRowRate runs a whole check under a rows/s cap: 3000 rows
// at 1000 rows/s in chunks of 100 take 3 s of (fake) time, and the check is
// still exact.
func TestCheckKeepsRowRate(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	src.Exec(t, seedStatements("shop", 3000)...)
	tgt.Exec(t, seedStatements("shop", 3000)...)
	tgt.Exec(t, "UPDATE shop.items SET name = 'changed' WHERE id = 2500")
	clk := newFakeClock()
	start := clk.Now()
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"shop.items"}, InitialChunkRows: 100, MaxChunkRows: 100,
		MaxRowsPerSecond: 1000, Parallel: 1, RecheckDelay: 10 * time.Millisecond, hooks: hooks{clock: clk}}
	r := run(t, o)
	if got, want := diffKeys(r), []string{"different:shop.items:2500"}; !equalStrings(got, want) {
		t.Fatalf("differences %v, want %v", got, want)
	}
	if r.Tables[0].Rows != 3000 || r.Tables[0].Chunks != 30 {
		t.Fatalf("rows %d in %d chunks, want 3000 in 30", r.Tables[0].Rows, r.Tables[0].Chunks)
	}
	// 30 chunks of 100 rows: the last may start at 2.9 s, and the check
	// learns there is no 31st at 3.0 s.
	if got := clk.elapsed(start); got < 2900*time.Millisecond || got > 3000*time.Millisecond {
		t.Fatalf("3000 rows at 1000 rows/s took %s of throttle time, want 2.9 s to 3 s (sleeps %v)", got, clk.sleeps)
	}
}

// TestCheckPausesWhileSourceBusy: with more threads running on the source
// than MaxThreadsRunning, the check waits before its first chunk, and goes
// on once the load is gone.
func TestCheckPausesWhileSourceBusy(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	src.Exec(t, seedStatements("shop", 1000)...)
	tgt.Exec(t, seedStatements("shop", 1000)...)
	ctx := ctxT(t)

	// Four sessions sleeping in a query count as running threads.
	pool := src.DB(t, "")
	var ids []int64
	var sleepers sync.WaitGroup
	for i := 0; i < 4; i++ {
		conn, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		sleepers.Add(1)
		go func() {
			defer sleepers.Done()
			defer conn.Close()
			var r sql.NullInt64
			_ = conn.QueryRowContext(ctx, "SELECT SLEEP(600)").Scan(&r)
		}()
	}
	for {
		var name string
		var n int
		if err := pool.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		if n >= 5 {
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			t.Fatalf("the sleeping sessions never ran: %v", err)
		}
	}

	paused := make(chan int64, 1)
	var resumed atomic.Int64
	var chunksBeforeResume atomic.Int64
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"shop.*"}, MaxThreadsRunning: 2,
		RecheckDelay: 10 * time.Millisecond, hooks: hooks{
			probeEvery: 20 * time.Millisecond,
			onPause: func(n int64) {
				select {
				case paused <- n:
				default:
				}
			},
			onResume: func(n int64) { resumed.Store(n + 1) },
			afterChunk: func(string, int64) {
				if resumed.Load() == 0 {
					chunksBeforeResume.Add(1)
				}
			},
		}}
	done := make(chan *Report, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := Run(ctx, o)
		errc <- err
		done <- r
	}()
	select {
	case n := <-paused:
		if n < 3 {
			t.Fatalf("paused with %d other threads running, want at least 3", n)
		}
	case err := <-errc:
		t.Fatalf("the check ran to its end without pausing: %v", err)
	case <-ctx.Done():
		t.Fatal("the check never paused")
	}
	for _, id := range ids {
		// KILL takes no placeholder; the id is the server's own number.
		if _, err := pool.ExecContext(ctx, "KILL QUERY "+strconv.FormatInt(id, 10)); err != nil {
			t.Fatal(err)
		}
	}
	sleepers.Wait()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r := <-done
	if resumed.Load() == 0 {
		t.Fatal("the check finished without resuming")
	}
	if n := chunksBeforeResume.Load(); n != 0 {
		t.Fatalf("%d chunks were read while the source was busy", n)
	}
	if rows, m, e, d, _ := r.Totals(); rows != 2000 || m+e+d != 0 {
		t.Fatalf("after the pause: %d rows, %d differences", rows, m+e+d)
	}
}
