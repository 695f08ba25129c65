package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/pipeline"
)

// benchCatchup applies workload W's whole backlog to an empty target with
// sluice, and with MariaDB's own replication (one SQL thread) to another
// empty target configured the same way, in the same run, alternating. Both
// targets must end equal to the source.
func benchCatchup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("catchup", flag.ContinueOnError)
	rounds := fs.Int("rounds", 3, "rounds, each running native replication and sluice once")
	workers := fs.Int("workers", 0, "sluice apply workers (0: the default)")
	durable := fs.Bool("durable", false, "targets run with sync_binlog=1 and innodb_flush_log_at_trx_commit=1")
	pool := fs.String("buffer-pool", "512M", "innodb_buffer_pool_size of the targets")
	regenerate := fs.Bool("regenerate", false, "generate workload W again instead of using the cache")
	only := fs.String("only", "", "run only one side (sluice or native), for profiling; no ratio")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	w, err := LoadWorkload(ctx, *regenerate, logf)
	if err != nil {
		return err
	}
	src, err := w.StartServer(ctx, testdb.Options{BufferPool: "512M"})
	if err != nil {
		return err
	}
	defer src.Close()
	end, err := src.SourceStatus(ctx)
	if err != nil {
		return err
	}
	tables := []string{"sbtest.sbtest1", "sbtest.sbtest2", "sbtest.sbtest3", "sbtest.sbtest4"}
	want, err := summaries(ctx, src, tables)
	if err != nil {
		return err
	}
	logf("catch-up: source %s, binlog ends at %s:%d, %d binlog bytes", src.Addr(), end.File, end.Pos, w.BinlogBytes())
	targetOpts := testdb.Options{NoBinlog: true, Durable: *durable, BufferPool: *pool}

	var native, sluice []time.Duration
	for r := 1; r <= *rounds; r++ {
		if *only != "sluice" {
			d, err := catchupNative(ctx, src, end, targetOpts, tables, want)
			if err != nil {
				return fmt.Errorf("round %d, native replication: %w", r, err)
			}
			native = append(native, d)
			logf("round %d: native replication %s", r, d.Round(time.Millisecond))
		}
		if *only != "native" {
			d, err := catchupSluice(ctx, src, end, targetOpts, *workers, tables, want)
			if err != nil {
				return fmt.Errorf("round %d, sluice: %w", r, err)
			}
			sluice = append(sluice, d)
			logf("round %d: sluice %s", r, d.Round(time.Millisecond))
		}
	}
	if *only != "" {
		return nil
	}
	mn, ms := median(native), median(sluice)
	fmt.Printf("catch-up of workload W (%d binlog bytes), medians of %d rounds:\n", w.BinlogBytes(), *rounds)
	fmt.Printf("  native replication (1 SQL thread): %s\n", mn.Round(time.Millisecond))
	fmt.Printf("  sluice sync:                       %s\n", ms.Round(time.Millisecond))
	fmt.Printf("  ratio sluice/native: %.2fx (target at most 1.0x); all targets equal to the source\n", ms.Seconds()/mn.Seconds())
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func summaries(ctx context.Context, s *testdb.Server, tables []string) ([]testdb.TableSummary, error) {
	var out []testdb.TableSummary
	for _, t := range tables {
		sum, err := s.Summarize(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

func verifyTarget(ctx context.Context, tgt *testdb.Server, tables []string, want []testdb.TableSummary) error {
	got, err := summaries(ctx, tgt, tables)
	if err != nil {
		return err
	}
	for i := range tables {
		if got[i] != want[i] {
			return fmt.Errorf("%s differs from the source: target %+v, source %+v", tables[i], got[i], want[i])
		}
	}
	return nil
}

func catchupNative(ctx context.Context, src *testdb.Server, end testdb.SourceStatus, opts testdb.Options, tables []string, want []testdb.TableSummary) (time.Duration, error) {
	tgt, err := testdb.New(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer tgt.Close()
	start := time.Now()
	if err := tgt.ReplicateFrom(ctx, src, testdb.ReplicaOptions{FilePos: true}); err != nil {
		return 0, err
	}
	if err := tgt.WaitApplied(ctx, end); err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, verifyTarget(ctx, tgt, tables, want)
}

func catchupSluice(ctx context.Context, src *testdb.Server, end testdb.SourceStatus, opts testdb.Options, workers int, tables []string, want []testdb.TableSummary) (time.Duration, error) {
	tgt, err := testdb.New(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer tgt.Close()
	cfg := &pipeline.Config{
		Name: "catchup", Source: src.URL(), Target: tgt.URL(), From: "start",
		Tables: []pipeline.TableRule{{Source: "sbtest.*"}},
		Apply:  pipeline.ApplyConfig{Workers: workers},
	}
	runner, err := pipeline.NewRunner(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- runner.Run(rctx, true) }()
	// The source's end may lie after the last transaction (a new file's
	// header): caught up means the checkpoint holds the source's GTID
	// position, or reaches its end.
	target := change.Position{File: end.File, Offset: end.Pos}
	for {
		s := runner.Status()
		if !s.Position.IsZero() && (end.GTID != "" && s.Position.GTID == end.GTID || s.Position.Compare(target) >= 0) {
			break
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("pipeline stopped before catching up: %v (status %+v)", err, s)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	d := time.Since(start)
	st := runner.Status().Apply
	fmt.Fprintf(os.Stderr, "  sluice applier: %d groups, %d txns, %d rows (%d by LOAD DATA), %d statements; exec %s, commit %s, waits %s\n",
		st.Groups, st.Txns, st.Rows, st.Loaded, st.Statements, st.Exec.Round(time.Millisecond), st.Commit.Round(time.Millisecond), st.Wait.Round(time.Millisecond))
	cancel()
	<-done
	return d, verifyTarget(ctx, tgt, tables, want)
}
