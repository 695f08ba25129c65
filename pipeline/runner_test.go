package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// running is a pipeline under test.
type running struct {
	r      *Runner
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returns, with err set
	err    error
}

func (p *running) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("pipeline stopped with %v", p.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30s")
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startPipeline(t *testing.T, cfg *Config, exitOnPause bool) *running {
	t.Helper()
	r, err := NewRunner(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &running{r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.err = r.Run(ctx, exitOnPause)
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("pipeline %s did not stop within 30s", cfg.Name)
		}
	})
	return p
}

func waitState(t *testing.T, r *Runner, want State, timeout time.Duration) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := r.Status()
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("pipeline state %s (error %q), want %s", s.State, s.Error, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pair(t *testing.T) (src, tgt *testdb.Server) {
	return testdb.Start(t, testdb.Options{}), testdb.Start(t, testdb.Options{NoBinlog: true})
}

// typeMatrix is a table with every MariaDB column type, and rows at their
// limits.
var typeMatrix = []string{
	"CREATE DATABASE types",
	`CREATE TABLE types.t (
		id INT NOT NULL PRIMARY KEY,
		ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
		mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
		d1 DECIMAL(65,30), d2 DECIMAL(10,2) UNSIGNED, d3 DECIMAL(5,0),
		f FLOAT, dbl DOUBLE,
		b1 BIT(1), b64 BIT(64), y YEAR,
		dt DATE, tm TIME(6), tm0 TIME, dtm DATETIME(6), dtm3 DATETIME(3), ts TIMESTAMP(6) NULL, ts0 TIMESTAMP NULL,
		c CHAR(10), vc VARCHAR(100), vcl VARCHAR(50) CHARACTER SET latin1, vcg VARCHAR(50) CHARACTER SET gbk,
		bin BINARY(8), vbin VARBINARY(50),
		tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
		tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
		e ENUM('a','b','日本'), st SET('x','y','z'), j JSON, g GEOMETRY, p POINT
	) DEFAULT CHARSET=utf8mb4`,
}

var typeRows = []string{
	"SET SESSION sql_mode='NO_ENGINE_SUBSTITUTION', time_zone='+08:00'",
	`INSERT INTO types.t VALUES (1,
		-128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
		'-99999999999999999999999999999999999.999999999999999999999999999999', 0.00, -99999,
		-3.40282e38, -1.7976931348623157e308,
		b'0', b'0', 1901,
		'1000-01-01', '-838:59:59.000000', '-00:00:01', '1000-01-01 00:00:00.000000', '1000-01-01 00:00:00.001', '1970-01-01 08:00:01.000000', '2038-01-19 11:14:07',
		'', '', '', '', '', '', '', '', '', '', '', '', '', '', 'a', '', '[]', ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(-1.5 2.25)', 4326))`,
	`INSERT INTO types.t VALUES (2,
		127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
		'99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99, 99999,
		3.40282e38, 1.7976931348623157e308,
		b'1', b'1111111111111111111111111111111111111111111111111111111111111111', 2155,
		'9999-12-31', '838:59:59.000000', '838:59:59', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999', '2038-01-19 11:14:07.999999', '1970-01-01 08:00:01',
		'日本語テキスト', 'emoji 😀🎉 quote '' backslash \\ nul \0 end', 'café ñ', '中文汉字', x'0001020300ff', x'00ff00ff',
		REPEAT('t', 255), REPEAT('x', 3000), REPEAT('😀', 5000), REPEAT('L', 70000),
		x'00', REPEAT(x'ab', 1000), REPEAT(x'cd', 70000), REPEAT(x'ef', 200000),
		'日本', 'x,y,z', '{"k": [1, 2.5, "s", null, true], "n": {"deep": "😀"}, "big": 12345678901234567890}',
		ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))'), ST_GeomFromText('POINT(1 1)'))`,
	`INSERT INTO types.t (id) VALUES (3)`,
	`INSERT INTO types.t (id, dt, dtm, ts0, y, f, dbl, d1) VALUES (4, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0, 0.1, -0.0, 0.000000000000000000000000000001)`,
	`INSERT INTO types.t (id, dt, dtm, tm, f, dbl) VALUES (5, '2024-02-29', '2024-02-00 12:00:00', '-12:34:56.789000', 1.17549e-38, 2.2250738585072014e-308)`,
	`UPDATE types.t SET vc = 'updated 😀', j = JSON_SET(j, '$.n.deep', 'changed'), b64 = b'1010', e = 'b', st = 'x,z' WHERE id = 2`,
	`UPDATE types.t SET ti = 5, vcl = 'ÿ' WHERE id = 3`,
	`DELETE FROM types.t WHERE id = 1`,
	`INSERT INTO types.t (id, vc) VALUES (1, 'again')`,
}

func TestSyncTypeMatrixByteExact(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, typeMatrix...)
	src.Exec(t, typeRows...)
	p := startPipeline(t, &Config{Name: "types", Source: src.URL(), Target: tgt.URL(), From: "start",
		Tables: []TableRule{{Source: "types.*"}}}, true)
	testdb.WaitSameData(t, src, tgt, 60*time.Second, "types.t")
	// CHECKSUM TABLE compares stored bytes; compare the text of every
	// column too, so that a failure names the column.
	cols := strings.Split(src.QueryString(t, "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='types' AND TABLE_NAME='t'"), ",")
	for _, c := range cols {
		q := fmt.Sprintf("SELECT IFNULL(GROUP_CONCAT(IFNULL(HEX(`%s`),'NULL') ORDER BY id SEPARATOR '|'), '') FROM types.t", c)
		if a, b := src.QueryString(t, q), tgt.QueryString(t, q); a != b {
			t.Errorf("column %s differs:\nsource %.200s\ntarget %.200s", c, a, b)
		}
	}
	s := p.r.Status()
	if s.State != Running || s.Position.IsZero() || s.TxnsApplied == 0 {
		t.Fatalf("status %+v", s)
	}
	p.stop(t)
}

func TestSyncFromNowWithDDLAndRestart(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO shop.items VALUES (1, 'before')")
	// Starting "now" copies nothing that came before: the target gets the
	// table by hand, as an operator would without an initial copy.
	tgt.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
	cfg := &Config{Name: "now", Source: src.URL(), Target: tgt.URL(), From: "now", Tables: []TableRule{{Source: "shop.*"}}}
	p := startPipeline(t, cfg, true)
	waitState(t, p.r, Running, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // let capture reach the source's end
	src.Exec(t, "INSERT INTO shop.items VALUES (2, 'after')",
		"ALTER TABLE shop.items ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 0",
		"INSERT INTO shop.items VALUES (3, 'priced', 9.99)",
		"CREATE TABLE shop.more (k VARCHAR(10) PRIMARY KEY, v JSON)",
		"INSERT INTO shop.more VALUES ('a', '{\"x\": 1}')")
	waitRows(t, tgt, "SELECT COUNT(*) FROM shop.more", "1", 30*time.Second)
	if got := tgt.QueryString(t, "SELECT GROUP_CONCAT(CONCAT(id, ':', name, ':', price) ORDER BY id) FROM shop.items"); got != "2:after:0.00,3:priced:9.99" {
		t.Fatalf("target items = %s", got)
	}
	p.stop(t)

	// A restart resumes from the checkpoint, with the schema history of the
	// checkpoint's time, and applies nothing twice.
	src.Exec(t, "INSERT INTO shop.items VALUES (4, 'while down', 1)", "ALTER TABLE shop.items DROP COLUMN name", "INSERT INTO shop.items VALUES (5, 2)")
	p = startPipeline(t, cfg, true)
	waitRows(t, tgt, "SELECT COUNT(*) FROM shop.items", "4", 30*time.Second)
	if got := tgt.QueryString(t, "SELECT GROUP_CONCAT(CONCAT(id, ':', price) ORDER BY id) FROM shop.items"); got != "2:0.00,3:9.99,4:1.00,5:2.00" {
		t.Fatalf("target items after restart = %s", got)
	}
	p.stop(t)
}

func waitRows(t *testing.T, s *testdb.Server, q, want string, timeout time.Duration) {
	t.Helper()
	db := s.DB(t, "")
	deadline := time.Now().Add(timeout)
	for {
		var got sql.NullString
		err := db.QueryRow(q).Scan(&got)
		if err == nil && got.String == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %s (error %v), want %s after %s", q, got.String, err, want, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSyncPausesOnPermanentErrorAndResumes(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), note VARCHAR(20))")
	tgt.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
	cfg := &Config{Name: "pause", Source: src.URL(), Target: tgt.URL(), From: "start", DDL: "skip", Tables: []TableRule{{Source: "shop.*"}}}
	src.Exec(t, "INSERT INTO shop.items VALUES (1, 'a', 'n1')", "INSERT INTO shop.items VALUES (2, 'b', 'n2')")
	p := startPipeline(t, cfg, false)
	s := waitState(t, p.r, Paused, 30*time.Second)
	for _, want := range []string{`pipeline "pause"`, "shop.items", "key id=1", "Unknown column 'note'"} {
		if !strings.Contains(s.Error, want) {
			t.Errorf("paused error %q does not mention %q", s.Error, want)
		}
	}
	if n := tgt.QueryString(t, "SELECT COUNT(*) FROM shop.items"); n != "0" {
		t.Fatalf("target has %s rows while paused at the first change", n)
	}
	// The operator fixes the target and resumes.
	tgt.Exec(t, "ALTER TABLE shop.items ADD COLUMN note VARCHAR(20)")
	p.r.Resume()
	testdb.WaitSameData(t, src, tgt, 30*time.Second, "shop.items")
	waitState(t, p.r, Running, 10*time.Second)
	p.stop(t)
}

func TestSyncSkipRule(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL)")
	tgt.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, v TINYINT NOT NULL)")
	src.Exec(t, "INSERT INTO shop.items VALUES (1, 1)", "INSERT INTO shop.items VALUES (2, 100000)", "INSERT INTO shop.items VALUES (3, 3)")
	cfg := &Config{Name: "skip", Source: src.URL(), Target: tgt.URL(), From: "start", DDL: "skip", Tables: []TableRule{{Source: "shop.*"}}}
	p := startPipeline(t, cfg, false)
	s := waitState(t, p.r, Paused, 30*time.Second)
	if !strings.Contains(s.Error, "key id=2") || !strings.Contains(s.Error, "Out of range") {
		t.Fatalf("paused error %q must name key id=2 and the server's message", s.Error)
	}
	// The error names the transaction: skip it by its GTID.
	gtid := between(s.Error, "(txn ", ")")
	if gtid == "" {
		t.Fatalf("error %q names no transaction", s.Error)
	}
	p.r.Skip(SkipRule{GTID: gtid})
	waitRows(t, tgt, "SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.items", "1,3", 30*time.Second)
	if s := p.r.Status(); s.TxnsSkipped != 1 {
		t.Fatalf("skipped %d transactions, want 1", s.TxnsSkipped)
	}
	p.stop(t)
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// TestSyncSurvivesSourceAndTargetRestarts restarts each server while a
// writer inserts numbered rows, and checks that every row arrives once.
func TestSyncSurvivesSourceAndTargetRestarts(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.seq (n INT PRIMARY KEY, at DATETIME(6))")
	cfg := &Config{Name: "restarts", Source: src.URL(), Target: tgt.URL(), From: "start", Tables: []TableRule{{Source: "shop.*"}}}
	p := startPipeline(t, cfg, false)
	var written atomic.Int64
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		db, err := src.Open("")
		if err != nil {
			return
		}
		defer db.Close()
		for n := int64(1); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			for {
				if _, err := db.Exec("INSERT INTO shop.seq VALUES (?, NOW(6))", n); err == nil {
					break
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			written.Store(n)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		time.Sleep(time.Second)
		if err := tgt.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := src.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	<-writerDone
	n := written.Load()
	if n < 100 {
		t.Fatalf("writer only wrote %d rows", n)
	}
	// An insert whose reply a restart cut off may have committed: the
	// source, not the writer's count, says how many rows there are.
	have, err := strconv.ParseInt(src.QueryString(t, "SELECT COUNT(*) FROM shop.seq"), 10, 64)
	if err != nil || have < n || have > n+1 {
		t.Fatalf("source holds %d rows (%v), writer wrote %d", have, err, n)
	}
	waitRows(t, tgt, "SELECT COUNT(*) FROM shop.seq", fmt.Sprint(have), 90*time.Second)
	testdb.WaitSameData(t, src, tgt, 30*time.Second, "shop.seq")
	if got := tgt.QueryString(t, "SELECT MAX(n) - MIN(n) + 1 - COUNT(*) FROM shop.seq"); got != "0" {
		t.Fatalf("rows missing on the target: %s", got)
	}
	p.stop(t)
}

// TestSyncLargeTransactionBoundedMemory replicates a one-million-row
// transaction and checks that the process never holds it whole.
func TestSyncLargeTransactionBoundedMemory(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE big", "CREATE TABLE big.t (id INT PRIMARY KEY, pad CHAR(100) NOT NULL)",
		"INSERT INTO big.t SELECT seq, REPEAT('p', 100) FROM big.seq_1_to_1000000")
	runtime.GC()
	var peak atomic.Uint64
	sampling := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-sampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	p := startPipeline(t, &Config{Name: "big", Source: src.URL(), Target: tgt.URL(), From: "start",
		Tables: []TableRule{{Source: "big.*"}}}, true)
	waitRows(t, tgt, "SELECT COUNT(*) FROM big.t", "1000000", 5*time.Minute)
	close(sampling)
	testdb.WaitSameData(t, src, tgt, time.Minute, "big.t")
	// The transaction's rows take about 200 MB as decoded values; fragments
	// keep the process far below that.
	t.Logf("heap in use peaked at %d MiB", peak.Load()>>20)
	if mb := peak.Load() >> 20; mb > 160 {
		t.Fatalf("heap peaked at %d MiB while applying a 1M-row transaction", mb)
	}
	p.stop(t)
}

func TestRunnerRejectsBadConfig(t *testing.T) {
	_, err := NewRunner(&Config{Name: "x", Source: "mysql://h", Target: "mysql://t"}, nil)
	if err == nil || !strings.Contains(err.Error(), "tables") {
		t.Fatalf("want a tables error, got %v", err)
	}
}

func TestSyncHeartbeatMeasuresLag(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY)")
	tgt.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY)")
	cfg := &Config{Name: "hb", Source: src.URL(), Target: tgt.URL(), From: "now",
		Tables: []TableRule{{Source: "shop.*"}}, Heartbeat: Duration(100 * time.Millisecond)}
	p := startPipeline(t, cfg, true)
	var samples atomic.Int64
	p.r.SetHeartbeatObserver(func(hb HeartbeatSample) {
		if d := hb.Lag; d < 0 || d > 10*time.Second || hb.Read > d {
			t.Errorf("heartbeat lag %s on an idle pipeline", d)
		}
		samples.Add(1)
	})
	deadline := time.Now().Add(30 * time.Second)
	for samples.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d heartbeats applied in 30s; status %+v", samples.Load(), p.r.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The heartbeat row lands in the target, where the lag can be read
	// with SQL.
	waitRows(t, tgt, "SELECT COUNT(*) FROM sluice.heartbeat WHERE pipeline = 'hb' AND ts > UTC_TIMESTAMP(6) - INTERVAL 10 SECOND", "1", 10*time.Second)
	if s := p.r.Status(); s.HeartbeatAt.IsZero() || s.HeartbeatLag > 10*time.Second {
		t.Fatalf("status heartbeat %s at %s", s.HeartbeatLag, s.HeartbeatAt)
	}
	p.stop(t)
}

// TestStartNowIsPinnedBeforeTheFirstCommit checks that a pipeline started
// "now" that stops before its first commit resumes where it began: rows
// written while it was paused, and the one it paused on, all arrive. (A
// restart that resolved "now" again would skip them.)
func TestStartNowIsPinnedBeforeTheFirstCommit(t *testing.T) {
	src, tgt := pair(t)
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), note VARCHAR(20))")
	tgt.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
	cfg := &Config{Name: "pinned", Source: src.URL(), Target: tgt.URL(), From: "now", DDL: "skip", Tables: []TableRule{{Source: "shop.*"}}}
	p := startPipeline(t, cfg, false)
	waitState(t, p.r, Running, 30*time.Second)
	src.Exec(t, "INSERT INTO shop.items VALUES (1, 'a', 'n1')")
	waitState(t, p.r, Paused, 30*time.Second)
	// Written while the pipeline is paused, before any commit.
	src.Exec(t, "INSERT INTO shop.items VALUES (2, 'b', 'n2')")
	p.stop(t)
	tgt.Exec(t, "ALTER TABLE shop.items ADD COLUMN note VARCHAR(20)")
	// A new process: it finds the pinned start in the target.
	p = startPipeline(t, cfg, false)
	testdb.WaitSameData(t, src, tgt, 30*time.Second, "shop.items")
	p.stop(t)
}
