package check

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/source"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func cfg(t *testing.T, s *testdb.Server) source.Config {
	c, err := source.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replicaPair starts a source and a native replica of it with the given
// schema statements applied and replicated.
func replicaPair(t *testing.T, stmts ...string) (src, rep *testdb.Server) {
	src = testdb.Start(t, testdb.Options{})
	rep = testdb.Start(t, testdb.Options{})
	rep.Replicate(t, src, testdb.ReplicaOptions{})
	src.Exec(t, stmts...)
	if err := rep.WaitCaughtUp(ctxT(t), src); err != nil {
		t.Fatal(err)
	}
	return src, rep
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	r, err := Run(ctxT(t), o)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, tr := range r.Tables {
		if tr.Error != "" {
			t.Fatalf("check of %s: %s", tr.Source, tr.Error)
		}
	}
	return r
}

// diffKeys lists "type:key" of every difference, sorted.
func diffKeys(r *Report) []string {
	var out []string
	for _, tr := range r.Tables {
		for _, d := range tr.Differences {
			out = append(out, d.Type+":"+tr.Target+":"+strings.Join(d.Key, ","))
		}
	}
	sort.Strings(out)
	return out
}

func seedStatements(db string, rows int) []string {
	stmts := []string{"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".items (id INT PRIMARY KEY, name VARCHAR(40), qty INT NOT NULL, note TEXT NULL)",
		"CREATE TABLE " + db + ".pairs (a VARCHAR(10) NOT NULL, b INT NOT NULL, v VARCHAR(20), PRIMARY KEY (a, b))"}
	var vals, pvals []string
	for i := 1; i <= rows; i++ {
		note := "NULL"
		if i%3 == 0 {
			note = fmt.Sprintf("'note %d'", i)
		}
		vals = append(vals, fmt.Sprintf("(%d, 'item %d', %d, %s)", i, i, i*7%100, note))
		pvals = append(pvals, fmt.Sprintf("('k%d', %d, 'v%d')", i%50, i, i))
	}
	return append(stmts, "INSERT INTO "+db+".items VALUES "+strings.Join(vals, ","),
		"INSERT INTO "+db+".pairs VALUES "+strings.Join(pvals, ","))
}

func TestEqualCopiesAreEqual(t *testing.T) {
	src, rep := replicaPair(t, seedStatements("shop", 3000)...)
	r := run(t, Options{Source: cfg(t, src), Target: cfg(t, rep), Tables: []string{"shop.*"}, InitialChunkRows: 300})
	if r.ExitStatus() != 0 || len(diffKeys(r)) != 0 {
		t.Fatalf("equal copies: status %d, differences %v", r.ExitStatus(), diffKeys(r))
	}
	if r.Position != "replica" {
		t.Fatalf("target position %q, want replica", r.Position)
	}
	rows, _, _, _, _ := r.Totals()
	if rows != 6000 {
		t.Fatalf("rows compared %d, want 6000", rows)
	}
}

// TestFindsExactlyInjectedDifferencesAndRepairs injects updates, deletes and
// inserts on the replica and expects exactly those rows, then repairs them.
func TestFindsExactlyInjectedDifferencesAndRepairs(t *testing.T) {
	src, rep := replicaPair(t, seedStatements("shop", 3000)...)
	want := injectDifferences(t, rep, "shop", 3000, 12, 1)
	// Chunks of up to 1000 rows and leaves of 20: mismatching chunks are
	// split over two levels before per-row hashes are compared.
	var splits atomic.Int64
	o := Options{Source: cfg(t, src), Target: cfg(t, rep), Tables: []string{"shop.*"}, InitialChunkRows: 200, MaxChunkRows: 1000,
		LeafRows: 20, Parallel: 1, hooks: hooks{onSplit: func(int) { splits.Add(1) }}}
	r := run(t, o)
	if got := diffKeys(r); !equalStrings(got, want) {
		t.Fatalf("differences\n got %v\nwant %v", got, want)
	}
	if splits.Load() == 0 {
		t.Fatal("no mismatching range was split")
	}
	o.hooks = hooks{}
	if r.ExitStatus() != 1 {
		t.Fatalf("exit status %d, want 1", r.ExitStatus())
	}
	var buf bytes.Buffer
	o.Repair, o.RepairOutput = RepairPrint, &buf
	run(t, o)
	for _, w := range []string{"REPLACE INTO `shop`.`items`", "DELETE FROM `shop`.`items` WHERE `id` = '", "_utf8mb4 X'"} {
		if !strings.Contains(buf.String(), w) {
			t.Fatalf("repair SQL lacks %q:\n%s", w, buf.String())
		}
	}
	o.Repair, o.RepairOutput = RepairApply, nil
	r = run(t, o)
	repaired := 0
	for _, tr := range r.Tables {
		repaired += tr.Repaired
	}
	if repaired != len(want) {
		t.Fatalf("repaired %d rows, want %d", repaired, len(want))
	}
	o.Repair = RepairNone
	if r = run(t, o); len(diffKeys(r)) != 0 {
		t.Fatalf("after repair: %v", diffKeys(r))
	}
}

// injectDifferences changes k random rows of items directly on the replica
// (updates, deletes, inserts in turn) and returns the expected differences.
func injectDifferences(t *testing.T, rep *testdb.Server, db string, rows, k int, seed int64) []string {
	rnd := rand.New(rand.NewSource(seed))
	used := map[int]bool{}
	var want []string
	stmts := []string{"SET sql_log_bin = 0"}
	for i := 0; i < k; i++ {
		id := rnd.Intn(rows) + 1
		for used[id] {
			id = rnd.Intn(rows) + 1
		}
		used[id] = true
		switch i % 3 {
		case 0:
			stmts = append(stmts, fmt.Sprintf("UPDATE %s.items SET qty = qty + 1 WHERE id = %d", db, id))
			want = append(want, fmt.Sprintf("different:%s.items:%d", db, id))
		case 1:
			stmts = append(stmts, fmt.Sprintf("DELETE FROM %s.items WHERE id = %d", db, id))
			want = append(want, fmt.Sprintf("missing:%s.items:%d", db, id))
		case 2:
			nid := rows + 1000 + i
			stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.items VALUES (%d, 'extra', 1, NULL)", db, nid))
			want = append(want, fmt.Sprintf("extra:%s.items:%d", db, nid))
		}
	}
	rep.Exec(t, stmts...)
	sort.Strings(want)
	return want
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMappingAndExcludedColumns(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.users (id INT PRIMARY KEY, name VARCHAR(20), secret VARCHAR(20))",
		"INSERT INTO shop.users VALUES (1,'a','s1'),(2,'b','s2'),(3,'c','s3')")
	tgt.Exec(t, "CREATE DATABASE shop_copy", "CREATE TABLE shop_copy.users (id INT PRIMARY KEY, name VARCHAR(20), secret VARCHAR(20))",
		"INSERT INTO shop_copy.users VALUES (1,'a','x'),(2,'b','y'),(3,'C','z')")
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"shop.*"},
		Map: []MapRule{{From: "shop.*", To: "shop_copy.*"}}, ExcludeColumns: []string{"shop.users.secret"}, RecheckDelay: 10 * time.Millisecond}
	r := run(t, o)
	if got, want := diffKeys(r), []string{"different:shop_copy.users:3"}; !equalStrings(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if d := r.Tables[0].Differences[0]; len(d.Columns) != 1 || d.Columns[0] != "name" {
		t.Fatalf("differing columns %v, want [name]", d.Columns)
	}
	o.Repair = RepairApply
	run(t, o)
	// The excluded column keeps the target's own value.
	if got := tgt.QueryString(t, "SELECT CONCAT(name, secret) FROM shop_copy.users WHERE id = 3"); got != "cz" {
		t.Fatalf("after repair row 3 is %q, want cz", got)
	}
}

// TestTypeMatrix: identical data of every type compares equal, and a
// one-byte difference in any column is found in that column.
func TestTypeMatrix(t *testing.T) {
	cols := []struct{ def, a, b string }{
		{"c_tinyint TINYINT", "-5", "-4"},
		{"c_usmall SMALLINT UNSIGNED", "65535", "65534"},
		{"c_medium MEDIUMINT", "8388607", "8388606"},
		{"c_bigint BIGINT UNSIGNED", "18446744073709551615", "18446744073709551614"},
		{"c_decimal DECIMAL(20,6)", "-12345.678901", "-12345.678902"},
		{"c_float FLOAT", "3.25", "3.5"},
		{"c_double DOUBLE", "2.5e-300", "2.6e-300"},
		{"c_bit BIT(12)", "b'101010101010'", "b'101010101011'"},
		{"c_year YEAR", "2024", "2025"},
		{"c_date DATE", "'2024-02-29'", "'2024-02-28'"},
		{"c_time TIME(3)", "'-838:59:59.000'", "'-838:59:58.000'"},
		{"c_datetime DATETIME(6)", "'2024-01-01 10:00:00.123456'", "'2024-01-01 10:00:00.123457'"},
		{"c_timestamp TIMESTAMP(2) NULL", "'2024-01-01 10:00:00.12'", "'2024-01-01 10:00:00.13'"},
		{"c_char CHAR(5)", "'abcd'", "'abce'"},
		{"c_varchar VARCHAR(20) CHARACTER SET latin1", "'caf\u00e9#'", "'cafe#'"},
		{"c_ci VARCHAR(20) COLLATE utf8mb4_general_ci", "'Hello'", "'hello'"},
		{"c_text TEXT", "'NULL'", "'NULM'"},
		{"c_empty VARCHAR(5) NULL", "''", "NULL"},
		{"c_binary BINARY(4)", "x'00010203'", "x'00010204'"},
		{"c_varbinary VARBINARY(10)", "x'ff00'", "x'fe00'"},
		{"c_blob BLOB", "x'deadbeef'", "x'deadbeee'"},
		{"c_enum ENUM('a','b','c')", "'b'", "'c'"},
		{"c_set SET('x','y','z')", "'x,z'", "'x,y'"},
		{"c_json JSON", `'{"a": 1, "b": [1, 2]}'`, `'{"a": 1, "b": [1, 3]}'`},
		{"c_geo POINT", "ST_GeomFromText('POINT(1 2)')", "ST_GeomFromText('POINT(1 3)')"},
	}
	var defs, vals []string
	for _, c := range cols {
		defs = append(defs, c.def)
		vals = append(vals, c.a)
	}
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	create := "CREATE TABLE d.t (id INT PRIMARY KEY, " + strings.Join(defs, ", ") + ")"
	var inserts []string
	for i := 1; i <= len(cols)+1; i++ {
		inserts = append(inserts, fmt.Sprintf("INSERT INTO d.t VALUES (%d, %s)", i, strings.Join(vals, ", ")))
	}
	for _, s := range []*testdb.Server{src, tgt} {
		s.Exec(t, append([]string{"CREATE DATABASE d", "SET time_zone = '+00:00'", create}, inserts...)...)
	}
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"d.t"}, RecheckDelay: 10 * time.Millisecond}
	if r := run(t, o); len(diffKeys(r)) != 0 {
		t.Fatalf("identical rows differ: %v", diffKeys(r))
	}
	// Row i+1 gets column i changed.
	var upd []string
	for i, c := range cols {
		name := strings.Fields(c.def)[0]
		upd = append(upd, fmt.Sprintf("UPDATE d.t SET %s = %s WHERE id = %d", name, c.b, i+1))
	}
	tgt.Exec(t, upd...)
	r := run(t, o)
	got := map[string]string{}
	for _, d := range r.Tables[0].Differences {
		got[d.Key[0]] = strings.Join(d.Columns, ",")
	}
	for i, c := range cols {
		name := strings.Fields(c.def)[0]
		if got[strconv.Itoa(i+1)] != name {
			t.Errorf("column %s: difference in row %d reported as %q", name, i+1, got[strconv.Itoa(i+1)])
		}
	}
	if len(got) != len(cols) {
		t.Errorf("%d differences, want %d: %v", len(got), len(cols), got)
	}
	// Repairs restore every type exactly.
	o.Repair = RepairApply
	run(t, o)
	o.Repair = RepairNone
	if r := run(t, o); len(diffKeys(r)) != 0 {
		t.Fatalf("after repair: %v", diffKeys(r))
	}
}

func TestKeylessTableComparedWhole(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	for _, s := range []*testdb.Server{src, tgt} {
		s.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.log (msg VARCHAR(20), n INT)",
			"INSERT INTO d.log VALUES ('a',1),('a',1),('b',2),(NULL,3)")
	}
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"d.log"}}
	r := run(t, o)
	if len(diffKeys(r)) != 0 || !r.Tables[0].Keyless || len(r.Tables[0].Warnings) == 0 {
		t.Fatalf("equal keyless table: %v keyless=%v warnings=%v", diffKeys(r), r.Tables[0].Keyless, r.Tables[0].Warnings)
	}
	// A duplicate row removed on the target: pairs of equal rows must not
	// cancel.
	tgt.Exec(t, "DELETE FROM d.log WHERE msg = 'a' LIMIT 1", "INSERT INTO d.log VALUES ('', 3)")
	r = run(t, o)
	tr := r.Tables[0]
	if tr.Missing != 1 || tr.Extra != 1 {
		t.Fatalf("keyless: missing %d extra %d, want 1 and 1", tr.Missing, tr.Extra)
	}
}

func TestResumeContinuesFromLastChunk(t *testing.T) {
	src, rep := replicaPair(t, seedStatements("shop", 3000)...)
	want := injectDifferences(t, rep, "shop", 3000, 6, 2)
	state := t.TempDir() + "/state.json"
	o := Options{Source: cfg(t, src), Target: cfg(t, rep), Tables: []string{"shop.items"}, InitialChunkRows: 100,
		MaxChunkRows: 100, StateFile: state, Parallel: 1}
	saved := interruptAfterChunks(t, o, 8)
	st, err := openState(state, fingerprint(&o))
	if err != nil {
		t.Fatal(err)
	}
	ts := st.table("shop.items")
	if ts == nil || ts.Done || ts.Chunks < saved || ts.After == nil {
		t.Fatalf("no partial progress saved after %d chunks: %+v", saved, ts)
	}
	resumed := resumeAndCheck(t, o, want)
	if resumed.Chunks-ts.Chunks <= 0 || resumed.Rows != 3000 {
		t.Fatalf("resumed from chunk %d: %d chunks and %d rows in all", ts.Chunks, resumed.Chunks, resumed.Rows)
	}
	// A finished check leaves nothing to resume: the file is gone.
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state file after a finished check: %v", err)
	}
}

// TestResumeFromTargetProgress keeps the progress in the target's sluice
// schema instead of a file: a killed check resumes from its last chunk.
func TestResumeFromTargetProgress(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	src.Exec(t, seedStatements("shop", 3000)...)
	tgt.Exec(t, seedStatements("shop", 3000)...)
	tgt.Exec(t, "UPDATE shop.items SET qty = qty + 1 WHERE id IN (17, 2999)", "DELETE FROM shop.items WHERE id = 1500")
	want := []string{"different:shop.items:17", "different:shop.items:2999", "missing:shop.items:1500"}
	o := Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"shop.items"}, InitialChunkRows: 100,
		MaxChunkRows: 100, StateName: "nightly", Parallel: 1, RecheckDelay: 10 * time.Millisecond}
	saved := interruptAfterChunks(t, o, 12)
	var chunks int64
	var done bool
	if err := tgt.DB(t, "").QueryRow("SELECT JSON_VALUE(progress, '$.chunks'), done FROM sluice.check_progress WHERE name = 'nightly' AND source_table = 'shop.items'").
		Scan(&chunks, &done); err != nil {
		t.Fatalf("read saved progress: %v", err)
	}
	if done || chunks < saved {
		t.Fatalf("saved progress: %d chunks, done %v; want at least %d, not done", chunks, done, saved)
	}
	resumed := resumeAndCheck(t, o, want)
	if resumed.Chunks <= chunks || resumed.Rows != 3000 {
		t.Fatalf("resumed from chunk %d: %d chunks and %d rows in all", chunks, resumed.Chunks, resumed.Rows)
	}
	if n := tgt.QueryString(t, "SELECT COUNT(*) FROM sluice.check_progress WHERE name = 'nightly'"); n != "0" {
		t.Fatalf("%s progress rows left after the check finished", n)
	}
}

// interruptAfterChunks runs a check and cancels it once n chunks of its
// table have finished; it returns n.
func interruptAfterChunks(t *testing.T, o Options, n int64) int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	o.hooks.afterChunk = func(_ string, chunks int64) {
		if chunks >= n {
			cancel()
		}
	}
	if _, err := Run(ctx, o); err == nil {
		t.Fatal("the interrupted check finished")
	}
	return n
}

// resumeAndCheck runs the check again, counting the chunks it reads, and
// expects the differences want over both runs; it returns the table report.
func resumeAndCheck(t *testing.T, o Options, want []string) *TableReport {
	t.Helper()
	var first atomic.Int64
	first.Store(-1)
	o.hooks.afterChunk = func(_ string, chunks int64) { first.CompareAndSwap(-1, chunks) }
	r := run(t, o)
	if got := diffKeys(r); !equalStrings(got, want) {
		t.Fatalf("after resume\n got %v\nwant %v", got, want)
	}
	tr := r.Tables[0]
	// The first chunk the resumed run finishes carries on the saved count.
	if f := first.Load(); f <= 1 {
		t.Fatalf("the resumed run started over: its first finished chunk is number %d", f)
	}
	return tr
}

// TestAgreesWithPtTableChecksum cross-checks with a tool nobody here wrote.
func TestAgreesWithPtTableChecksum(t *testing.T) {
	src, rep := replicaPair(t, seedStatements("shop", 5000)...)
	src.Exec(t, "CREATE DATABASE percona", "CREATE TABLE percona.dsns (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, dsn VARCHAR(255) NOT NULL)",
		fmt.Sprintf("INSERT INTO percona.dsns (dsn) VALUES ('h=127.0.0.1,P=%d,u=root')", rep.Port))
	if err := rep.WaitCaughtUp(ctxT(t), src); err != nil {
		t.Fatal(err)
	}
	o := Options{Source: cfg(t, src), Target: cfg(t, rep), Tables: []string{"shop.*"}, InitialChunkRows: 500}
	if d := ptDiffs(t, src, rep); d != 0 {
		t.Fatalf("pt-table-checksum finds %d differing chunks in equal copies", d)
	}
	if r := run(t, o); len(diffKeys(r)) != 0 {
		t.Fatalf("sluice finds differences in equal copies: %v", diffKeys(r))
	}
	want := injectDifferences(t, rep, "shop", 5000, 15, 3)
	if d := ptDiffs(t, src, rep); d == 0 {
		t.Fatal("pt-table-checksum finds no difference after injecting some")
	}
	r := run(t, o)
	if got := diffKeys(r); !equalStrings(got, want) {
		t.Fatalf("sluice\n got %v\nwant %v", got, want)
	}
	o.Repair = RepairApply
	run(t, o)
	if d := ptDiffs(t, src, rep); d != 0 {
		t.Fatalf("pt-table-checksum finds %d differing chunks after repair", d)
	}
}

// ptDiffs runs pt-table-checksum on the pair and returns its DIFFS total.
func ptDiffs(t *testing.T, src, rep *testdb.Server) int {
	t.Helper()
	if err := rep.WaitCaughtUp(ctxT(t), src); err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("h=127.0.0.1,P=%d,u=root", src.Port)
	cmd := exec.Command("pt-table-checksum", dsn, "--databases=shop", "--replicate=percona.checksums",
		"--recursion-method=dsn="+dsn+",D=percona,t=dsns", "--no-check-binlog-format", "--chunk-size=500")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode()&^(16|512) != 0) {
		t.Fatalf("pt-table-checksum: %v\n%s", err, out)
	}
	total := 0
	seen := false
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 9 && strings.HasPrefix(f[8], "shop.") {
			n, _ := strconv.Atoi(f[2])
			total += n
			seen = true
		}
	}
	if !seen {
		t.Fatalf("pt-table-checksum printed no table line:\n%s", out)
	}
	return total
}

func sortStrings(v []string) { sort.Strings(v) }

// TestRowTextReadsOneWay: rows whose fields only move a boundary must hash
// apart. Text cannot hold the 0xFF separator; bytes can, and their lengths
// are hashed.
func TestRowTextReadsOneWay(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	create := "CREATE TABLE d.t (id INT PRIMARY KEY, a VARCHAR(10), b VARCHAR(10) CHARACTER SET latin1, x VARBINARY(10), y BLOB, z BINARY(2))"
	src.Exec(t, "CREATE DATABASE d", create, "INSERT INTO d.t VALUES "+
		"(1, 'a', 'b#c', x'00', x'00', x'0000'), "+
		"(2, 'a\u00ff', 'b', x'00', x'00', x'0000'), "+
		"(3, 'a', 'b', x'41ff42', x'43', x'0000'), "+
		"(4, 'a', 'b', x'41', x'42', x'ff00'), "+
		"(5, '', NULL, NULL, x'', x'0000'), "+
		"(6, 'same', 'same', x'ff', x'ff', x'ffff')")
	tgt.Exec(t, "CREATE DATABASE d", create, "INSERT INTO d.t VALUES "+
		"(1, 'a#b', 'c', x'00', x'00', x'0000'), "+
		"(2, 'a', '\u00ffb', x'00', x'00', x'0000'), "+
		"(3, 'a', 'b', x'41', x'42ff43', x'0000'), "+
		"(4, 'a', 'b', x'41ff', x'', x'0042'), "+
		"(5, NULL, '', x'', NULL, x'0000'), "+
		"(6, 'same', 'same', x'ff', x'ff', x'ffff')")
	r := run(t, Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"d.t"}, RecheckDelay: 10 * time.Millisecond})
	want := []string{"different:d.t:1", "different:d.t:2", "different:d.t:3", "different:d.t:4", "different:d.t:5"}
	if got := diffKeys(r); !equalStrings(got, want) {
		t.Fatalf("differences\n got %v\nwant %v", got, want)
	}
}

// TestMarkStatementLayouts: the default mark row is the two-way sync's
// (apply/twoway.go); other layouts name their columns, and '-' drops the
// optional ones. Values are placeholders, or hex literals when printed.
func TestMarkStatementLayouts(t *testing.T) {
	m := &Mark{Channel: "dc1-dc2"}
	m.setDefaults()
	st := markStatement(m)
	if want := "INSERT INTO `sluice`.`mark` (`channel`, `pipeline`, `worker`, `origin`, `n`) VALUES (?, ?, 0, ?, 1) " +
		"ON DUPLICATE KEY UPDATE `n` = `n` + 1, `channel` = VALUES(`channel`), `origin` = VALUES(`origin`)"; st.query != want {
		t.Fatalf("default mark statement\n got %s\nwant %s", st.query, want)
	}
	if fmt.Sprint(st.args) != "[dc1-dc2 sluice-check sluice-check]" {
		t.Fatalf("default mark arguments %v", st.args)
	}
	m = &Mark{Table: "ops.loop`guard", Channel: "a'b", Columns: MarkColumns{Channel: "ch", Writer: "-", Worker: "-", Origin: "-", Counter: "seq"}}
	m.setDefaults()
	st = markStatement(m)
	if want := "INSERT INTO `ops`.`loop``guard` (`ch`, `seq`) VALUES (_utf8mb4 X'612762', 1) ON DUPLICATE KEY UPDATE `seq` = `seq` + 1, `ch` = VALUES(`ch`)"; st.literal != want {
		t.Fatalf("custom mark statement\n got %s\nwant %s", st.literal, want)
	}
}

// TestSameFlipInTwoRowsIsFound: CRCs are linear, so the same bit flip in
// two rows of equal length changes both CRCs by the same amount, and
// combining linear row hashes by XOR would cancel the two changes (as
// pt-table-checksum's BIT_XOR of CRC32 does). The row hash mixes its CRCs
// non-linearly, so both rows are reported.
func TestSameFlipInTwoRowsIsFound(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{})
	create := "CREATE TABLE d.t (id INT PRIMARY KEY, v CHAR(4) NOT NULL)"
	src.Exec(t, "CREATE DATABASE d", create, "INSERT INTO d.t VALUES (1, 'aaaa'), (2, 'dddd'), (3, 'cccc')")
	tgt.Exec(t, "CREATE DATABASE d", create, "INSERT INTO d.t VALUES (1, 'aaab'), (2, 'dddg'), (3, 'cccc')")
	// 'a' ^ 'b' == 'd' ^ 'g' == 0x03: the same flip, at the same offset.
	r := run(t, Options{Source: cfg(t, src), Target: cfg(t, tgt), Tables: []string{"d.t"}, RecheckDelay: 10 * time.Millisecond})
	want := []string{"different:d.t:1", "different:d.t:2"}
	if got := diffKeys(r); !equalStrings(got, want) {
		t.Fatalf("differences\n got %v\nwant %v", got, want)
	}
}
