package pipeline

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/snapshot"
)

// copyTables are the tables the copy tests use: an integer key, a
// composite key, a varchar key under a case-insensitive collation, and no
// key at all.
var copyTables = []string{"shop.items", "shop.order_lines", "shop.users", "shop.log"}

func copyFixture(t *testing.T, src *testdb.Server, items int) {
	t.Helper()
	src.Exec(t,
		"CREATE DATABASE shop", "CREATE DATABASE seq",
		"CREATE TABLE shop.items (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2), note TEXT, at DATETIME(3), KEY (qty))",
		"CREATE TABLE shop.order_lines (order_id INT NOT NULL, line SMALLINT NOT NULL, sku VARCHAR(20) NOT NULL, qty INT NOT NULL, PRIMARY KEY (order_id, line))",
		"CREATE TABLE shop.users (email VARCHAR(64) NOT NULL PRIMARY KEY, name VARCHAR(40) CHARACTER SET latin1, born DATE, score DOUBLE) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
		"CREATE TABLE shop.log (at DATETIME(6) NOT NULL, msg VARCHAR(40))",
		fmt.Sprintf("INSERT INTO shop.items (name, qty, price, note, at) SELECT CONCAT('item ', seq), seq %% 97, seq / 7, IF(seq %% 5 = 0, NULL, REPEAT('n', seq %% 50)), '2024-01-01' + INTERVAL seq SECOND FROM seq.seq_1_to_%d", items),
		fmt.Sprintf("INSERT INTO shop.order_lines SELECT seq DIV 4, seq %% 4, CONCAT('sku-', seq), seq FROM seq.seq_1_to_%d", items/2),
		fmt.Sprintf("INSERT INTO shop.users SELECT CONCAT('User', seq, '@Example.com'), CONCAT('nàme ', seq), '1990-01-01' + INTERVAL seq DAY, seq / 3 FROM seq.seq_1_to_%d", items/4),
		"INSERT INTO shop.log SELECT '2024-01-01' + INTERVAL seq SECOND, CONCAT('msg ', seq) FROM seq.seq_1_to_500",
	)
}

// writer changes the copy tables on the source until stopped: inserts,
// updates (some moving a key) and deletes, as an application would.
type writer struct {
	stop chan struct{}
	done chan struct{}
	ops  atomic.Int64
	err  error
}

func startWriter(t *testing.T, src *testdb.Server, items int) *writer {
	t.Helper()
	db := src.DB(t, "shop")
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		rnd := rand.New(rand.NewPCG(1, 2))
		stmts := []func() (string, []any){
			func() (string, []any) {
				return "INSERT INTO items (name, qty, price) VALUES (?, ?, ?)", []any{"new", rnd.IntN(100), 1.5}
			},
			func() (string, []any) {
				return "UPDATE items SET qty = qty + 1, note = ? WHERE id = ?", []any{"upd", 1 + rnd.IntN(items)}
			},
			func() (string, []any) { return "DELETE FROM items WHERE id = ?", []any{1 + rnd.IntN(items)} },
			func() (string, []any) {
				// Moves a row to a new key, far ahead of the copy.
				return "UPDATE items SET id = id + 1000000 WHERE id = ?", []any{1 + rnd.IntN(items)}
			},
			func() (string, []any) {
				return "REPLACE INTO order_lines VALUES (?, ?, 'w', ?)", []any{rnd.IntN(items / 8), rnd.IntN(6), rnd.IntN(1000)}
			},
			func() (string, []any) {
				return "DELETE FROM order_lines WHERE order_id = ?", []any{rnd.IntN(items / 8)}
			},
			func() (string, []any) {
				return "UPDATE users SET score = score + 1, name = 'wrîtten' WHERE email = ?", []any{fmt.Sprintf("user%d@example.com", 1+rnd.IntN(items/4))}
			},
			func() (string, []any) {
				return "INSERT INTO users VALUES (?, 'new', NULL, 1) ON DUPLICATE KEY UPDATE score = -1", []any{fmt.Sprintf("w%d@x", rnd.IntN(1000))}
			},
		}
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			q, args := stmts[rnd.IntN(len(stmts))]()
			if i%200 == 0 {
				q, args = "INSERT INTO log VALUES (NOW(6), 'writer')", nil
			}
			if _, err := db.Exec(q, args...); err != nil && !strings.Contains(err.Error(), "Duplicate entry") {
				w.err = err
				return
			}
			w.ops.Add(1)
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *writer) waitOps(t *testing.T, n int64) {
	t.Helper()
	for w.ops.Load() < n {
		select {
		case <-w.done:
			t.Fatalf("writer stopped after %d statements: %v", w.ops.Load(), w.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func waitCopied(t *testing.T, r *Runner, timeout time.Duration) snapshot.Progress {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := r.Status()
		if s.Copy != nil && s.Copy.Done {
			return *s.Copy
		}
		if s.State == Paused || time.Now().After(deadline) {
			t.Fatalf("copy not done: state %s error %q copy %+v", s.State, s.Error, s.Copy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testCopyWhileWriting(t *testing.T, method snapshot.Method) {
	src, tgt := pair(t)
	const items = 20000
	copyFixture(t, src, items)
	w := startWriter(t, src, items)
	w.waitOps(t, 50)
	cfg := &Config{Name: "copy-" + string(method), Source: src.URL(), Target: tgt.URL(), Tables: []TableRule{{Source: "shop.*"}},
		Copy: snapshot.Options{Workers: 3, ChunkRows: 400, MaxChunkRows: 2000, Method: method}}
	p := startPipeline(t, cfg, true)
	before := w.ops.Load()
	pr := waitCopied(t, p.r, 120*time.Second)
	during := w.ops.Load() - before
	w.halt()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	if during < 20 {
		t.Fatalf("the writer ran only %d statements during the copy; the test proves nothing", during)
	}
	if pr.TablesDone != 4 || pr.TablesTotal != 4 || pr.RowsCopied < items {
		t.Fatalf("copy progress %+v", pr)
	}
	testdb.WaitSameData(t, src, tgt, 60*time.Second, copyTables...)
	t.Logf("%s: copied %d rows while the writer ran %d statements", method, pr.RowsCopied, during)
	p.stop(t)
}

func TestCopyWhileWritingSnapshotMethod(t *testing.T) {
	testCopyWhileWriting(t, snapshot.MethodSnapshot)
}

func TestCopyWhileWritingWatermarkMethod(t *testing.T) {
	testCopyWhileWriting(t, snapshot.MethodWatermark)
}

// TestCopyResumesAfterStop stops a pipeline in the middle of its copy and
// starts it again: the second run copies only what the first had not
// committed, and the target ends equal to the source.
func TestCopyResumesAfterStop(t *testing.T) {
	src, tgt := pair(t)
	const items = 40000
	copyFixture(t, src, items)
	w := startWriter(t, src, items)
	w.waitOps(t, 20)
	cfg := &Config{Name: "resume", Source: src.URL(), Target: tgt.URL(), Tables: []TableRule{{Source: "shop.*"}},
		Apply: ApplyConfig{Workers: 1}, Copy: snapshot.Options{Workers: 2, ChunkRows: 1000, MaxChunkRows: 1000, MaxRowsPerSecond: 15000}}
	p := startPipeline(t, cfg, true)
	// Stop once some chunks are committed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var committed int
		fmt.Sscan(tgt.QueryString(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='sluice' AND TABLE_NAME='snapshot_chunk'"), &committed)
		if committed == 1 {
			fmt.Sscan(tgt.QueryString(t, "SELECT IFNULL(SUM(`rows`), 0) FROM sluice.snapshot_chunk WHERE pipeline='resume'"), &committed)
			if committed >= 12000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no chunk committed within 60s: %+v", p.r.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop(t)
	first := p.r.Status().Copy
	if first == nil || first.Done {
		t.Fatalf("the copy should be unfinished when stopped: %+v", first)
	}
	t.Logf("chunks after the stop: %s", tgt.QueryString(t, "SELECT GROUP_CONCAT(source_table, ':', seq, ':', IFNULL(upper_key,'-') ORDER BY source_table, seq) FROM sluice.snapshot_chunk"))
	var committed uint64
	fmt.Sscan(tgt.QueryString(t, "SELECT IFNULL(SUM(`rows`), 0) FROM sluice.snapshot_chunk WHERE pipeline='resume'"), &committed)

	// Restart without the rate limit.
	cfg2 := *cfg
	cfg2.Copy.MaxRowsPerSecond = 0
	p = startPipeline(t, &cfg2, true)
	pr := waitCopied(t, p.r, 120*time.Second)
	w.halt()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	if pr.RowsResumed == 0 || pr.RowsResumed > committed {
		t.Fatalf("resumed with %d rows done, but %d were committed before the stop", pr.RowsResumed, committed)
	}
	if copiedAgain := pr.RowsCopied - pr.RowsResumed; copiedAgain >= pr.RowsCopied || copiedAgain+committed/2 > pr.RowsCopied {
		t.Fatalf("second run copied %d of %d rows; it should skip the %d committed before the stop", copiedAgain, pr.RowsCopied, committed)
	}
	testdb.WaitSameData(t, src, tgt, 60*time.Second, copyTables...)
	t.Logf("first run committed %d rows; second run copied %d more", committed, pr.RowsCopied-pr.RowsResumed)
	p.stop(t)
}

// TestCopyMappedTable copies into a renamed schema and table, with one
// column left out and one renamed: the target table is created that way
// and holds the source's rows.
func TestCopyMappedTable(t *testing.T) {
	src, tgt := pair(t)
	copyFixture(t, src, 5000)
	cfg := &Config{Name: "mapped", Source: src.URL(), Target: tgt.URL(), Snapshot: "only",
		Tables: []TableRule{{Source: "shop.items", Target: "archive.goods", ExcludeColumns: []string{"note"},
			RenameColumns: map[string]string{"qty": "quantity"}}}}
	p := startPipeline(t, cfg, true)
	select {
	case <-p.done:
		if err := p.err; err != nil {
			t.Fatalf("snapshot only: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("snapshot only did not stop: %+v", p.r.Status())
	}
	cols := tgt.QueryString(t, "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='archive' AND TABLE_NAME='goods'")
	if cols != "id,name,quantity,price,at" {
		t.Fatalf("target columns %s", cols)
	}
	if idx := tgt.QueryString(t, "SELECT GROUP_CONCAT(COLUMN_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='archive' AND TABLE_NAME='goods' AND INDEX_NAME<>'PRIMARY'"); idx != "quantity" {
		t.Fatalf("target secondary index on %q, want the renamed column", idx)
	}
	q := "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS('|', id, name, %s, price, at))))"
	a := src.QueryString(t, fmt.Sprintf(q, "qty")+" FROM shop.items")
	b := tgt.QueryString(t, fmt.Sprintf(q, "quantity")+" FROM archive.goods")
	if a != b {
		t.Fatalf("source %s, target %s", a, b)
	}
}

// TestCopyTypeMatrix copies every column type and checks the target byte
// for byte.
func TestCopyTypeMatrix(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, typeMatrix...)
	src.Exec(t, typeRows...)
	src.Exec(t, "CREATE DATABASE seq")
	// A table keyed by a date and a string in a case-insensitive latin1
	// collation, chunked a few rows at a time.
	src.Exec(t, "CREATE TABLE types.k (d DATE NOT NULL, s VARCHAR(10) CHARACTER SET latin1 NOT NULL, v INT, PRIMARY KEY (d, s))",
		"INSERT INTO types.k SELECT '2024-01-01' + INTERVAL (seq DIV 3) DAY, CONCAT(CHAR(65 + seq % 3), 'é', seq % 7), seq FROM seq.seq_1_to_300")
	cfg := &Config{Name: "types-copy", Source: src.URL(), Target: tgt.URL(), Snapshot: "only",
		Tables: []TableRule{{Source: "types.*"}}, Copy: snapshot.Options{ChunkRows: 7, MaxChunkRows: 7}}
	p := startPipeline(t, cfg, true)
	select {
	case <-p.done:
		if err := p.err; err != nil {
			t.Fatalf("snapshot only: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("snapshot only did not stop: %+v", p.r.Status())
	}
	testdb.WaitSameData(t, src, tgt, 10*time.Second, "types.t", "types.k")
	cols := strings.Split(src.QueryString(t, "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='types' AND TABLE_NAME='t'"), ",")
	for _, c := range cols {
		q := fmt.Sprintf("SELECT IFNULL(GROUP_CONCAT(IFNULL(HEX(`%s`),'NULL') ORDER BY id SEPARATOR '|'), '') FROM types.t", c)
		if a, b := src.QueryString(t, q), tgt.QueryString(t, q); a != b {
			t.Errorf("column %s differs:\nsource %.200s\ntarget %.200s", c, a, b)
		}
	}
	var chunks int
	fmt.Sscan(tgt.QueryString(t, "SELECT COUNT(*) FROM sluice.snapshot_chunk WHERE pipeline='types-copy' AND source_table='k'"), &chunks)
	if chunks < 40 {
		t.Fatalf("types.k was copied in %d chunks, want about 300/7", chunks)
	}
}

// TestCopyConflictingTargetTable: an existing target table whose column
// types differ is an error before anything is copied.
func TestCopyConflictingTargetTable(t *testing.T) {
	src, tgt := pair(t)
	copyFixture(t, src, 100)
	tgt.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, qty VARCHAR(10), price DECIMAL(10,2), note TEXT, at DATETIME(3))")
	cfg := &Config{Name: "conflict", Source: src.URL(), Target: tgt.URL(), Tables: []TableRule{{Source: "shop.items"}}}
	p := startPipeline(t, cfg, true)
	var err error
	select {
	case <-p.done:
		err = p.err
	case <-time.After(60 * time.Second):
		t.Fatalf("pipeline did not stop: %+v", p.r.Status())
	}
	if err == nil {
		t.Fatal("the copy into a conflicting target table did not fail")
	}
	for _, want := range []string{"shop.items", "column qty", "varchar(10)", "int(11)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := tgt.QueryString(t, "SELECT COUNT(*) FROM shop.items"); n != "0" {
		t.Fatalf("%s rows copied into the conflicting table", n)
	}
}
