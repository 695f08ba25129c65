package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/check"
	"github.com/sluice-db/sluice/internal/testdb"
)

// benchCheckLive checks a source against a replica that applies everything
// 3 s late (MASTER_DELAY=3) while a writer makes 300 writes/s on the
// source; differences injected on the replica must all be found, and
// nothing else reported.
func benchCheckLive(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check-live", flag.ContinueOnError)
	tables := fs.Int("tables", 4, "sysbench tables")
	size := fs.Int("table-size", 100000, "rows per table")
	rate := fs.Int("rate", 300, "writes per second on the source")
	delay := fs.Duration("delay", 3*time.Second, "replica MASTER_DELAY")
	inject := fs.Int("inject", 20, "differences injected on the replica")
	verbose := fs.Bool("v", false, "log the check's progress (chunks, waits) to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pair, err := checkStartPair(ctx, testdb.ReplicaOptions{Delay: *delay})
	if err != nil {
		return err
	}
	defer pair.close()
	fmt.Printf("source %s, replica %s (%s behind); preparing %d x %d rows\n", pair.src.Addr(), pair.rep.Addr(), *delay, *tables, *size)
	if err := checkSysbenchPrepare(ctx, pair.src, *tables, *size); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = pair.rep.WaitCaughtUp(wctx, pair.src)
	cancel()
	if err != nil {
		return err
	}
	// The writer owns the lower half of each table's ids (and its own
	// inserts above them); injected differences live in the upper half, so
	// that replication never meets them.
	owned := *size / 2
	want, err := checkInject(ctx, pair.rep, *tables, owned+1, *size, *inject)
	if err != nil {
		return err
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var writes int
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		writes, werr = checkWriteLoad(lctx, pair.src, *tables, owned, *rate)
	}()
	time.Sleep(*delay + time.Second) // the replica is now a full delay behind
	s, t, err := checkConfigs(pair)
	if err != nil {
		stopLoad()
		return err
	}
	start := time.Now()
	o := check.Options{Source: s, Target: t, Tables: []string{"sbtest.*"}}
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rep, err := check.Run(ctx, o)
	elapsed := time.Since(start)
	stopLoad()
	wg.Wait()
	if err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("writer: %w", werr)
	}
	got := map[string]bool{}
	for _, tr := range rep.Tables {
		if tr.Error != "" {
			return fmt.Errorf("table %s: %s", tr.Source, tr.Error)
		}
		for _, d := range tr.Differences {
			got[d.Type+":"+tr.Source+":"+strings.Join(d.Key, ",")] = true
		}
	}
	missed, falseDiffs := 0, 0
	for _, w := range want {
		if !got[w] {
			missed++
			fmt.Printf("missed: %s\n", w)
		}
		delete(got, w)
	}
	for g := range got {
		falseDiffs++
		fmt.Printf("false difference: %s\n", g)
	}
	rows, _, _, _, unsettled := rep.Totals()
	fmt.Printf("result: %d rows checked in %.1fs while the source took %d writes (%.0f/s) with the replica %s behind; "+
		"injected %d, found %d, false differences %d, unsettled %d\n",
		rows, elapsed.Seconds(), writes, float64(writes)/elapsed.Seconds(), *delay, len(want), len(want)-missed, falseDiffs, unsettled)
	if missed > 0 || falseDiffs > 0 {
		return fmt.Errorf("%d injected differences missed, %d false differences", missed, falseDiffs)
	}
	return nil
}

// checkInject changes n rows of the sbtest tables directly on the replica,
// in ids lo..hi (updates, deletes, and inserts above 10M), and returns the
// differences a check must report.
func checkInject(ctx context.Context, rep *testdb.Server, tables, lo, hi, n int) ([]string, error) {
	rnd := rand.New(rand.NewSource(11))
	used := map[string]bool{}
	stmts := []string{"SET sql_log_bin = 0"}
	var want []string
	for i := 0; i < n; i++ {
		tbl := fmt.Sprintf("sbtest%d", 1+rnd.Intn(tables))
		id := lo + rnd.Intn(hi-lo+1)
		for used[fmt.Sprint(tbl, id)] {
			id = lo + rnd.Intn(hi-lo+1)
		}
		used[fmt.Sprint(tbl, id)] = true
		switch i % 3 {
		case 0:
			stmts = append(stmts, fmt.Sprintf("UPDATE sbtest.%s SET c = CONCAT('x', SUBSTRING(c, 2)) WHERE id = %d", tbl, id))
			want = append(want, fmt.Sprintf("different:sbtest.%s:%d", tbl, id))
		case 1:
			stmts = append(stmts, fmt.Sprintf("DELETE FROM sbtest.%s WHERE id = %d", tbl, id))
			want = append(want, fmt.Sprintf("missing:sbtest.%s:%d", tbl, id))
		case 2:
			nid := 10000000 + i
			stmts = append(stmts, fmt.Sprintf("INSERT INTO sbtest.%s (id, k, c, pad) VALUES (%d, 1, 'extra', 'extra')", tbl, nid))
			want = append(want, fmt.Sprintf("extra:sbtest.%s:%d", tbl, nid))
		}
	}
	if err := rep.ExecContext(ctx, stmts...); err != nil {
		return nil, err
	}
	sort.Strings(want)
	return want, nil
}

// checkWriteLoad makes about rate writes per second on the source until ctx
// ends: updates of ids 1..owned and inserts and deletes of its own ids from
// 5M, spread over the tables.
func checkWriteLoad(ctx context.Context, s *testdb.Server, tables, owned, rate int) (int, error) {
	pool, err := s.Open("sbtest")
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	pool.SetMaxOpenConns(4)
	rnd := rand.New(rand.NewSource(5))
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	n := 0
	next := make([]int, tables)
	for i := range next {
		next[i] = 5000000
	}
	for {
		select {
		case <-ctx.Done():
			return n, nil
		case <-tick.C:
		}
		ti := rnd.Intn(tables)
		tbl := fmt.Sprintf("sbtest%d", ti+1)
		var q string
		switch rnd.Intn(4) {
		case 0:
			next[ti]++
			q = fmt.Sprintf("INSERT INTO %s (id, k, c, pad) VALUES (%d, %d, 'w', 'w')", tbl, next[ti], rnd.Intn(1000))
		case 1:
			q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", tbl, 5000000+rnd.Intn(next[ti]-5000000+1))
		case 2:
			q = fmt.Sprintf("UPDATE %s SET k = k + 1 WHERE id = %d", tbl, 1+rnd.Intn(owned))
		default:
			q = fmt.Sprintf("UPDATE %s SET c = '%d-%d' WHERE id = %d", tbl, n, rnd.Int63(), 1+rnd.Intn(owned))
		}
		if _, err := pool.ExecContext(ctx, q); err != nil {
			if ctx.Err() != nil {
				return n, nil
			}
			return n, err
		}
		n++
	}
}
