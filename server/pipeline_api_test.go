package server

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

func getPipeline(c *client, name string) pipelineJSON {
	c.t.Helper()
	var p pipelineJSON
	c.mustJSON("GET", "/api/v1/pipelines/"+name, nil, 200, &p)
	return p
}

func waitPipelineState(t *testing.T, c *client, name, state string) pipelineJSON {
	t.Helper()
	var p pipelineJSON
	waitFor(t, 60*time.Second, "pipeline "+name+" "+state, func() (bool, string) {
		p = getPipeline(c, name)
		return p.Status.State == state, p.Status.State + " " + p.Status.Error
	})
	return p
}

// waitTarget polls a query (which may fail while the table is not there
// yet) until it returns want.
func waitTarget(t *testing.T, srv *testdb.Server, q, want string) {
	t.Helper()
	db := srv.DB(t, "")
	waitFor(t, 60*time.Second, q+" = "+want, func() (bool, string) {
		var got sql.NullString
		if err := db.QueryRow(q).Scan(&got); err != nil {
			return false, err.Error()
		}
		return got.String == want, got.String
	})
}

// TestPipelineThroughAPIReplicates creates two data sources and a pipeline
// between two real servers through the API, and runs it: rows arrive, the
// status shows position, lag and throughput, the event stream and metrics
// carry it; then stop, reset to a later position, start again (the rows
// before the reset are not applied), a permanent error pauses it, resume
// after the fix, and skip a transaction the target cannot take.
func TestPipelineThroughAPIReplicates(t *testing.T) {
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{NoBinlog: true})
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO shop.items VALUES (1, 'one'), (2, 'two')")
	ts := startServer(t, Config{})
	admin := ts.admin()
	_, operator := ts.userWithRole(admin, "oper", RoleOperator)
	addDataSource(admin, "src", src)
	addDataSource(admin, "tgt", tgt)

	var test connectionTest
	operator.mustJSON("POST", "/api/v1/data-sources/src/test", nil, 200, &test)
	if !test.OK || !strings.Contains(strings.ToLower(test.Version), "mariadb") || !test.LogBin || test.BinlogFormat != "ROW" || len(test.Warnings) != 0 {
		t.Errorf("source test %+v", test)
	}
	operator.mustJSON("POST", "/api/v1/data-sources/tgt/test", nil, 200, &test)
	if test.LogBin || len(test.Warnings) == 0 {
		t.Errorf("target (no binlog) test %+v: want a warning that it cannot be a source", test)
	}
	var tables struct{ Tables []tableNameJSON }
	admin.mustJSON("GET", "/api/v1/data-sources/src/tables", nil, 200, &tables)
	if len(tables.Tables) != 1 || tables.Tables[0].Schema != "shop" || tables.Tables[0].Table != "items" {
		t.Errorf("tables %+v", tables.Tables)
	}
	var preview struct{ Tables []previewTable }
	admin.mustJSON("POST", "/api/v1/pipelines/preview", map[string]any{"source": "src", "tables": []map[string]string{{"source": "shop.*", "target": "shop_copy.*"}}}, 200, &preview)
	if len(preview.Tables) != 1 || preview.Tables[0].Target != "shop_copy.items" {
		t.Errorf("preview %+v", preview.Tables)
	}

	// Data source passwords never come back.
	code, body, _ := admin.do("GET", "/api/v1/data-sources", nil)
	if code != 200 || strings.Contains(string(body), "password\"") && strings.Contains(string(body), "\"password\":") {
		t.Errorf("data sources: %d %s", code, body)
	}

	admin.mustJSON("POST", "/api/v1/pipelines", map[string]any{
		"name": "shop", "source": "src", "target": "tgt",
		"config": map[string]any{"from": "start", "tables": []map[string]string{{"source": "shop.*"}}},
	}, 201, nil)
	p := getPipeline(admin, "shop")
	if p.DesiredState != desiredStop || p.Status.State != "stopped" || p.Config.Snapshot != "auto" || p.Config.StateSchema != "sluice" {
		t.Fatalf("new pipeline %+v", p)
	}

	// Watch the event stream while the pipeline runs.
	events := make(chan streamEvent, 1024)
	sctx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	go readEvents(sctx, t, admin, "/api/v1/events?pipeline=shop", events)

	operator.mustJSON("POST", "/api/v1/pipelines/shop/start", nil, 200, nil)
	waitTarget(t, tgt, "SELECT COUNT(*) FROM shop.items", "2")
	src.Exec(t, "INSERT INTO shop.items VALUES (3, 'three')")
	waitTarget(t, tgt, "SELECT COUNT(*) FROM shop.items", "3")
	p = waitPipelineState(t, admin, "shop", "running")
	// The status is a sample taken every tick: wait for one taken after
	// the third row's commit.
	waitFor(t, 10*time.Second, "a status sample counting 3 rows", func() (bool, string) {
		p = getPipeline(admin, "shop")
		return p.Status.RowsApplied >= 3, fmt.Sprintf("%+v", p.Status)
	})
	if p.Status.Position == nil || p.Status.Position.File == "" || p.Status.Node == "" || p.Status.RowsApplied < 3 || p.Status.LagSeconds < 0 {
		t.Fatalf("running status %+v", p.Status)
	}
	var st pipelineStatusJSON
	admin.mustJSON("GET", "/api/v1/pipelines/shop/status", nil, 200, &st)
	if st.State != "running" || st.Position == nil {
		t.Errorf("status route %+v", st)
	}
	waitFor(t, 10*time.Second, "a pipeline.status event", func() (bool, string) {
		for {
			select {
			case e := <-events:
				if e.Type == "pipeline.status" && e.Pipeline != nil && e.Pipeline.Name == "shop" && e.Pipeline.State == "running" {
					return true, ""
				}
			default:
				return false, "no event yet"
			}
		}
	})
	if v := metricValue(t, ts.URL, `sluice_pipeline_rows_applied_total{pipeline="shop"}`); v < 3 {
		t.Errorf("sluice_pipeline_rows_applied_total = %v", v)
	}
	if v := metricValue(t, ts.URL, `sluice_pipeline_state{pipeline="shop",state="running"}`); v != 1 {
		t.Errorf("sluice_pipeline_state running = %v", v)
	}

	// Reset only when stopped.
	admin.mustFail("POST", "/api/v1/pipelines/shop/reset", map[string]string{"start": "now"}, 409, codeFailedPrecondition, "")
	admin.mustFail("DELETE", "/api/v1/pipelines/shop", nil, 409, codeFailedPrecondition, "")
	operator.mustJSON("POST", "/api/v1/pipelines/shop/stop", nil, 200, nil)
	waitPipelineState(t, admin, "shop", "stopped")
	src.Exec(t, "INSERT INTO shop.items VALUES (4, 'skipped by reset')")
	operator.mustJSON("POST", "/api/v1/pipelines/shop/reset", map[string]string{"start": "now"}, 200, &p)
	if p.Status.Position == nil || p.Status.Position.File == "" {
		t.Errorf("stopped pipeline after reset shows no position: %+v", p.Status)
	}
	src.Exec(t, "INSERT INTO shop.items VALUES (5, 'after reset')")
	operator.mustJSON("POST", "/api/v1/pipelines/shop/start", nil, 200, nil)
	waitTarget(t, tgt, "SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.items", "1,2,3,5")

	// A permanent error pauses it; resume after the fix.
	waitPipelineState(t, admin, "shop", "running")
	tgt.Exec(t, "ALTER TABLE shop.items DROP COLUMN name")
	src.Exec(t, "INSERT INTO shop.items VALUES (6, 'needs name')")
	p = waitPipelineState(t, admin, "shop", "paused")
	if p.Status.Error == "" {
		t.Fatalf("paused without an error: %+v", p.Status)
	}
	tgt.Exec(t, "ALTER TABLE shop.items ADD COLUMN name VARCHAR(20)")
	operator.mustJSON("POST", "/api/v1/pipelines/shop/resume", nil, 200, nil)
	waitTarget(t, tgt, "SELECT name FROM shop.items WHERE id = 6", "needs name")
	waitPipelineState(t, admin, "shop", "running")

	// Skip: a transaction the target refuses is skipped by its GTID.
	tgt.Exec(t, "INSERT INTO shop.items VALUES (7, 'in the way')")
	tgt.Exec(t, "CREATE TABLE shop.blocker (id INT PRIMARY KEY)")
	src.Exec(t, "CREATE TABLE shop.blocker (id INT PRIMARY KEY)") // DDL the target cannot take: the table exists
	p = waitPipelineState(t, admin, "shop", "paused")
	gtid := src.QueryString(t, "SELECT @@gtid_binlog_pos")
	operator.mustFail("POST", "/api/v1/pipelines/shop/skip", map[string]string{}, 422, codeInvalid, "gtid")
	operator.mustFail("POST", "/api/v1/pipelines/shop/skip", map[string]string{"position": "nope"}, 422, codeInvalid, "position")
	operator.mustJSON("POST", "/api/v1/pipelines/shop/skip", map[string]string{"gtid": gtid}, 200, &p)
	if len(p.Config.Skip) != 1 || p.Config.Skip[0].GTID != gtid {
		t.Fatalf("skip rule not saved: %+v", p.Config.Skip)
	}
	src.Exec(t, "INSERT INTO shop.items VALUES (8, 'after skip')")
	waitTarget(t, tgt, "SELECT COUNT(*) FROM shop.items WHERE id = 8", "1")
	waitPipelineState(t, admin, "shop", "running")

	operator.mustJSON("POST", "/api/v1/pipelines/shop/stop", nil, 200, nil)
	waitPipelineState(t, admin, "shop", "stopped")
	admin.mustFail("DELETE", "/api/v1/data-sources/src", nil, 409, codeFailedPrecondition, "")
	admin.mustJSON("DELETE", "/api/v1/pipelines/shop", nil, 204, nil)
	admin.mustJSON("DELETE", "/api/v1/data-sources/src", nil, 204, nil)
}

// readEvents reads the SSE stream into ch until ctx ends.
func readEvents(ctx context.Context, t *testing.T, c *client, path string, ch chan<- streamEvent) {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var typ string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var e streamEvent
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil || e.Type != typ {
				t.Errorf("event %q: %s (%v)", typ, line, err)
				continue
			}
			select {
			case ch <- e:
			default:
			}
		}
	}
}
