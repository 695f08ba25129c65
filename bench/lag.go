package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/pipeline"
)

// benchLag follows sysbench oltp_write_only at a fixed rate with a sluice
// pipeline and measures the lag through its heartbeat row: each heartbeat
// carries the source's time when it was written, and is compared with the
// clock when the target commits it (both servers and sluice share this
// machine's clock). Target: p99 under 500 ms. The target must end equal to
// the source.
func benchLag(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("lag", flag.ContinueOnError)
	rate := fs.Int("rate", 2000, "sysbench --rate (transactions per second)")
	threads := fs.Int("threads", 8, "sysbench --threads")
	seconds := fs.Int("time", 60, "sysbench --time (seconds)")
	heartbeat := fs.Duration("heartbeat", 100*time.Millisecond, "heartbeat period")
	workers := fs.Int("workers", 0, "apply.workers (0: the default)")
	groupRows := fs.Int("max-group-rows", 0, "apply.max_group_rows (0: the default)")
	serverArgs := fs.String("server-args", "", "extra mariadbd options for both servers, separated by spaces")
	series := fs.String("samples", "", "write each sample (seconds since the start, lag and its read part in ms) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	w, err := LoadWorkload(ctx, false, logf)
	if err != nil {
		return err
	}
	// Source and target both start from W's data, so the target holds what
	// the source holds when the pipeline starts from "now".
	opts := testdb.Options{BufferPool: "512M", Args: strings.Fields(*serverArgs)}
	src, err := w.StartServer(ctx, opts)
	if err != nil {
		return err
	}
	defer src.Close()
	tgt, err := w.StartServer(ctx, opts)
	if err != nil {
		return err
	}
	defer tgt.Close()

	// Production replicas run warm: both servers read the tables (rows and
	// the secondary index sysbench updates) into their buffer pools first,
	// so the start measures the pipeline, not disk reads of a cold cache.
	tables := []string{"sbtest.sbtest1", "sbtest.sbtest2", "sbtest.sbtest3", "sbtest.sbtest4"}
	for _, s := range []*testdb.Server{src, tgt} {
		for i, t := range tables {
			if err := s.ExecContext(ctx, "SELECT COUNT(*), SUM(LENGTH(c)) FROM "+t, fmt.Sprintf("SELECT COUNT(k) FROM %s FORCE INDEX (k_%d)", t, i+1)); err != nil {
				return fmt.Errorf("warming %s: %w", t, err)
			}
		}
	}

	cfg := &pipeline.Config{
		Name: "lag", Source: src.URL(), Target: tgt.URL(), From: "now",
		Tables:    []pipeline.TableRule{{Source: "sbtest.*"}},
		Heartbeat: pipeline.Duration(*heartbeat),
		Apply:     pipeline.ApplyConfig{Workers: *workers, MaxGroupRows: *groupRows},
	}
	runner, err := pipeline.NewRunner(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		samples  []time.Duration
		reads    []time.Duration
		at       []time.Time
		measure  bool
		measured = func(hb pipeline.HeartbeatSample) {
			mu.Lock()
			if measure {
				samples = append(samples, hb.Lag)
				reads = append(reads, hb.Read)
				at = append(at, time.Now())
			}
			mu.Unlock()
		}
	)
	runner.SetHeartbeatObserver(measured)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx, true) }()
	// Wait until heartbeats flow.
	deadline := time.Now().Add(60 * time.Second)
	for runner.Status().HeartbeatAt.IsZero() {
		if time.Now().After(deadline) {
			return fmt.Errorf("no heartbeat applied within 60s (status %+v)", runner.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	measure = true
	mu.Unlock()
	p := defaultWorkloadParams()
	sb := append([]string{"oltp_write_only"}, p.sysbenchArgs(src)...)
	sb = append(sb, "--threads="+strconv.Itoa(*threads), "--time="+strconv.Itoa(*seconds), "--rate="+strconv.Itoa(*rate), "--report-interval=10", "run")
	logf("lag: sysbench %v", sb)
	out, err := exec.CommandContext(ctx, "sysbench", sb...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sysbench: %v\n%s", err, out)
	}
	mu.Lock()
	measure = false
	got := append([]time.Duration(nil), samples...)
	mu.Unlock()
	if *series != "" && len(got) > 0 {
		var b []byte
		for i, d := range got {
			b = fmt.Appendf(b, "%.3f %d %d\n", at[i].Sub(at[0]).Seconds(), d.Milliseconds(), reads[i].Milliseconds())
		}
		if err := os.WriteFile(*series, b, 0o644); err != nil {
			return err
		}
	}
	if err := waitEqualTables(ctx, src, tgt, tables, 2*time.Minute); err != nil {
		return err
	}
	st := runner.Status()
	cancel()
	<-done
	if len(got) == 0 {
		return fmt.Errorf("no lag samples")
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	q := func(f float64) time.Duration { return got[min(len(got)-1, int(f*float64(len(got))))] }
	fmt.Printf("lag under sysbench oltp_write_only --rate=%d --threads=%d --time=%d (heartbeat every %s):\n", *rate, *threads, *seconds, *heartbeat)
	fmt.Printf("  %s\n", sysbenchSummary(out))
	fmt.Printf("  %d samples: p50 %s, p99 %s, max %s (target p99 under 500ms)\n", len(got), q(0.50).Round(time.Millisecond), q(0.99).Round(time.Millisecond), got[len(got)-1].Round(time.Millisecond))
	fmt.Printf("  applied %d txns, %d rows; target equal to source\n", st.TxnsApplied, st.RowsApplied)
	return nil
}

func waitEqualTables(ctx context.Context, a, b *testdb.Server, tables []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		want, err := summaries(ctx, a, tables)
		if err != nil {
			return err
		}
		err = verifyTarget(ctx, b, tables, want)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
