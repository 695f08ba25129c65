package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/store"
)

// webhook records the alerts POSTed to it.
type webhook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	// failFirst answers 500 to this many requests before accepting.
	failFirst int
	calls     int
}

func newWebhook(t *testing.T, failFirst int) *webhook {
	w := &webhook{failFirst: failFirst}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.calls++
		if w.calls <= w.failFirst {
			rw.WriteHeader(500)
			return
		}
		var m map[string]any
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
			t.Errorf("webhook got %q with %s", b, r.Header.Get("Content-Type"))
		}
		w.bodies = append(w.bodies, m)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhook) callCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// find returns the first alert with the event, or nil.
func (w *webhook) find(event string) map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bodies {
		if b["event"] == event {
			return b
		}
	}
	return nil
}

// TestCheckThroughAPI runs a check through the API between two copies
// that differ: the stored report has per-table counts and the differing
// rows, the repair SQL downloads, a check.differences alert goes to the
// webhook, and applying the repair makes the copies equal.
func TestCheckThroughAPI(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{NoBinlog: true})
	srv.Exec(t, "CREATE DATABASE shop", "CREATE DATABASE shop_copy",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
		"CREATE TABLE shop_copy.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
		"INSERT INTO shop.orders VALUES (1, 10.00), (2, 20.00), (3, 30.00)",
		"INSERT INTO shop_copy.orders VALUES (1, 10.00), (2, 25.00), (4, 40.00)")
	hook := newWebhook(t, 0)
	ts := startServer(t, Config{AlertWebhook: hook.URL})
	admin := ts.admin()
	viewer, _ := ts.userWithRole(admin, "view", RoleViewer)
	addDataSource(admin, "dc1", srv)
	addDataSource(admin, "dc2", srv)

	req := map[string]any{"source": "dc1", "target": "dc2", "tables": []string{"shop.orders"}, "map": []string{"shop.*:shop_copy.*"}, "target_position": "none"}
	viewer.mustFail("POST", "/api/v1/checks", req, 403, codePermissionDenied, "")
	var c checkJSON
	admin.mustJSON("POST", "/api/v1/checks", req, 202, &c)
	if c.Status != "running" || c.ID == 0 {
		t.Fatalf("started check %+v", c)
	}
	path := "/api/v1/checks/" + strconv.FormatInt(c.ID, 10)
	waitFor(t, 60*time.Second, "check to finish", func() (bool, string) {
		viewer.mustJSON("GET", path, nil, 200, &c)
		return c.Status != "running", c.Status
	})
	if c.Status != "different" || c.Missing != 1 || c.Extra != 1 || c.Different != 1 || c.Rows != 3 || !c.HasRepairSQL {
		t.Fatalf("check outcome %+v", c)
	}
	var rep struct {
		Tables []struct {
			Source, Target            string
			Missing, Extra, Different int
			Differences               []struct {
				Type string
				Key  map[string]string
			}
		}
	}
	if err := json.Unmarshal(c.Report, &rep); err != nil || len(rep.Tables) != 1 {
		t.Fatalf("report %s: %v", c.Report, err)
	}
	tb := rep.Tables[0]
	if tb.Target != "shop_copy.orders" || tb.Missing != 1 || tb.Extra != 1 || tb.Different != 1 || len(tb.Differences) != 3 {
		t.Fatalf("table report %+v", tb)
	}
	keys := map[string]string{}
	for _, d := range tb.Differences {
		keys[d.Key["id"]] = d.Type
	}
	if keys["3"] != "missing" || keys["4"] != "extra" || keys["2"] != "different" {
		t.Errorf("differing keys %v", keys)
	}
	var list struct{ Checks []checkJSON }
	viewer.mustJSON("GET", "/api/v1/checks", nil, 200, &list)
	if len(list.Checks) != 1 || list.Checks[0].Report != nil {
		t.Errorf("check list %+v: want one summary without its report", list.Checks)
	}

	code, sqlText, h := viewer.do("GET", path+"/repair.sql", nil)
	if code != 200 || !strings.Contains(h.Get("Content-Disposition"), "attachment") || !strings.Contains(string(sqlText), "shop_copy") {
		t.Fatalf("repair.sql: %d %s %q", code, h.Get("Content-Disposition"), sqlText)
	}
	waitFor(t, 10*time.Second, "check.differences alert", func() (bool, string) {
		return hook.find("check.differences") != nil, ""
	})
	if a := hook.find("check.differences"); a["missing"] != 1.0 || a["source"] != "dc1" {
		t.Errorf("alert %v", a)
	}
	if v := metricValue(t, ts.URL, `sluice_check_differences_total{type="missing"}`); v != 1 {
		t.Errorf("sluice_check_differences_total missing = %v", v)
	}

	viewer.mustFail("POST", path+"/repair", nil, 403, codePermissionDenied, "")
	var fix checkJSON
	admin.mustJSON("POST", path+"/repair", nil, 202, &fix)
	if fix.RepairOf == nil || *fix.RepairOf != c.ID || fix.Request.Repair != "apply" {
		t.Fatalf("repair check %+v", fix)
	}
	fixPath := "/api/v1/checks/" + strconv.FormatInt(fix.ID, 10)
	waitFor(t, 60*time.Second, "repair to finish", func() (bool, string) {
		admin.mustJSON("GET", fixPath, nil, 200, &fix)
		return fix.Status != "running", fix.Status
	})
	if fix.Status != "equal" || fix.Repaired != 3 {
		t.Fatalf("repair outcome %+v", fix)
	}
	if got := srv.QueryString(t, "SELECT GROUP_CONCAT(CONCAT(id, ':', total) ORDER BY id) FROM shop_copy.orders"); got != "1:10.00,2:20.00,3:30.00" {
		t.Errorf("target after repair: %s", got)
	}
	admin.mustFail("POST", fixPath+"/repair", nil, 409, codeFailedPrecondition, "")
	admin.mustFail("GET", fixPath+"/repair.sql", nil, 409, codeFailedPrecondition, "")
	admin.mustJSON("DELETE", fixPath, nil, 204, nil)
	admin.mustFail("GET", fixPath, nil, 404, codeNotFound, "")
}

// TestJobThroughAPI creates an http job through the API that fires every
// second against a local endpoint, and reads its runs; runs it now, pauses
// and resumes it, previews schedules, and checks the failure alert and
// the job metrics.
func TestJobThroughAPI(t *testing.T) {
	var hits sync.Map
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path+"#"+strconv.FormatInt(time.Now().UnixNano(), 10), true)
		w.Write([]byte("pong"))
	}))
	defer target.Close()
	hook := newWebhook(t, 0)
	ts := startServer(t, Config{})
	admin := ts.admin()
	_, operator := ts.userWithRole(admin, "op", RoleOperator)
	admin.mustJSON("PUT", "/api/v1/alerts/settings", map[string]any{"webhook_url": hook.URL, "lag_seconds": 5, "lag_for": "10s", "pipeline_paused": true, "check_differences": true}, 200, nil)

	var j jobJSON
	operator.mustFail("POST", "/api/v1/jobs", map[string]any{"name": "ping", "schedule": "@every 1s", "kind": "http", "config": map[string]any{"url": target.URL + "/ping"}}, 403, codePermissionDenied, "")
	admin.mustJSON("POST", "/api/v1/jobs", map[string]any{"name": "ping", "schedule": "@every 1s", "kind": "http", "config": map[string]any{"url": target.URL + "/ping"}}, 201, &j)
	if j.NextFire == nil || j.Kind != "http" || j.TimeZone != "UTC" {
		t.Fatalf("created job %+v", j)
	}
	path := "/api/v1/jobs/" + strconv.FormatInt(j.ID, 10)
	var runs struct{ Runs []runJSON }
	waitFor(t, 30*time.Second, "two succeeded runs", func() (bool, string) {
		admin.mustJSON("GET", path+"/runs", nil, 200, &runs)
		n := 0
		for _, r := range runs.Runs {
			if r.Status == "succeeded" {
				n++
			}
		}
		return n >= 2, strconv.Itoa(len(runs.Runs)) + " runs"
	})
	var run runJSON
	admin.mustJSON("GET", "/api/v1/runs/"+strconv.FormatInt(runs.Runs[len(runs.Runs)-1].ID, 10), nil, 200, &run)
	if run.Status != "succeeded" || !strings.Contains(run.Output, "pong") || run.Job != "ping" || run.StartedAt == nil {
		t.Errorf("run %+v", run)
	}
	operator.mustFail("POST", "/api/v1/runs/"+strconv.FormatInt(run.ID, 10)+"/cancel", nil, 409, codeFailedPrecondition, "")

	operator.mustJSON("POST", path+"/pause", nil, 200, &j)
	if !j.Paused || j.NextFire != nil {
		t.Errorf("paused job %+v", j)
	}
	var next struct{ Fires []time.Time }
	admin.mustJSON("GET", path+"/next?count=3", nil, 200, &next)
	if len(next.Fires) != 0 {
		t.Errorf("paused job fires %v", next.Fires)
	}
	operator.mustJSON("POST", path+"/resume", nil, 200, &j)
	admin.mustJSON("GET", path+"/next?count=3", nil, 200, &next)
	if len(next.Fires) != 3 || !next.Fires[1].After(next.Fires[0]) {
		t.Errorf("next fires %v", next.Fires)
	}
	admin.mustFail("GET", path+"/next?count=0", nil, 400, codeBadRequest, "count")
	admin.mustJSON("POST", "/api/v1/jobs/preview", map[string]any{"schedule": "0 30 2 * * *", "time_zone": "Asia/Shanghai", "count": 2}, 200, &next)
	if len(next.Fires) != 2 || next.Fires[0].UTC().Hour() != 18 || next.Fires[0].Minute() != 30 {
		t.Errorf("preview %v: want 02:30 Shanghai = 18:30 UTC", next.Fires)
	}

	// A job that fails alerts through the webhook of the alert settings.
	var bad jobJSON
	admin.mustJSON("POST", "/api/v1/jobs", map[string]any{"name": "broken", "schedule": "@every 1h", "kind": "http",
		"config": map[string]any{"url": target.URL + "/x", "expect_status": []int{418}}}, 201, &bad)
	var now runJSON
	operator.mustJSON("POST", "/api/v1/jobs/"+strconv.FormatInt(bad.ID, 10)+"/run", nil, 202, &now)
	if now.JobID != bad.ID || now.Job != "broken" {
		t.Errorf("run now %+v", now)
	}
	waitFor(t, 30*time.Second, "job.failed alert", func() (bool, string) { return hook.find("job.failed") != nil, "" })
	if a := hook.find("job.failed"); a["job"] != "broken" {
		t.Errorf("job alert %v", a)
	}
	waitFor(t, 10*time.Second, "job metrics", func() (bool, string) {
		ok := metricValue(t, ts.URL, `sluice_job_runs_total{job="broken",status="failed"}`) == 1 &&
			metricValue(t, ts.URL, `sluice_job_runs_total{job="ping",status="succeeded"}`) >= 2 &&
			metricValue(t, ts.URL, "sluice_job_fire_delay_seconds_count") >= 2
		return ok, ""
	})

	// Edit and delete.
	admin.mustJSON("PUT", path, map[string]any{"name": "ping", "schedule": "0 0 * * * *", "kind": "http", "config": map[string]any{"url": target.URL + "/ping"}}, 200, &j)
	if j.Schedule != "0 0 * * * *" {
		t.Errorf("edited %+v", j)
	}
	admin.mustFail("PUT", path, map[string]any{"name": "broken", "schedule": "@every 1h", "kind": "http", "config": map[string]any{"url": target.URL}}, 409, codeAlreadyExists, "")
	var list struct{ Jobs []jobJSON }
	admin.mustJSON("GET", "/api/v1/jobs", nil, 200, &list)
	if len(list.Jobs) != 2 || list.Jobs[0].LastRun == nil {
		t.Errorf("jobs %+v", list.Jobs)
	}
	admin.mustJSON("DELETE", path, nil, 204, nil)
	admin.mustFail("GET", path, nil, 404, codeNotFound, "")
	n := 0
	hits.Range(func(any, any) bool { n++; return true })
	if n < 2 {
		t.Errorf("endpoint hit %d times", n)
	}
}

// TestAlertDeliveryRetriesAndRules checks the webhook delivery (a failed
// POST is retried) and the pipeline rules: a pause alerts once, lag alerts
// only after staying above the threshold for the set time, then recovers.
func TestAlertDeliveryRetriesAndRules(t *testing.T) {
	hook := newWebhook(t, 2)
	ts := startServer(t, Config{AlertWebhook: hook.URL})
	a := ts.S.alerts
	a.retryWait = 10 * time.Millisecond
	if err := a.deliver(t.Context(), hook.URL, alertEvent{Event: "test", Message: "m"}); err != nil {
		t.Fatalf("deliver after two failures: %v", err)
	}
	if n := hook.callCount(); n != 3 || hook.find("test") == nil {
		t.Fatalf("webhook calls %d", n)
	}
	failing := newWebhook(t, 100)
	if err := a.deliver(t.Context(), failing.URL, alertEvent{Event: "test"}); err == nil || failing.callCount() != 3 {
		t.Fatalf("always failing webhook: %v after %d calls", err, failing.callCount())
	}

	admin := ts.admin()
	admin.mustJSON("PUT", "/api/v1/alerts/settings", map[string]any{"webhook_url": hook.URL, "lag_seconds": 2, "lag_for": "50ms", "pipeline_paused": true, "check_differences": true}, 200, nil)
	admin.mustJSON("POST", "/api/v1/alerts/test", nil, 204, nil)
	admin.mustFail("PUT", "/api/v1/alerts/settings", map[string]any{"webhook_url": "ftp://x"}, 422, codeInvalid, "webhook_url")
	admin.mustFail("PUT", "/api/v1/alerts/settings", map[string]any{"lag_seconds": -1}, 422, codeInvalid, "lag_seconds")
	viewer, _ := ts.userWithRole(admin, "v", RoleViewer)
	var set alertSettings
	viewer.mustJSON("GET", "/api/v1/alerts/settings", nil, 200, &set)
	if set.WebhookURL != "" || set.LagSeconds != 2 {
		t.Errorf("viewer sees %+v: want no webhook URL", set)
	}

	p := storePipeline("p1")
	ctx := t.Context()
	running := pipelineStatusJSON{Name: "p1", State: "running"}
	paused := pipelineStatusJSON{Name: "p1", State: "paused", Error: "table shop.x is missing"}
	a.observe(ctx, p, paused, running)
	a.observe(ctx, p, paused, paused) // still paused: no second alert
	high := pipelineStatusJSON{Name: "p1", State: "running", LagSeconds: 9}
	a.observe(ctx, p, high, running)
	time.Sleep(60 * time.Millisecond)
	a.observe(ctx, p, high, high)
	a.observe(ctx, p, high, high) // alerted once
	a.observe(ctx, p, running, high)
	waitFor(t, 10*time.Second, "pipeline alerts", func() (bool, string) {
		return hook.find("pipeline.paused") != nil && hook.find("pipeline.lag") != nil && hook.find("pipeline.lag_recovered") != nil, ""
	})
	time.Sleep(100 * time.Millisecond)
	count := map[string]int{}
	hook.mu.Lock()
	for _, b := range hook.bodies {
		count[b["event"].(string)]++
	}
	hook.mu.Unlock()
	if count["pipeline.paused"] != 1 || count["pipeline.lag"] != 1 || count["pipeline.lag_recovered"] != 1 {
		t.Errorf("alerts %v: want one of each", count)
	}
	if l := hook.find("pipeline.lag"); l["lag_seconds"] != 9.0 || l["threshold_seconds"] != 2.0 || l["pipeline"] != "p1" {
		t.Errorf("lag alert %v", l)
	}
}

func storePipeline(name string) store.Pipeline {
	return store.Pipeline{Name: name, DesiredState: desiredRun}
}
