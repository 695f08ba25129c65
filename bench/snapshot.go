package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/pipeline"
	"github.com/sluice-db/sluice/snapshot"
)

// benchSnapshot copies sysbench's 4 x 250k tables (oltp_write_only prepare)
// from one source into empty targets, with `sluice sync --snapshot=only`
// (run in process, the same code) and with `mariadb-dump | mariadb`, in
// turn, in the same run. Every target is a fresh server with the same
// settings, and is checked equal to the source (row counts and CHECKSUM
// TABLE). It prints each time, the medians and their ratio.
func benchSnapshot(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	tables := fs.Int("tables", 4, "sysbench tables")
	size := fs.Int("table-size", 250000, "rows per table")
	rounds := fs.Int("rounds", 3, "runs of each tool, alternating which goes first")
	workers := fs.Int("copy-workers", 0, "copy.workers (0: the default)")
	applyWorkers := fs.Int("apply-workers", 0, "apply.workers (0: the default)")
	chunk := fs.Int("chunk-rows", 0, "copy.chunk_rows (0: the default)")
	method := fs.String("method", "", "copy.method (default auto)")
	verbose := fs.Bool("v", false, "log the pipeline")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the sluice runs to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := testdb.New(ctx, testdb.Options{BufferPool: "1G"})
	if err != nil {
		return err
	}
	defer src.Close()
	fmt.Printf("source %s: sysbench oltp_write_only prepare --tables=%d --table-size=%d\n", src.Addr(), *tables, *size)
	start := time.Now()
	if err := checkSysbenchPrepare(ctx, src, *tables, *size); err != nil {
		return err
	}
	fmt.Printf("prepared in %.1fs\n", time.Since(start).Seconds())
	names := make([]string, *tables)
	for i := range names {
		names[i] = "sbtest.sbtest" + strconv.Itoa(i+1)
	}
	want, err := snapshotSummaries(ctx, src, names)
	if err != nil {
		return err
	}
	rows := int64(*tables) * int64(*size)
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	copyOpts := snapshot.Options{Workers: *workers, ChunkRows: *chunk, Method: snapshot.Method(*method)}
	var sl, dump []float64
	var prof *os.File
	if *cpuProfile != "" {
		if prof, err = os.Create(*cpuProfile); err != nil {
			return err
		}
		defer prof.Close()
	}
	runSluice := func(round int) error {
		if prof != nil && round == 1 {
			if err := pprof.StartCPUProfile(prof); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		d, err := snapshotRunSluice(ctx, src, names, want, copyOpts, *applyWorkers, log)
		if err != nil {
			return err
		}
		fmt.Printf("round %d: sluice --snapshot=only  %7.2fs %9.0f rows/s  target equal to source\n", round, d.Seconds(), float64(rows)/d.Seconds())
		sl = append(sl, d.Seconds())
		return nil
	}
	runDump := func(round int) error {
		d, err := snapshotRunDump(ctx, src, names, want)
		if err != nil {
			return err
		}
		fmt.Printf("round %d: mariadb-dump | mariadb  %7.2fs %9.0f rows/s  target equal to source\n", round, d.Seconds(), float64(rows)/d.Seconds())
		dump = append(dump, d.Seconds())
		return nil
	}
	for i := 1; i <= *rounds; i++ {
		first, second := runSluice, runDump
		if i%2 == 0 {
			first, second = runDump, runSluice
		}
		if err := first(i); err != nil {
			return err
		}
		if err := second(i); err != nil {
			return err
		}
	}
	ms, md := medianOf(sl), medianOf(dump)
	fmt.Printf("\nsnapshot: %d rows; median sluice %.2fs, mariadb-dump|mariadb %.2fs: sluice is %.2fx faster (target at least 2.0x)\n",
		rows, ms, md, md/ms)
	if md/ms < 2.0 {
		fmt.Println("below target")
	}
	return nil
}

// snapshotTarget starts an empty target server; both tools get the same.
func snapshotTarget(ctx context.Context) (*testdb.Server, error) {
	return testdb.New(ctx, testdb.Options{NoBinlog: true, BufferPool: "1G"})
}

func snapshotSummaries(ctx context.Context, s *testdb.Server, names []string) ([]testdb.TableSummary, error) {
	out := make([]testdb.TableSummary, len(names))
	for i, n := range names {
		sum, err := s.Summarize(ctx, n)
		if err != nil {
			return nil, err
		}
		out[i] = sum
	}
	return out, nil
}

func snapshotVerify(ctx context.Context, tgt *testdb.Server, names []string, want []testdb.TableSummary, who string) error {
	got, err := snapshotSummaries(ctx, tgt, names)
	if err != nil {
		return fmt.Errorf("%s: verify: %w", who, err)
	}
	for i := range names {
		if got[i] != want[i] {
			return fmt.Errorf("%s: %s differs: source %+v, target %+v", who, names[i], want[i], got[i])
		}
	}
	return nil
}

func snapshotRunSluice(ctx context.Context, src *testdb.Server, names []string, want []testdb.TableSummary, opts snapshot.Options, applyWorkers int, log *slog.Logger) (time.Duration, error) {
	tgt, err := snapshotTarget(ctx)
	if err != nil {
		return 0, err
	}
	defer tgt.Close()
	cfg := &pipeline.Config{Name: "bench-snapshot", Source: src.URL(), Target: tgt.URL(), Snapshot: "only",
		Tables: []pipeline.TableRule{{Source: "sbtest.*"}}, Copy: opts, Apply: pipeline.ApplyConfig{Workers: applyWorkers}}
	r, err := pipeline.NewRunner(cfg, log)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	// The run ends by itself once every table is copied and committed.
	if err := r.Run(ctx, true); err != nil {
		return 0, fmt.Errorf("sluice: %w", err)
	}
	d := time.Since(start)
	if s := r.Status(); s.Copy == nil || !s.Copy.Done {
		return 0, fmt.Errorf("sluice: the run ended before the copy was complete: %+v", s.Copy)
	}
	return d, snapshotVerify(ctx, tgt, names, want, "sluice")
}

func snapshotRunDump(ctx context.Context, src *testdb.Server, names []string, want []testdb.TableSummary) (time.Duration, error) {
	tgt, err := snapshotTarget(ctx)
	if err != nil {
		return 0, err
	}
	defer tgt.Close()
	start := time.Now()
	dump := exec.CommandContext(ctx, "mariadb-dump", "-h127.0.0.1", "-P"+strconv.Itoa(src.Port), "-uroot",
		"--single-transaction", "--databases", "sbtest")
	load := exec.CommandContext(ctx, "mariadb", "-h127.0.0.1", "-P"+strconv.Itoa(tgt.Port), "-uroot")
	pr, pw := io.Pipe()
	dump.Stdout, load.Stdin = pw, pr
	var dumpErr, loadErr bytesBuffer
	dump.Stderr, load.Stderr = &dumpErr, &loadErr
	if err := load.Start(); err != nil {
		return 0, fmt.Errorf("start mariadb: %w", err)
	}
	if err := dump.Start(); err != nil {
		return 0, fmt.Errorf("start mariadb-dump: %w", err)
	}
	derr := dump.Wait()
	pw.Close()
	lerr := load.Wait()
	d := time.Since(start)
	if derr != nil {
		return 0, fmt.Errorf("mariadb-dump: %w: %s", derr, dumpErr.String())
	}
	if lerr != nil {
		return 0, fmt.Errorf("mariadb: %w: %s", lerr, loadErr.String())
	}
	return d, snapshotVerify(ctx, tgt, names, want, "mariadb-dump")
}

// bytesBuffer collects a command's stderr.
type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *bytesBuffer) String() string              { return string(w.b) }
