package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// runCheck runs `sluice check` in-process with separate stdout and stderr
// and returns them with the exit status main would use.
func runCheck(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"--log-level", "warn", "check"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	status = 0
	if err != nil {
		status = 1
		var ee *exitError
		if errors.As(err, &ee) {
			status = ee.code
		}
		if ee == nil || ee.err != nil {
			errOut.WriteString("sluice: " + err.Error() + "\n")
		}
	}
	return out.String(), errOut.String(), status
}

// checkPair is a source and a target (not a replica) holding the same
// shop.items, with id 1..n.
func checkPair(t *testing.T, n int) (src, tgt *testdb.Server) {
	src = testdb.Start(t, testdb.Options{})
	tgt = testdb.Start(t, testdb.Options{})
	var vals []string
	for i := 1; i <= n; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'item %d', %d, 'caf\u00e9 #%d')", i, i, i%7, i))
	}
	for _, s := range []*testdb.Server{src, tgt} {
		s.Exec(t, "CREATE DATABASE shop",
			"CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INT NOT NULL, note VARCHAR(40) NULL)",
			"INSERT INTO shop.items VALUES "+strings.Join(vals, ","))
	}
	return src, tgt
}

// injectOnTarget makes id 7 different, id 8 missing and id 1000 extra on
// the target.
func injectOnTarget(t *testing.T, tgt *testdb.Server) {
	tgt.Exec(t, "UPDATE shop.items SET qty = qty + 1, note = NULL WHERE id = 7",
		"DELETE FROM shop.items WHERE id = 8",
		"INSERT INTO shop.items VALUES (1000, 'stray', 1, NULL)")
}

func TestCheckCommandExitStatus(t *testing.T) {
	src, tgt := checkPair(t, 200)
	base := []string{"--source", src.URL(), "--target", tgt.URL(), "--tables", "shop.*", "--chunk-size", "50"}

	out, errOut, status := runCheck(t, base...)
	if status != 0 {
		t.Fatalf("equal copies: exit status %d\n%s%s", status, out, errOut)
	}
	if !strings.Contains(out, "shop.items") || !strings.Contains(out, "rows 200  missing 0  extra 0  different 0") {
		t.Fatalf("equal copies: report is\n%s", out)
	}

	injectOnTarget(t, tgt)
	out, errOut, status = runCheck(t, base...)
	if status != 1 {
		t.Fatalf("with differences: exit status %d, want 1\n%s%s", status, out, errOut)
	}
	for _, want := range []string{"missing 1  extra 1  different 1", "different id=7  columns qty,note", "missing   id=8", "extra     id=1000"} {
		if !strings.Contains(out, want) {
			t.Fatalf("report lacks %q:\n%s", want, out)
		}
	}

	// A table missing on the target: the check cannot compare it.
	src.Exec(t, "CREATE TABLE shop.orders (id INT PRIMARY KEY)")
	out, errOut, status = runCheck(t, base...)
	if status != 2 || !strings.Contains(out, "target table shop.orders does not exist") {
		t.Fatalf("missing target table: exit status %d, want 2\n%s%s", status, out, errOut)
	}
	src.Exec(t, "DROP TABLE shop.orders")

	for name, args := range map[string][]string{
		"unreachable target":   {"--source", src.URL(), "--target", "mysql://root@127.0.0.1:1", "--tables", "shop.*"},
		"bad format":           append(append([]string{}, base...), "--format", "xml"),
		"bad repair":           append(append([]string{}, base...), "--repair", "fix"),
		"mark without channel": append(append([]string{}, base...), "--repair", "apply", "--mark-table", "sluice.mark"),
		"bad mark columns":     append(append([]string{}, base...), "--channel", "ab", "--mark-columns", "when=now"),
		"missing mark table":   append(append([]string{}, base...), "--repair", "apply", "--channel", "ab"),
		"bad table pattern":    {"--source", src.URL(), "--target", tgt.URL(), "--tables", "shop"},
	} {
		out, errOut, status := runCheck(t, args...)
		if status != 2 || !strings.Contains(errOut, "sluice: ") {
			t.Errorf("%s: exit status %d, want 2 with an error\nstdout: %s\nstderr: %s", name, status, out, errOut)
		}
	}
	// None of those repaired anything.
	if got := tgt.QueryString(t, "SELECT COUNT(*) FROM shop.items WHERE id IN (8, 1000)"); got != "1" {
		t.Fatalf("the target changed: %s of ids 8 and 1000 present", got)
	}
}

func TestCheckCommandJSON(t *testing.T) {
	src, tgt := checkPair(t, 200)
	injectOnTarget(t, tgt)
	out, errOut, status := runCheck(t, "--source", src.URL(), "--target", tgt.URL(), "--tables", "shop.*", "--format", "json")
	if status != 1 {
		t.Fatalf("exit status %d, want 1\n%s%s", status, out, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--format json is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"missing", "extra", "different"} {
		if doc[k] != float64(1) {
			t.Errorf("top-level %q is %v, want 1", k, doc[k])
		}
	}
	tables, _ := doc["tables"].([]any)
	if len(tables) != 1 {
		t.Fatalf("tables: %v", doc["tables"])
	}
	tb := tables[0].(map[string]any)
	if tb["source"] != "shop.items" || tb["rows"] != float64(200) {
		t.Fatalf("table entry: %v", tb)
	}
	for _, k := range []string{"missing", "extra", "different"} {
		if tb[k] != float64(1) {
			t.Errorf("table %q is %v, want 1", k, tb[k])
		}
	}
	byType := map[string]map[string]any{}
	for _, d := range tb["differences"].([]any) {
		dm := d.(map[string]any)
		byType[dm["type"].(string)] = dm
	}
	diff := byType["different"]
	if diff == nil || diff["key"].(map[string]any)["id"] != "7" {
		t.Fatalf("different row: %v", diff)
	}
	if src := diff["source"].(map[string]any); src["note"] != "caf\u00e9 #7" || src["qty"] != "0" {
		t.Fatalf("source image of id 7: %v", src)
	}
	if tg := diff["target"].(map[string]any); tg["note"] != nil || tg["qty"] != "1" {
		t.Fatalf("target image of id 7 (note must be null): %v", tg)
	}
	if m := byType["missing"]; m == nil || m["key"].(map[string]any)["id"] != "8" || m["target"] != nil {
		t.Fatalf("missing row: %v", m)
	}
	if e := byType["extra"]; e == nil || e["key"].(map[string]any)["id"] != "1000" || e["source"] != nil {
		t.Fatalf("extra row: %v", e)
	}
}

// TestCheckCommandRepairPrint: the SQL goes to stdout and the report to
// stderr; run on the target, the SQL makes the copies equal.
func TestCheckCommandRepairPrint(t *testing.T) {
	src, tgt := checkPair(t, 200)
	injectOnTarget(t, tgt)
	out, errOut, status := runCheck(t, "--source", src.URL(), "--target", tgt.URL(), "--tables", "shop.*", "--repair", "print")
	if status != 1 {
		t.Fatalf("exit status %d, want 1\n%s%s", status, out, errOut)
	}
	if !strings.Contains(errOut, "missing 1  extra 1  different 1") || strings.Contains(out, "missing 1") {
		t.Fatalf("the report belongs on stderr:\nstdout: %s\nstderr: %s", out, errOut)
	}
	for _, want := range []string{"SET NAMES utf8mb4;", "REPLACE INTO `shop`.`items` (`id`, `name`, `qty`, `note`) VALUES ('7', ",
		"REPLACE INTO `shop`.`items` (`id`, `name`, `qty`, `note`) VALUES ('8', ", "DELETE FROM `shop`.`items` WHERE `id` = '1000';"} {
		if !strings.Contains(out, want) {
			t.Fatalf("repair SQL lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "caf\u00e9") {
		t.Fatalf("text must be written as hex, safe in any client charset:\n%s", out)
	}
	db, err := sql.Open("mysql", tgt.DSN("")+"&multiStatements=true")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(out); err != nil {
		t.Fatalf("run the repair SQL on the target: %v\n%s", err, out)
	}
	if out, errOut, status := runCheck(t, "--source", src.URL(), "--target", tgt.URL(), "--tables", "shop.*"); status != 0 {
		t.Fatalf("after running the repair SQL: exit status %d\n%s%s", status, out, errOut)
	}
}

// TestCheckCommandRepairApplyWritesMark: in a two-way channel every repair
// transaction also writes the channel's mark row, so the other side's
// capture drops it. The target's binlog must show each repaired row and
// the mark row in one transaction.
func TestCheckCommandRepairApplyWritesMark(t *testing.T) {
	src, tgt := checkPair(t, 200)
	// The two-way sync's mark table (apply/twoway.go), with a pipeline's row
	// already in it.
	tgt.Exec(t, "CREATE DATABASE sluice",
		"CREATE TABLE sluice.mark (channel VARCHAR(191) NOT NULL, pipeline VARCHAR(191) NOT NULL, worker INT NOT NULL, "+
			"origin VARCHAR(191) NOT NULL DEFAULT '', n BIGINT UNSIGNED NOT NULL DEFAULT 0, PRIMARY KEY (pipeline, worker))",
		"INSERT INTO sluice.mark VALUES ('dc1-dc2', 'dc1-to-dc2', 0, 'dc1', 7)")
	injectOnTarget(t, tgt)
	st, err := tgt.SourceStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, status := runCheck(t, "--source", src.URL(), "--target", tgt.URL(), "--tables", "shop.*",
		"--repair", "apply", "--channel", "dc1-dc2", "--mark-origin", "dc1")
	if status != 1 || !strings.Contains(out, "repaired 3  repair skipped 0") {
		t.Fatalf("repair: exit status %d\n%s%s", status, out, errOut)
	}
	// The check's own row counts its three repairs; the pipeline's is
	// untouched.
	if got := tgt.QueryString(t, "SELECT GROUP_CONCAT(CONCAT_WS('/', channel, pipeline, worker, origin, n) ORDER BY pipeline) FROM sluice.mark"); got !=
		"dc1-dc2/dc1-to-dc2/0/dc1/7,dc1-dc2/sluice-check/0/dc1/3" {
		t.Fatalf("mark rows %q", got)
	}
	tail, err := runSluice(t, "tail", "--source", tgt.URL(), "--from", fmt.Sprintf("%s:%d", st.File, st.Pos),
		"--stop-at-end", "--format", "txn")
	if err != nil {
		t.Fatalf("tail the target's binlog: %v\n%s", err, tail)
	}
	repairs := 0
	for _, line := range strings.Split(strings.TrimSpace(tail), "\n") {
		var txn struct {
			Changes []struct {
				Schema, Table, Op string
				After             map[string]any
			}
		}
		if err := json.Unmarshal([]byte(line), &txn); err != nil {
			t.Fatalf("tail line %q: %v", line, err)
		}
		items, marks := 0, 0
		for _, c := range txn.Changes {
			switch c.Schema + "." + c.Table {
			case "shop.items":
				items++
			case "sluice.mark":
				if c.After["channel"] != "dc1-dc2" {
					t.Fatalf("mark change names channel %v", c.After["channel"])
				}
				marks++
			}
		}
		if items == 0 && marks == 0 {
			continue
		}
		if items != 1 || marks != 1 {
			t.Fatalf("a transaction with %d item changes and %d mark changes, want 1 and 1: %s", items, marks, line)
		}
		if first := txn.Changes[0]; first.Schema+"."+first.Table != "sluice.mark" {
			t.Fatalf("the mark must come first in the repair transaction: %s", line)
		}
		repairs++
	}
	if repairs != 3 {
		t.Fatalf("%d repair transactions in the target's binlog, want 3:\n%s", repairs, tail)
	}
	if out, errOut, status := runCheck(t, "--source", src.URL(), "--target", tgt.URL(), "--tables", "shop.*"); status != 0 {
		t.Fatalf("after the repair: exit status %d\n%s%s", status, out, errOut)
	}
}
