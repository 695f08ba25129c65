package check

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// TestLiveNoFalseDifferences: a replica runs 2 s behind while a writer keeps
// changing rows on the source; only the differences injected on the replica
// (in rows the writer does not touch) are reported.
func TestLiveNoFalseDifferences(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	rep := testdb.Start(t, testdb.Options{})
	rep.Replicate(t, src, testdb.ReplicaOptions{Delay: 2 * time.Second})
	src.Exec(t, seedStatements("shop", 3000)...)
	if err := rep.WaitCaughtUp(ctxT(t), src); err != nil {
		t.Fatal(err)
	}
	// The writer owns ids 1..1500 and inserts/deletes above 100000; the
	// injected differences live in 1501..3000.
	want := injectDifferencesIn(t, rep, "shop", 1501, 3000, 9, 5)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var writes int
	var werr error
	go func() {
		defer wg.Done()
		writes, werr = writeLoad(ctx, src, "shop", 1500, 300)
	}()
	time.Sleep(3 * time.Second) // let the replica fall behind by its delay
	// Leaves of 50 rows: mismatching chunks are cut before their row hashes
	// are compared.
	var splits atomic.Int64
	o := Options{Source: cfg(t, src), Target: cfg(t, rep), Tables: []string{"shop.items"}, InitialChunkRows: 200, MaxChunkRows: 400,
		LeafRows: 50, hooks: hooks{onSplit: func(int) { splits.Add(1) }}}
	r, err := Run(ctxT(t), o)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
	if r.Position != "replica" {
		t.Fatalf("target position %q", r.Position)
	}
	if writes < 300 {
		t.Fatalf("the writer made only %d writes", writes)
	}
	if got := diffKeys(r); !equalStrings(got, want) {
		t.Fatalf("with %d writes in flight\n got %v\nwant %v", writes, got, want)
	}
	if splits.Load() == 0 {
		t.Fatal("no mismatching chunk was split")
	}
}

// writeLoad changes rows 1..owned of db.items at about rate writes per
// second (updates, and inserts and deletes of its own ids above 100000)
// until ctx ends; it returns how many writes it made.
func writeLoad(ctx context.Context, s *testdb.Server, db string, owned, rate int) (int, error) {
	pool, err := s.Open(db)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	rnd := rand.New(rand.NewSource(7))
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	n, next := 0, 100000
	for {
		select {
		case <-ctx.Done():
			return n, nil
		case <-tick.C:
		}
		var q string
		switch rnd.Intn(4) {
		case 0:
			next++
			q = fmt.Sprintf("INSERT INTO items VALUES (%d, 'w', 1, NULL)", next)
		case 1:
			q = fmt.Sprintf("DELETE FROM items WHERE id = %d", 100000+rnd.Intn(next-100000+1))
		default:
			q = fmt.Sprintf("UPDATE items SET qty = %d, note = 'w%d' WHERE id = %d", rnd.Intn(1000), n, rnd.Intn(owned)+1)
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

// injectDifferencesIn is injectDifferences on ids lo..hi; inserted rows get
// ids above 900000.
func injectDifferencesIn(t *testing.T, rep *testdb.Server, db string, lo, hi, k int, seed int64) []string {
	rnd := rand.New(rand.NewSource(seed))
	used := map[int]bool{}
	var want []string
	stmts := []string{"SET sql_log_bin = 0"}
	for i := 0; i < k; i++ {
		id := lo + rnd.Intn(hi-lo+1)
		for used[id] {
			id = lo + rnd.Intn(hi-lo+1)
		}
		used[id] = true
		switch i % 3 {
		case 0:
			stmts = append(stmts, fmt.Sprintf("UPDATE %s.items SET name = CONCAT(name, '!') WHERE id = %d", db, id))
			want = append(want, fmt.Sprintf("different:%s.items:%d", db, id))
		case 1:
			stmts = append(stmts, fmt.Sprintf("DELETE FROM %s.items WHERE id = %d", db, id))
			want = append(want, fmt.Sprintf("missing:%s.items:%d", db, id))
		case 2:
			stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.items VALUES (%d, 'extra', 1, NULL)", db, 900000+i))
			want = append(want, fmt.Sprintf("extra:%s.items:%d", db, 900000+i))
		}
	}
	rep.Exec(t, stmts...)
	sortStrings(want)
	return want
}

// TestPipelineCheckpointPosition: with --pipeline the target's applied
// position is its checkpoint row; a check waits for it and gives up, with
// the position it waited for, when it does not come.
func TestPipelineCheckpointPosition(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	src.Exec(t, seedStatements("shop", 500)...)
	tgt.Exec(t, seedStatements("shop", 500)...)
	tgt.Exec(t, "CREATE DATABASE sluice", "CREATE TABLE sluice.`checkpoint` (pipeline VARCHAR(191) NOT NULL PRIMARY KEY, epoch BIGINT UNSIGNED NOT NULL, "+
		"binlog_file VARCHAR(255) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, gtid TEXT NOT NULL)")
	st, err := src.SourceStatus(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	behind := st.Pos - 1
	tgt.Exec(t, fmt.Sprintf("INSERT INTO sluice.`checkpoint` VALUES ('p1', 1, '%s', %d, '')", st.File, behind))
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"shop.items"}, Pipeline: "p1", WaitTimeout: 300 * time.Millisecond}
	r, err := Run(ctxT(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Position != "pipeline p1" || r.ExitStatus() != 2 {
		t.Fatalf("checkpoint behind: position %q, exit status %d", r.Position, r.ExitStatus())
	}
	if e := r.Tables[0].Error; !strings.Contains(e, fmt.Sprintf("did not apply source position %s:%d", st.File, st.Pos)) ||
		!strings.Contains(e, fmt.Sprintf("its checkpoint is at %s:%d", st.File, behind)) {
		t.Fatalf("error %q", e)
	}
	// The pipeline catches up: a source write, the same on the target, and
	// the checkpoint past it.
	src.Exec(t, "UPDATE shop.items SET qty = 99 WHERE id = 5")
	tgt.Exec(t, "UPDATE shop.items SET qty = 99 WHERE id = 5")
	st, err = src.SourceStatus(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, fmt.Sprintf("UPDATE sluice.`checkpoint` SET binlog_file = '%s', binlog_pos = %d WHERE pipeline = 'p1'", st.File, st.Pos))
	o.WaitTimeout = time.Minute
	if r := run(t, o); r.ExitStatus() != 0 || r.Tables[0].Rows != 500 {
		t.Fatalf("checkpoint caught up: exit status %d, rows %d", r.ExitStatus(), r.Tables[0].Rows)
	}
}
