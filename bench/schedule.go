package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

// benchSchedule fires 10,000 jobs, half every second and half once a minute
// (spread over the minute's seconds), on a SQLite meta store with one node
// and on a MariaDB meta store with one and with several nodes. It measures
// the fire delay (run start minus scheduled time, from the run rows) and
// counts duplicate fires (an attempt of a fire executed twice, seen by the
// job kind itself) and missed fires (a fire of the window without a
// succeeded run).
func benchSchedule(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	jobs := fs.Int("jobs", 10000, "number of jobs")
	every := fs.Float64("every-second", 0.5, "share of the jobs that fire every second; the rest fire once a minute")
	window := fs.Duration("duration", 20*time.Second, "measured window per configuration")
	nodes := fs.Int("nodes", 3, "nodes sharing the MariaDB meta store in the multi-node run")
	metas := fs.String("meta", "sqlite,mysql,mysql-multi", "configurations to run: sqlite, mysql (one node), mysql-multi")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var srv *testdb.Server
	defer func() {
		if srv != nil {
			srv.Close()
		}
	}()
	fmt.Printf("schedule: %d jobs (%.0f%% every second, the rest every minute), %s measured per configuration\n", *jobs, *every*100, *window)
	for _, m := range strings.Split(*metas, ",") {
		var dsn string
		n := 1
		switch m {
		case "sqlite":
			dir, err := os.MkdirTemp("", "sluice-bench-schedule-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			dsn = "sqlite:" + filepath.Join(dir, "meta.db")
		case "mysql", "mysql-multi":
			if srv == nil {
				var err error
				if srv, err = testdb.New(ctx, testdb.Options{NoBinlog: true, BufferPool: "512M"}); err != nil {
					return err
				}
			}
			dsn = fmt.Sprintf("mysql://root@%s/bench_%s", srv.Addr(), strings.ReplaceAll(m, "-", "_"))
			if m == "mysql-multi" {
				n = *nodes
			}
		default:
			return fmt.Errorf("unknown configuration %q", m)
		}
		res, err := runScheduleBench(ctx, dsn, n, *jobs, *every, *window)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		fmt.Printf("%-12s nodes=%d fires=%d delay p50=%s p99=%s max=%s duplicates=%d missed=%d (no row %d, not succeeded %d) lost-claims=%d\n",
			m, n, res.fires, res.p50, res.p99, res.max, res.duplicates, res.missing+res.failed, res.missing, res.failed, res.lost)
	}
	return nil
}

type scheduleResult struct {
	fires           int
	p50, p99, max   time.Duration
	duplicates      int
	missing, failed int
	lost            int64
}

// benchKind counts executions of each (job, scheduled time, attempt).
type benchKind struct {
	mu   sync.Mutex
	seen map[string]int
}

func (k *benchKind) Validate(json.RawMessage) error { return nil }

func (k *benchKind) Run(_ context.Context, run schedule.RunInfo, _ json.RawMessage, _ io.Writer) error {
	key := fmt.Sprintf("%d|%d|%d", run.JobID, run.ScheduledTime.UnixMicro(), run.Attempt)
	k.mu.Lock()
	k.seen[key]++
	k.mu.Unlock()
	return nil
}

func runScheduleBench(ctx context.Context, dsn string, nodes, jobs int, every float64, window time.Duration) (scheduleResult, error) {
	var res scheduleResult
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return res, err
	}
	defer st.Close()
	// Jobs go in with plain SQL, many rows per statement, as an operator
	// loading a job table would.
	perSecond := int(float64(jobs) * every)
	second := map[int64]int{} // minute jobs: the second they fire at
	for start := 0; start < jobs; start += 1000 {
		var b strings.Builder
		var qargs []any
		b.WriteString("INSERT INTO jobs (name, schedule, kind, config) VALUES ")
		for i := start; i < min(start+1000, jobs); i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, 'bench', '{}')")
			spec := "* * * * * *"
			if i >= perSecond {
				spec = fmt.Sprintf("%d * * * * *", i%60)
			}
			qargs = append(qargs, fmt.Sprintf("bench-%05d", i), spec)
		}
		if _, err := st.DB().ExecContext(ctx, b.String(), qargs...); err != nil {
			return res, fmt.Errorf("insert jobs: %w", err)
		}
	}
	all, err := st.Jobs(ctx)
	if err != nil {
		return res, err
	}
	everySecond := map[int64]bool{}
	for _, j := range all {
		if j.Schedule == "* * * * * *" {
			everySecond[j.ID] = true
		} else {
			var s int
			fmt.Sscanf(j.Schedule, "%d", &s)
			second[j.ID] = s
		}
	}

	kind := &benchKind{seen: map[string]int{}}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	type running struct {
		s      *schedule.Scheduler
		st     *store.Store
		cancel context.CancelFunc
		done   chan error
	}
	var rs []running
	for i := 0; i < nodes; i++ {
		nst, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			return res, err
		}
		s, err := schedule.New(nst, schedule.Options{Kinds: schedule.Kinds{"bench": kind}, Logger: log, RunRetention: -1})
		if err != nil {
			return res, err
		}
		rctx, cancel := context.WithCancel(ctx)
		r := running{s: s, st: nst, cancel: cancel, done: make(chan error, 1)}
		go func() { r.done <- s.Run(rctx) }()
		rs = append(rs, r)
	}
	stopAll := func() error {
		var errs []error
		for _, r := range rs {
			r.cancel()
			errs = append(errs, <-r.done)
			r.st.Close()
		}
		return errors.Join(errs...)
	}
	// Warm up: every node loaded, leases and members settled.
	time.Sleep(3 * time.Second)
	now, err := st.Now(ctx)
	if err != nil {
		stopAll()
		return res, err
	}
	from := now.Truncate(time.Second).Add(time.Second)
	to := from.Add(window)
	select {
	case <-ctx.Done():
		stopAll()
		return res, ctx.Err()
	case <-time.After(time.Until(to) + 3*time.Second):
	}
	for _, r := range rs {
		res.lost += r.s.Stats().Lost.Load()
	}
	if err := stopAll(); err != nil {
		return res, err
	}

	runs, err := st.RunsBetween(ctx, from, to)
	if err != nil {
		return res, err
	}
	type fire struct {
		job int64
		at  int64
	}
	byFire := map[fire]store.Run{}
	var delays []time.Duration
	for _, r := range runs {
		byFire[fire{r.JobID, r.ScheduledTime.UnixMicro()}] = r
		if !r.StartedAt.IsZero() {
			delays = append(delays, r.StartedAt.Sub(r.ScheduledTime))
		}
	}
	for at := from; at.Before(to); at = at.Add(time.Second) {
		for _, j := range all {
			if !everySecond[j.ID] && second[j.ID] != at.Second() {
				continue
			}
			res.fires++
			r, ok := byFire[fire{j.ID, at.UnixMicro()}]
			switch {
			case !ok:
				res.missing++
			case r.Status != store.RunSucceeded:
				res.failed++
			}
		}
	}
	kind.mu.Lock()
	for _, n := range kind.seen {
		if n > 1 {
			res.duplicates += n - 1
		}
	}
	kind.mu.Unlock()
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	if len(delays) > 0 {
		pick := func(q float64) time.Duration {
			return delays[min(len(delays)-1, int(q*float64(len(delays))))].Round(100 * time.Microsecond)
		}
		res.p50, res.p99, res.max = pick(0.50), pick(0.99), delays[len(delays)-1].Round(100*time.Microsecond)
	}
	return res, nil
}
