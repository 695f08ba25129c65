package capture

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

// seqWriter inserts 1, 2, 3, ... into test.seq, one transaction each,
// riding out server restarts: a row whose commit was not acknowledged is
// retried, and a duplicate key then says it had committed.
type seqWriter struct {
	db   *sql.DB
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	last int64
}

func startSeqWriter(t *testing.T, s *testdb.Server) *seqWriter {
	t.Helper()
	db, err := s.Open("test")
	if err != nil {
		t.Fatal(err)
	}
	w := &seqWriter{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		n := int64(1)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			_, err := db.Exec("INSERT INTO seq (n, pad) VALUES (?, REPEAT('x', 100))", n)
			if err != nil && !strings.Contains(err.Error(), "Duplicate entry") {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.last = n
			w.mu.Unlock()
			n++
		}
	}()
	t.Cleanup(func() { w.halt(); db.Close() })
	return w
}

func (w *seqWriter) written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *seqWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func TestCaptureSurvivesKilledConnection(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	col := newCollector()
	from := Start{Kind: StartPosition, Position: change.Position{GTID: s.QueryString(t, "SELECT @@gtid_binlog_pos")}}
	run := startCapture(t, Config{Source: srcConfig(t, s), From: from, MaxBackoff: 200 * time.Millisecond}, col)
	w := startSeqWriter(t, s)
	for round := 1; round <= 3; round++ {
		target := w.written() + 300
		col.waitFor(t, run, fmt.Sprintf("row %d before kill %d", target, round), func(txns []change.Txn) bool {
			return lastValue(seqValues(txns, "seq")) >= target
		})
		if n := killDumpThreads(t, s); n == 0 {
			t.Fatalf("round %d: no binlog dump thread to kill", round)
		}
	}
	w.halt()
	final := maxSeq(t, s)
	col.waitFor(t, run, fmt.Sprintf("the last row %d", final), func(txns []change.Txn) bool {
		return lastValue(seqValues(txns, "seq")) >= final
	})
	checkExactlyOnce(t, s, seqValues(col.snapshot(), "seq"))
}

func TestCaptureSurvivesServerRestart(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	col := newCollector()
	// A file position, so that the resume after each restart is by file
	// position (the kill test resumes by GTID).
	run := startCapture(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartPosition, Position: masterStatus(t, s)}, MaxBackoff: 300 * time.Millisecond}, col)
	w := startSeqWriter(t, s)
	for round := 1; round <= 2; round++ {
		target := w.written() + 200
		col.waitFor(t, run, fmt.Sprintf("row %d before restart %d", target, round), func(txns []change.Txn) bool {
			return lastValue(seqValues(txns, "seq")) >= target
		})
		if err := s.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	target := w.written() + 200
	col.waitFor(t, run, fmt.Sprintf("row %d after the restarts", target), func(txns []change.Txn) bool {
		return lastValue(seqValues(txns, "seq")) >= target
	})
	w.halt()
	final := maxSeq(t, s)
	col.waitFor(t, run, fmt.Sprintf("the last row %d", final), func(txns []change.Txn) bool {
		return lastValue(seqValues(txns, "seq")) >= final
	})
	checkExactlyOnce(t, s, seqValues(col.snapshot(), "seq"))
	// Each restart started a new binlog file; the positions followed.
	files := map[string]bool{}
	for _, tx := range col.snapshot() {
		files[tx.End.File] = true
	}
	if len(files) < 3 {
		t.Errorf("transactions ended in %d binlog files, want at least 3 after two restarts: %v", len(files), files)
	}
}

func TestCaptureResumesFragmentedTransaction(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	s.Exec(t, "CREATE TABLE test.big (n BIGINT PRIMARY KEY, pad VARCHAR(200))")
	end := s.QueryString(t, "SELECT @@gtid_binlog_pos")
	// One transaction of 20000 rows, then a small one after it.
	s.Exec(t, "SET SESSION max_recursive_iterations = 100000",
		"INSERT INTO test.big WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n < 20000) SELECT n, REPEAT('y', 50) FROM r",
		"INSERT INTO test.seq VALUES (1, 'after')")

	col := newCollector()
	kills := 0
	col.onTxn = func(tx *change.Txn) error {
		// Drop the connection after fragments 1 and 4 were delivered.
		if tx.More && (tx.Fragment == 1 || tx.Fragment == 4) && kills < 2 {
			kills++
			killDumpThreads(t, s)
		}
		return nil
	}
	run := startCapture(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartPosition, Position: change.Position{GTID: end}},
		FragmentRows: 1000, MaxBackoff: 200 * time.Millisecond}, col)
	col.waitFor(t, run, "the row after the big transaction", func(txns []change.Txn) bool {
		return len(seqValues(txns, "seq")) > 0
	})
	if kills != 2 {
		t.Fatalf("killed the connection %d times, want 2", kills)
	}
	var frags []change.Txn
	for _, tx := range col.snapshot() {
		if len(tx.Changes) > 0 && tx.Changes[0].Table.Name == "big" {
			frags = append(frags, tx)
		}
	}
	got := seqValues(frags, "big")
	if len(got) != 20000 {
		t.Fatalf("delivered %d rows of the big transaction, want 20000", len(got))
	}
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("row %d of the big transaction is n=%d", i, n)
		}
	}
	for i, f := range frags {
		if f.Fragment != i || f.More != (i < len(frags)-1) || f.Begin != frags[0].Begin || f.GTID != frags[0].GTID {
			t.Errorf("fragment %d: Fragment=%d More=%v Begin=%s GTID=%s", i, f.Fragment, f.More, f.Begin, f.GTID)
		}
	}
}
