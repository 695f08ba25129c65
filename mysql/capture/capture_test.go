package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/schema"
	"github.com/sluice-db/sluice/mysql/source"
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func srcConfig(t *testing.T, s *testdb.Server) source.Config {
	t.Helper()
	cfg, err := source.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// collector gathers what a capture delivers, from another goroutine.
type collector struct {
	mu   sync.Mutex
	txns []change.Txn
	more chan struct{}
	// onTxn, when set, runs inside deliver (to kill connections at chosen
	// moments); an error it returns is deliver's.
	onTxn func(*change.Txn) error
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) deliver(_ context.Context, t *change.Txn) error {
	if c.onTxn != nil {
		if err := c.onTxn(t); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.txns = append(c.txns, *t)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) snapshot() []change.Txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]change.Txn(nil), c.txns...)
}

// seqValues returns the first column of every inserted row of table name,
// in delivery order.
func seqValues(txns []change.Txn, name string) []int64 {
	var out []int64
	for _, t := range txns {
		for _, c := range t.Changes {
			if c.Table.Name == name && c.Op == change.Insert {
				out = append(out, c.After[0].I)
			}
		}
	}
	return out
}

// waitFor waits until cond holds on what was delivered, or the run ends.
// The deadline only keeps a broken test from hanging.
func (c *collector) waitFor(t *testing.T, run *captureRun, what string, cond func([]change.Txn) bool) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		if cond(c.snapshot()) {
			return
		}
		select {
		case <-c.more:
		case <-time.After(100 * time.Millisecond):
		case <-run.done:
			t.Fatalf("capture ended while waiting for %s: %v", what, run.err)
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// captureRun is a capture running on its own goroutine.
type captureRun struct {
	done chan struct{}
	err  error // set before done is closed
}

// startCapture runs a capture until the test ends.
func startCapture(t *testing.T, cfg Config, col *collector) *captureRun {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &captureRun{done: make(chan struct{})}
	go func() {
		run.err = c.Run(ctx, col.deliver)
		close(run.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-run.done
	})
	return run
}

// runToEnd runs a capture with StopAtEnd and returns what it delivered.
func runToEnd(t *testing.T, cfg Config) ([]change.Txn, error) {
	t.Helper()
	cfg.StopAtEnd = true
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = c.Run(ctx, col.deliver)
	return col.snapshot(), err
}

// checkExactlyOnce compares what capture delivered for test.seq with what
// the table holds: every committed row once, in commit order.
func checkExactlyOnce(t *testing.T, s *testdb.Server, got []int64) {
	t.Helper()
	db := s.DB(t, "test")
	rows, err := db.Query("SELECT n FROM seq ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var want []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	if len(got) != len(want) {
		t.Errorf("delivered %d rows, the table has %d", len(got), len(want))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			t.Fatalf("row %d: delivered n=%d, table has n=%d (delivered %v...)", i, got[i], want[i], got[max(0, i-3):min(len(got), i+3)])
		}
	}
}

func maxSeq(t *testing.T, s *testdb.Server) int64 {
	v, _ := strconv.ParseInt(s.QueryString(t, "SELECT COALESCE(MAX(n), 0) FROM test.seq"), 10, 64)
	return v
}

func lastValue(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	return v[len(v)-1]
}

func createSeq(t *testing.T, s *testdb.Server) {
	s.Exec(t, "CREATE DATABASE IF NOT EXISTS test",
		"CREATE TABLE test.seq (n BIGINT PRIMARY KEY, pad VARCHAR(200)) ENGINE=InnoDB")
}

func killDumpThreads(t *testing.T, s *testdb.Server) int {
	t.Helper()
	db := s.DB(t, "")
	rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := db.Exec("KILL " + strconv.FormatInt(id, 10)); err != nil {
			t.Logf("kill %d: %v", id, err)
		}
	}
	return len(ids)
}

func TestCaptureDeliversTransactionsWithPositions(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.t (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO shop.t VALUES (1, 'a'), (2, 'b')",
		"UPDATE shop.t SET name = 'bb' WHERE id = 2",
		"DELETE FROM shop.t WHERE id = 1")
	got, err := runToEnd(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartOldest}})
	if err != nil {
		t.Fatal(err)
	}
	var ddl, dml []change.Txn
	for _, tx := range got {
		switch {
		case tx.DDL != nil:
			ddl = append(ddl, tx)
		case len(tx.Changes) > 0:
			dml = append(dml, tx)
		}
	}
	if len(ddl) != 2 || !strings.HasPrefix(ddl[0].DDL.Statement, "CREATE DATABASE") || !strings.HasPrefix(ddl[1].DDL.Statement, "CREATE TABLE") {
		t.Fatalf("DDL = %+v", ddl)
	}
	if len(dml) != 3 {
		t.Fatalf("got %d DML transactions, want 3: %+v", len(dml), dml)
	}
	ins, upd, del := 0, 0, 0
	for _, tx := range dml {
		i, u, d := tx.Counts()
		ins, upd, del = ins+i, upd+u, del+d
	}
	if ins != 2 || upd != 1 || del != 1 {
		t.Errorf("counts insert=%d update=%d delete=%d", ins, upd, del)
	}
	u := dml[1].Changes[0]
	if u.Table.QualifiedName() != "shop.t" || string(u.Before[1].B) != "b" || string(u.After[1].B) != "bb" || u.Table.Columns[1].Name != "name" {
		t.Errorf("update = %+v", u)
	}
	// Positions: each transaction begins where the previous ended, or later,
	// and the last one ends at the source's end of binlog.
	var prev change.Position
	for i, tx := range got {
		if tx.End.Compare(tx.Begin) <= 0 && !(tx.Changes == nil && tx.DDL == nil) {
			t.Errorf("txn %d: End %s not after Begin %s", i, tx.End, tx.Begin)
		}
		if i > 0 && tx.Begin.Compare(prev) < 0 {
			t.Errorf("txn %d begins at %s, before the previous end %s", i, tx.Begin, prev)
		}
		prev = tx.End
		if tx.DDL != nil || len(tx.Changes) > 0 {
			if tx.ServerID != s.ServerID || tx.GTID == "" || tx.Timestamp.IsZero() || time.Since(tx.Timestamp) > time.Hour {
				t.Errorf("txn %d: server id %d gtid %q time %s", i, tx.ServerID, tx.GTID, tx.Timestamp)
			}
			if !strings.HasSuffix(tx.End.GTID, tx.GTID) {
				t.Errorf("txn %d: End gtid %q does not include its own %q", i, tx.End.GTID, tx.GTID)
			}
		}
	}
	last := got[len(got)-1].End
	gtidPos := s.QueryString(t, "SELECT @@gtid_binlog_pos")
	if last.GTID != gtidPos {
		t.Errorf("last End gtid %q, gtid_binlog_pos %q", last.GTID, gtidPos)
	}
}

func TestCaptureStartPositions(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	insert := func(from, to int) {
		for n := from; n <= to; n++ {
			s.Exec(t, fmt.Sprintf("INSERT INTO test.seq VALUES (%d, 'x')", n))
		}
	}
	insert(1, 3)
	status := masterStatus(t, s)
	gtid := s.QueryString(t, "SELECT @@gtid_binlog_pos")
	// Binlog timestamps have whole seconds: let the clock pass one.
	time.Sleep(1100 * time.Millisecond)
	at := time.Now().Truncate(time.Second)
	insert(4, 5)
	s.Exec(t, "FLUSH BINARY LOGS")
	insert(6, 6)

	src := srcConfig(t, s)
	cases := []struct {
		name string
		from Start
		want []int64
	}{
		{"oldest", Start{Kind: StartOldest}, []int64{1, 2, 3, 4, 5, 6}},
		{"file:pos", Start{Kind: StartPosition, Position: status}, []int64{4, 5, 6}},
		{"gtid", Start{Kind: StartPosition, Position: change.Position{GTID: gtid}}, []int64{4, 5, 6}},
		{"time", Start{Kind: StartTime, Time: at}, []int64{4, 5, 6}},
		{"now", Start{Kind: StartNow}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runToEnd(t, Config{Source: src, From: tc.from})
			if err != nil {
				t.Fatal(err)
			}
			if v := seqValues(got, "seq"); fmt.Sprint(v) != fmt.Sprint(tc.want) {
				t.Errorf("delivered %v, want %v", v, tc.want)
			}
		})
	}
}

func masterStatus(t *testing.T, s *testdb.Server) change.Position {
	t.Helper()
	db := s.DB(t, "")
	var file string
	var pos uint64
	var a, b sql.NullString
	if err := db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &a, &b); err != nil {
		t.Fatal(err)
	}
	return change.Position{File: file, Offset: pos}
}

func TestCapturePurgedPositionIsClear(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	s.Exec(t, "INSERT INTO test.seq VALUES (1, 'a')")
	oldGTID := s.QueryString(t, "SELECT @@gtid_binlog_pos")
	s.Exec(t, "FLUSH BINARY LOGS", "INSERT INTO test.seq VALUES (2, 'b')", "FLUSH BINARY LOGS",
		"INSERT INTO test.seq VALUES (3, 'c')")
	purgeTo(t, s, "binlog.000003")
	src := srcConfig(t, s)

	for _, from := range []Start{
		{Kind: StartPosition, Position: change.Position{File: "binlog.000001", Offset: 4}},
		{Kind: StartPosition, Position: change.Position{GTID: oldGTID}},
	} {
		_, err := runToEnd(t, Config{Source: src, From: from})
		var pe *PositionUnavailableError
		if !errors.As(err, &pe) {
			t.Fatalf("from %s: err = %v, want PositionUnavailableError", from, err)
		}
		if pe.Oldest.File != "binlog.000003" || pe.Oldest.Offset != 4 || pe.Asked.String() != from.Position.String() {
			t.Errorf("from %s: asked %s oldest %s", from, pe.Asked, pe.Oldest)
		}
		msg := err.Error()
		if !strings.Contains(msg, from.Position.String()) || !strings.Contains(msg, "binlog.000003:4") || !strings.Contains(msg, src.Addr()) {
			t.Errorf("message does not name the position, the oldest binlog and the source: %s", msg)
		}
	}
}

// purgeTo purges the binlogs before file. MariaDB keeps a file until its
// binlog checkpoint has moved past it, which InnoDB's background flush does
// within a second or so; PURGE is repeated until it took.
func purgeTo(t *testing.T, s *testdb.Server, file string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		s.Exec(t, "PURGE BINARY LOGS TO '"+file+"'")
		db := s.DB(t, "")
		var first, size string
		if err := db.QueryRow("SHOW BINARY LOGS").Scan(&first, &size); err != nil {
			t.Fatal(err)
		}
		if first == file {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("PURGE BINARY LOGS TO %s did not take", file)
}

func TestCaptureFollowsRotation(t *testing.T) {
	s := testdb.Start(t, testdb.Options{Args: []string{"--max-binlog-size=4096"}})
	createSeq(t, s)
	for n := 1; n <= 200; n++ {
		s.Exec(t, fmt.Sprintf("INSERT INTO test.seq VALUES (%d, REPEAT('z', 150))", n))
		if n%70 == 0 {
			s.Exec(t, "FLUSH BINARY LOGS")
		}
	}
	got, err := runToEnd(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartOldest}})
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, s, seqValues(got, "seq"))
	files := map[string]bool{}
	for _, tx := range got {
		files[tx.End.File] = true
	}
	if len(files) < 10 {
		t.Errorf("transactions ended in %d files; max-binlog-size=4096 should have made many", len(files))
	}
}

func TestCaptureHeartbeatReportsProgress(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	s.Exec(t, "INSERT INTO test.seq VALUES (1, 'a')")
	progress := make(chan Progress, 16)
	col := newCollector()
	run := startCapture(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartOldest}, Heartbeat: 100 * time.Millisecond,
		OnProgress: func(p Progress) {
			select {
			case progress <- p:
			default:
			}
		}}, col)
	want := masterStatus(t, s)
	select {
	case p := <-progress:
		if !p.CaughtUp || p.Position.File != want.File || p.Position.Offset != want.Offset || p.SourceEnd.File != want.File {
			t.Errorf("progress = %+v, want caught up at %s", p, want)
		}
	case <-run.done:
		t.Fatal(run.err)
	case <-time.After(time.Minute):
		t.Fatal("no heartbeat")
	}
}

func TestCaptureTableFilterSkipsRowsButAdvances(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	s.Exec(t, "CREATE TABLE test.other (id INT PRIMARY KEY)")
	for i := 1; i <= 50; i++ {
		s.Exec(t, fmt.Sprintf("INSERT INTO test.other VALUES (%d)", i))
	}
	s.Exec(t, "INSERT INTO test.seq VALUES (1, 'a')")
	for i := 51; i <= 60; i++ {
		s.Exec(t, fmt.Sprintf("INSERT INTO test.other VALUES (%d)", i))
	}
	end := masterStatus(t, s)
	got, err := runToEnd(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartOldest},
		TableFilter: func(schema, table string) bool { return table == "seq" }})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range got {
		for _, c := range tx.Changes {
			if c.Table.Name != "seq" {
				t.Fatalf("delivered a change of %s", c.Table.QualifiedName())
			}
		}
	}
	if v := seqValues(got, "seq"); len(v) != 1 {
		t.Fatalf("seq rows %v", v)
	}
	last := got[len(got)-1]
	if last.Changes != nil || last.End.File != end.File || last.End.Offset != end.Offset {
		t.Errorf("the stream should end with a position-only Txn at %s, got %+v", end, last)
	}
}

// Every kind of transaction arrives whole: multi-statement, XA (whose
// changes are delivered at XA PREPARE, where the binlog holds them; XA
// COMMIT moves the position only), non-transactional (MyISAM, committed
// with a QUERY COMMIT) and mixed.
func TestCaptureTransactionKinds(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	createSeq(t, s)
	s.Exec(t, "CREATE TABLE test.flat (n BIGINT PRIMARY KEY) ENGINE=MyISAM")
	s.Exec(t,
		"BEGIN", "INSERT INTO test.seq VALUES (1, 'a')", "INSERT INTO test.seq VALUES (2, 'a')", "UPDATE test.seq SET pad = 'b' WHERE n = 1", "COMMIT",
		"XA START 'x1'", "INSERT INTO test.seq VALUES (3, 'a')", "XA END 'x1'", "XA PREPARE 'x1'", "XA COMMIT 'x1'",
		"XA START 'x2'", "INSERT INTO test.seq VALUES (4, 'b')", "XA END 'x2'", "XA COMMIT 'x2' ONE PHASE",
		"INSERT INTO test.flat VALUES (1), (2)",
		"BEGIN", "INSERT INTO test.seq VALUES (5, 'c')", "INSERT INTO test.flat VALUES (3)", "COMMIT",
		"INSERT INTO test.seq VALUES (6, 'c')")
	got, err := runToEnd(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartOldest}})
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, s, seqValues(got, "seq"))
	if v := seqValues(got, "flat"); fmt.Sprint(v) != "[1 2 3]" {
		t.Errorf("MyISAM rows %v", v)
	}
	var shapes []string
	for _, tx := range got {
		if len(tx.Changes) == 0 {
			continue
		}
		var parts []string
		for _, c := range tx.Changes {
			parts = append(parts, fmt.Sprintf("%s %s %d", c.Op, c.Table.Name, c.Image()[0].I))
		}
		shapes = append(shapes, strings.Join(parts, ", "))
	}
	want := []string{
		"insert seq 1, insert seq 2, update seq 1",
		"insert seq 3",
		"insert seq 4",
		"insert flat 1, insert flat 2",
		// MariaDB writes a MyISAM change inside a transaction as its own
		// transaction, before the InnoDB part.
		"insert flat 3",
		"insert seq 5",
		"insert seq 6",
	}
	if strings.Join(shapes, "\n") != strings.Join(want, "\n") {
		t.Errorf("transactions:\n%s\nwant:\n%s", strings.Join(shapes, "\n"), strings.Join(want, "\n"))
	}
	end := masterStatus(t, s)
	if last := got[len(got)-1]; last.End.File != end.File || last.End.Offset != end.Offset {
		t.Errorf("last End %s, source end %s", last.End, end)
	}
}

// The source's binlog_checksum decides whether events carry a CRC32;
// capture follows it either way, and with compressed events.
func TestCaptureChecksumAndCompression(t *testing.T) {
	for name, opts := range map[string]testdb.Options{"nocrc": {Checksum: "NONE"}, "zip": {CompressBinlog: true}} {
		t.Run(name, func(t *testing.T) {
			s := testdb.Start(t, opts)
			createSeq(t, s)
			for n := 1; n <= 20; n++ {
				s.Exec(t, fmt.Sprintf("INSERT INTO test.seq VALUES (%d, REPEAT('q', 150))", n))
			}
			got, err := runToEnd(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartOldest}})
			if err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, s, seqValues(got, "seq"))
			for _, tx := range got {
				for _, c := range tx.Changes {
					if string(c.After[1].B) != strings.Repeat("q", 150) {
						t.Fatalf("pad = %q", c.After[1].B)
					}
				}
			}
		})
	}
}

func TestCaptureServerID(t *testing.T) {
	s := testdb.Start(t, testdb.Options{})
	src := srcConfig(t, s)
	c, err := New(Config{Source: src, Name: "orders-to-dc2", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := dialSource(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	id1, err := c.chooseServerID(sc)
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := c.chooseServerID(sc)
	if id1 != id2 || id1 == s.ServerID || id1 < 1<<30 {
		t.Errorf("generated ids %d, %d (source %d): want stable, large and not the source's", id1, id2, s.ServerID)
	}
	// A replica registered with that id makes the next pick another one.
	col := newCollector()
	run := startCapture(t, Config{Source: src, ServerID: id1, From: Start{Kind: StartNow}}, col)
	deadline := time.Now().Add(time.Minute)
	for s.QueryString(t, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'") == "0" {
		if time.Now().After(deadline) {
			t.Fatal("the capture did not register")
		}
		select {
		case <-run.done:
			t.Fatal(run.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	id3, err := c.chooseServerID(sc)
	if err != nil {
		t.Fatal(err)
	}
	if id3 == id1 {
		t.Errorf("picked id %d, which a registered replica uses", id3)
	}
	// The source's own id is refused.
	c2, _ := New(Config{Source: src, ServerID: s.ServerID})
	if _, err := c2.chooseServerID(sc); err == nil || !strings.Contains(err.Error(), "own server_id") {
		t.Errorf("source's own id: %v", err)
	}
}

// Starting now bootstraps the schema history from the live server: with
// binlog_row_metadata=MINIMAL the events carry no column names, so they
// can only come from there; a DDL later in the stream is applied in place.
func TestCaptureNowBootstrapsSchemaHistory(t *testing.T) {
	s := testdb.Start(t, testdb.Options{RowMetadata: "MINIMAL"})
	createSeq(t, s)
	hist, err := schema.New(schema.Options{Name: "t", Flavor: change.MariaDB, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	run := startCapture(t, Config{Source: srcConfig(t, s), From: Start{Kind: StartNow}, History: hist}, col)
	// The start position is read when Run starts; wait for the dump.
	deadline := time.Now().Add(time.Minute)
	for s.QueryString(t, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'") == "0" {
		if time.Now().After(deadline) {
			t.Fatal("the capture did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Exec(t, "INSERT INTO test.seq VALUES (1, 'a')", "ALTER TABLE test.seq ADD COLUMN note VARCHAR(10) AFTER n",
		"INSERT INTO test.seq VALUES (2, 'x', 'b')")
	col.waitFor(t, run, "two rows", func(txns []change.Txn) bool { return len(seqValues(txns, "seq")) == 2 })
	var rows []change.RowChange
	for _, tx := range col.snapshot() {
		rows = append(rows, tx.Changes...)
	}
	names := func(tb *change.Table) string {
		var n []string
		for _, c := range tb.Columns {
			n = append(n, c.Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(rows[0].Table); got != "n,pad" {
		t.Errorf("columns before the ALTER: %s", got)
	}
	if got := names(rows[1].Table); got != "n,note,pad" || string(rows[1].After[1].B) != "x" {
		t.Errorf("columns after the ALTER: %s (%v)", got, rows[1].After)
	}
}
