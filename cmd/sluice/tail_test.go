package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/sluice-db/sluice/internal/fixtures"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// runSluice runs the sluice command in-process and returns its stdout.
func runSluice(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--log-level", "warn"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

type tailLine struct {
	Schema    string         `json:"schema"`
	Table     string         `json:"table"`
	Op        string         `json:"op"`
	Before    map[string]any `json:"before"`
	After     map[string]any `json:"after"`
	Statement string         `json:"statement"`
	Position  string         `json:"position"`
	GTID      string         `json:"gtid"`
	Timestamp string         `json:"timestamp"`
}

func parseLines(t *testing.T, out string) []tailLine {
	t.Helper()
	var lines []tailLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l tailLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// tailSource is a server with a small history of DDL and DML in two
// schemas.
func tailSource(t *testing.T) *testdb.Server { return tailSourceWith(t, testdb.Options{}) }

func tailSourceWith(t *testing.T, opts testdb.Options) *testdb.Server {
	s := testdb.Start(t, opts)
	s.Exec(t, "CREATE DATABASE shop", "CREATE DATABASE crm",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, status VARCHAR(10), total DECIMAL(10,2), note TEXT CHARACTER SET latin1)",
		"CREATE TABLE crm.users (id INT PRIMARY KEY, name VARCHAR(20))",
		"CREATE TABLE crm.log (id INT PRIMARY KEY)",
		"INSERT INTO shop.orders VALUES (1, 'new', 12.50, 'caf\u00e9'), (2, 'new', 3.00, NULL)",
		"UPDATE shop.orders SET status = 'paid' WHERE id = 1",
		"INSERT INTO crm.users VALUES (1, 'ann')",
		"INSERT INTO crm.log VALUES (1), (2), (3)",
		"DELETE FROM shop.orders WHERE id = 2",
		"ALTER TABLE crm.users ADD COLUMN email VARCHAR(50)",
		"INSERT INTO crm.users VALUES (2, 'bob', 'bob@example.com')")
	return s
}

func TestTailLiveRowLines(t *testing.T) {
	s := tailSource(t)
	out, err := runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end")
	if err != nil {
		t.Fatalf("tail: %v\n%s", err, out)
	}
	lines := parseLines(t, out)
	var got []string
	for _, l := range lines {
		if l.Op == "ddl" {
			got = append(got, "ddl "+strings.Fields(l.Statement)[0]+" "+strings.Fields(l.Statement)[1])
			continue
		}
		got = append(got, fmt.Sprintf("%s %s.%s", l.Op, l.Schema, l.Table))
		if l.Position == "" || l.GTID == "" || !strings.HasSuffix(l.Timestamp, "Z") {
			t.Errorf("line lacks position, gtid or timestamp: %+v", l)
		}
	}
	want := []string{"ddl CREATE DATABASE", "ddl CREATE DATABASE", "ddl CREATE TABLE", "ddl CREATE TABLE", "ddl CREATE TABLE",
		"insert shop.orders", "insert shop.orders", "update shop.orders", "insert crm.users",
		"insert crm.log", "insert crm.log", "insert crm.log", "delete shop.orders", "ddl ALTER TABLE", "insert crm.users"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	ins := lines[5]
	if ins.Before != nil || fmt.Sprint(ins.After["id"]) != "1" || ins.After["total"] != "12.50" || ins.After["note"] != "caf\u00e9" || ins.After["status"] != "new" {
		t.Errorf("insert = %+v", ins)
	}
	if ins2 := lines[6]; ins2.After["note"] != nil {
		t.Errorf("NULL note = %#v", ins2.After["note"])
	}
	upd := lines[7]
	if upd.Before["status"] != "new" || upd.After["status"] != "paid" {
		t.Errorf("update = %+v", upd)
	}
	del := lines[12]
	if del.After != nil || fmt.Sprint(del.Before["id"]) != "2" {
		t.Errorf("delete = %+v", del)
	}
	last := lines[len(lines)-1]
	if last.After["email"] != "bob@example.com" || last.After["name"] != "bob" {
		t.Errorf("row after ALTER TABLE = %+v", last)
	}
	// The last position is the server's end of binlog.
	var file string
	var pos int64
	var x, y any
	if err := s.DB(t, "").QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x, &y); err != nil {
		t.Fatal(err)
	}
	if last.Position != fmt.Sprintf("%s:%d", file, pos) {
		t.Errorf("last position %s, server end %s:%d", last.Position, file, pos)
	}
}

func TestTailCountAndTablesFilter(t *testing.T) {
	s := tailSource(t)
	out, err := runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end", "--count")
	if err != nil {
		t.Fatalf("tail --count: %v\n%s", err, out)
	}
	// 5 CREATEs and an ALTER, and 6 DML transactions; the update counts once.
	if out != "txns=12 insert=7 update=1 delete=1\n" {
		t.Errorf("--count printed %q", out)
	}
	out, err = runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end", "--count", "--tables", "shop.*,crm.users,!crm.log")
	if err != nil {
		t.Fatal(err)
	}
	// crm.log's transaction is filtered out; DDL of both schemas stays.
	if out != "txns=11 insert=4 update=1 delete=1\n" {
		t.Errorf("--count --tables printed %q", out)
	}
	out, err = runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end", "--tables", "crm.users")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range parseLines(t, out) {
		if l.Op != "ddl" && (l.Schema != "crm" || l.Table != "users") {
			t.Errorf("--tables crm.users printed %+v", l)
		}
	}
}

func TestTailTxnFormat(t *testing.T) {
	s := tailSource(t)
	out, err := runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end", "--format", "txn", "--tables", "crm.log")
	if err != nil {
		t.Fatal(err)
	}
	type txnLine struct {
		GTID    string `json:"gtid"`
		Begin   string `json:"begin"`
		End     string `json:"end"`
		EndGTID string `json:"end_gtid"`
		DDL     *struct {
			Statement string `json:"statement"`
		} `json:"ddl"`
		Changes []tailLine `json:"changes"`
	}
	var txns []txnLine
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var tx txnLine
		if err := json.Unmarshal([]byte(line), &tx); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		txns = append(txns, tx)
	}
	var dml int
	for _, tx := range txns {
		if tx.DDL == nil {
			dml++
			if len(tx.Changes) != 3 || tx.Changes[2].Table != "log" || tx.GTID == "" || tx.EndGTID != tx.GTID || tx.Begin >= tx.End {
				t.Errorf("txn = %+v", tx)
			}
		}
	}
	if dml != 1 {
		t.Errorf("got %d DML transactions, want 1:\n%s", dml, out)
	}
}

// Binlog files read offline print exactly what the live stream printed.
func TestTailBinlogFileMatchesLive(t *testing.T) {
	s := tailSource(t)
	s.Exec(t, "FLUSH BINARY LOGS", "UPDATE crm.users SET email = 'ann@example.com' WHERE id = 1", "DELETE FROM crm.log")
	live, err := runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end")
	if err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "FLUSH BINARY LOGS")
	dir := t.TempDir()
	var args []string
	for _, name := range []string{"binlog.000001", "binlog.000002"} {
		copyFile(t, filepath.Join(s.BinlogDir(), name), filepath.Join(dir, name))
		args = append(args, "--binlog-file", filepath.Join(dir, name))
	}
	offline, err := runSluice(t, append([]string{"tail"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if offline != live {
		t.Errorf("offline:\n%s\nlive:\n%s", offline, live)
	}
	if !strings.Contains(live, `"position":"binlog.000002:`) || strings.Count(live, "\n") != 19 {
		t.Errorf("live output should span both files in 19 lines:\n%s", live)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTailCorruptBinlogFile(t *testing.T) {
	s := tailSource(t)
	s.Exec(t, "FLUSH BINARY LOGS")
	good, err := os.ReadFile(filepath.Join(s.BinlogDir(), "binlog.000001"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A flipped byte in the middle breaks an event's checksum.
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0x55
	cpath := filepath.Join(dir, "corrupt.000001")
	os.WriteFile(cpath, corrupt, 0o644)
	_, err = runSluice(t, "tail", "--binlog-file", cpath)
	if err == nil || !strings.Contains(err.Error(), cpath) || !strings.Contains(err.Error(), "corrupt.000001:") {
		t.Errorf("corrupt file: err = %v", err)
	}
	// A truncated file.
	tpath := filepath.Join(dir, "truncated.000001")
	os.WriteFile(tpath, good[:len(good)-10], 0o644)
	_, err = runSluice(t, "tail", "--binlog-file", tpath)
	if err == nil || !strings.Contains(err.Error(), tpath) || !strings.Contains(err.Error(), "offset") {
		t.Errorf("truncated file: err = %v", err)
	}
	// Not a binlog at all.
	npath := filepath.Join(dir, "notes.txt")
	os.WriteFile(npath, []byte("hello"), 0o644)
	if _, err = runSluice(t, "tail", "--binlog-file", npath); err == nil || !strings.Contains(err.Error(), "not a binlog file") {
		t.Errorf("not a binlog: err = %v", err)
	}
}

// Every fixture from real servers decodes, except the one that is
// truncated on purpose, which fails with its offset.
func TestTailFixtures(t *testing.T) {
	root := fixtures.BinlogDir()
	var files []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		t.Fatalf("found %d fixtures in %s", len(files), root)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := runSluice(t, "tail", "--binlog-file", f, "--count")
			if strings.Contains(f, "truncated") {
				if err == nil || !strings.Contains(err.Error(), "offset") {
					t.Errorf("truncated fixture: err = %v, out %q", err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v", err)
			}
			if !strings.HasPrefix(out, "txns=") {
				t.Errorf("output %q", out)
			}
			rows, err := runSluice(t, "tail", "--binlog-file", f)
			if err != nil {
				t.Fatal(err)
			}
			parseLines(t, rows)
		})
	}
}

// With binlog_row_metadata=MINIMAL the events carry no column names: they
// come from the schema history, which a second run loads from its file.
func TestTailSchemaHistoryFile(t *testing.T) {
	s := tailSourceWith(t, testdb.Options{RowMetadata: "MINIMAL"})
	hist := filepath.Join(t.TempDir(), "history.db")
	out, err := runSluice(t, "tail", "--source", s.URL(), "--from", "start", "--stop-at-end", "--schema-history", hist, "--format", "txn")
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		End string `json:"end"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(hist); err != nil || st.Size() == 0 {
		t.Fatalf("schema history file: %v", err)
	}
	s.Exec(t, "INSERT INTO crm.users VALUES (3, 'cy', 'cy@example.com')")
	out, err = runSluice(t, "tail", "--source", s.URL(), "--from", last.End, "--stop-at-end", "--schema-history", hist)
	if err != nil {
		t.Fatalf("second run from %s: %v", last.End, err)
	}
	got := parseLines(t, out)
	if len(got) != 1 || got[0].After["email"] != "cy@example.com" || got[0].After["name"] != "cy" {
		t.Errorf("second run printed %+v", got)
	}
	// Without the history, the same event has no column names.
	out, err = runSluice(t, "tail", "--source", s.URL(), "--from", last.End, "--stop-at-end")
	if err == nil {
		if got := parseLines(t, out); len(got) == 1 && got[0].After["email"] != nil {
			t.Errorf("without a history the names were known: %+v", got)
		}
	}
}

func TestTailFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"tail"},
		{"tail", "--source", "mysql://root@127.0.0.1:1", "--binlog-file", "x"},
		{"tail", "--source", "mysql://root@127.0.0.1:1", "--format", "xml"},
		{"tail", "--source", "mysql://root@127.0.0.1:1", "--from", "yesterday"},
		{"tail", "--source", "mysql://root@127.0.0.1:1", "--tables", "a.b.c"},
	} {
		if _, err := runSluice(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
