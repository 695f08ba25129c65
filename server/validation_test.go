package server

import (
	"strings"
	"testing"
)

// TestBadInputAnswers sends each kind of bad input and checks the status,
// the stable code and the field named: never a 500.
func TestBadInputAnswers(t *testing.T) {
	ts := startServer(t, Config{})
	admin := ts.admin()
	// A data source nobody listens on, and one that exists for references.
	admin.mustJSON("POST", "/api/v1/data-sources", map[string]any{"name": "down", "host": "127.0.0.1", "port": 1, "user": "root"}, 201, nil)
	admin.mustJSON("POST", "/api/v1/pipelines", map[string]any{"name": "p", "source": "down", "target": "down",
		"config": map[string]any{"tables": []map[string]string{{"source": "shop.*"}}}}, 201, nil)
	job := map[string]any{"name": "j", "schedule": "@every 1h", "kind": "http", "config": map[string]any{"url": "http://127.0.0.1:1/"}}
	with := func(base map[string]any, k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	pipe := map[string]any{"name": "q", "source": "down", "target": "down", "config": map[string]any{"tables": []map[string]string{{"source": "shop.*"}}}}
	pipeCfg := func(cfg map[string]any) map[string]any { return with(pipe, "config", cfg) }
	tables := []map[string]string{{"source": "shop.*"}}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, field        string
	}{
		{"malformed JSON", "POST", "/api/v1/jobs", `{"name": `, 400, codeBadRequest, ""},
		{"not an object", "POST", "/api/v1/jobs", `[1,2]`, 400, codeBadRequest, ""},
		{"empty body", "POST", "/api/v1/jobs", "", 400, codeBadRequest, ""},
		{"two objects", "POST", "/api/v1/jobs", `{} {}`, 400, codeBadRequest, ""},
		{"unknown field", "POST", "/api/v1/jobs", with(job, "cron", "x"), 400, codeBadRequest, "cron"},
		{"unknown nested field", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "workers": 4}), 400, codeBadRequest, "workers"},
		{"wrong type", "POST", "/api/v1/jobs", with(job, "max_retries", "three"), 400, codeBadRequest, "max_retries"},
		{"body too large", "POST", "/api/v1/jobs", `{"name":"` + strings.Repeat("x", maxBody) + `"}`, 413, codeTooLarge, ""},
		{"invalid cron", "POST", "/api/v1/jobs", with(job, "schedule", "0 61 * * * *"), 422, codeInvalid, "schedule"},
		{"invalid time zone", "POST", "/api/v1/jobs", with(job, "time_zone", "Mars/Olympus"), 422, codeInvalid, "time_zone"},
		{"unknown job kind", "POST", "/api/v1/jobs", with(job, "kind", "ftp"), 422, codeInvalid, "kind"},
		{"bad job config", "POST", "/api/v1/jobs", with(job, "config", map[string]any{"method": "GET"}), 422, codeInvalid, "config"},
		{"bad misfire policy", "POST", "/api/v1/jobs", with(job, "misfire_policy", "sometimes"), 422, codeInvalid, "misfire_policy"},
		{"bad overlap policy", "POST", "/api/v1/jobs", with(job, "overlap_policy", "maybe"), 422, codeInvalid, "overlap_policy"},
		{"bad duration", "POST", "/api/v1/jobs", with(job, "timeout", "ten"), 422, codeInvalid, "timeout"},
		{"bad alert url", "POST", "/api/v1/jobs", with(job, "alert_url", "mailto:x"), 422, codeInvalid, "alert_url"},
		{"preview bad cron", "POST", "/api/v1/jobs/preview", map[string]any{"schedule": "* * *"}, 422, codeInvalid, "schedule"},
		{"bad id", "GET", "/api/v1/jobs/abc", nil, 400, codeBadRequest, ""},
		{"missing job", "GET", "/api/v1/jobs/424242", nil, 404, codeNotFound, ""},
		{"bad limit", "GET", "/api/v1/checks?limit=0", nil, 400, codeBadRequest, "limit"},

		{"data source bad name", "POST", "/api/v1/data-sources", map[string]any{"name": "a b", "host": "h"}, 422, codeInvalid, "name"},
		{"data source no host", "POST", "/api/v1/data-sources", map[string]any{"name": "a"}, 422, codeInvalid, "host"},
		{"data source bad port", "POST", "/api/v1/data-sources", map[string]any{"name": "a", "host": "h", "port": 70000}, 422, codeInvalid, "port"},
		{"data source bad params", "POST", "/api/v1/data-sources", map[string]any{"name": "a", "host": "h", "params": "tls=sometimes"}, 422, codeInvalid, "params"},
		{"data source bad kind", "POST", "/api/v1/data-sources", map[string]any{"name": "a", "host": "h", "kind": "postgres"}, 422, codeInvalid, "kind"},
		{"data source exists", "POST", "/api/v1/data-sources", map[string]any{"name": "down", "host": "h"}, 409, codeAlreadyExists, ""},
		{"data source rename", "PUT", "/api/v1/data-sources/down", map[string]any{"name": "other", "host": "h"}, 422, codeInvalid, "name"},
		{"unreachable data source", "POST", "/api/v1/data-sources/down/test", nil, 422, codeConnectionFailed, ""},
		{"unreachable unsaved", "POST", "/api/v1/data-sources/test", map[string]any{"name": "x", "host": "127.0.0.1", "port": 1}, 422, codeConnectionFailed, ""},
		{"tables of unreachable", "GET", "/api/v1/data-sources/down/tables", nil, 422, codeConnectionFailed, ""},

		{"pipeline bad name", "POST", "/api/v1/pipelines", with(pipe, "name", "-x"), 422, codeInvalid, "name"},
		{"pipeline unknown source", "POST", "/api/v1/pipelines", with(pipe, "source", "nowhere"), 422, codeInvalid, "source"},
		{"pipeline no tables", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": []any{}}), 422, codeInvalid, "config.tables"},
		{"pipeline bad table pattern", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": []map[string]string{{"source": "shop"}}}), 422, codeInvalid, "config.tables[0]"},
		{"pipeline bad exclude", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "exclude": []string{"[x.y"}}), 422, codeInvalid, "config.exclude"},
		{"pipeline bad snapshot", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "snapshot": "sometimes"}), 422, codeInvalid, "config.snapshot"},
		{"pipeline bad ops", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "ops": []string{"upsert"}}), 422, codeInvalid, "config.ops"},
		{"pipeline bad workers", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "apply": map[string]any{"workers": 100}}), 422, codeInvalid, "config.apply.workers"},
		{"pipeline bad from", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "from": "yesterday-ish"}), 422, codeInvalid, "config.from"},
		{"pipeline bad heartbeat", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "heartbeat": "often"}), 422, codeInvalid, "config.heartbeat"},
		{"pipeline bad skip", "POST", "/api/v1/pipelines", pipeCfg(map[string]any{"tables": tables, "skip": []map[string]string{{}}}), 422, codeInvalid, "config.skip[0]"},
		{"pipeline unknown channel", "POST", "/api/v1/pipelines", with(pipe, "channel", "nope"), 422, codeInvalid, "channel"},
		{"pipeline exists", "POST", "/api/v1/pipelines", with(pipe, "name", "p"), 409, codeAlreadyExists, ""},
		{"start unreachable pipeline", "POST", "/api/v1/pipelines/p/start", nil, 422, codeConnectionFailed, ""},
		{"resume stopped pipeline", "POST", "/api/v1/pipelines/p/resume", nil, 409, codeFailedPrecondition, ""},
		{"reset without position", "POST", "/api/v1/pipelines/p/reset", map[string]any{}, 422, codeInvalid, "position"},
		{"reset bad position", "POST", "/api/v1/pipelines/p/reset", map[string]any{"position": "binlog"}, 422, codeInvalid, "position"},
		{"reset bad gtid", "POST", "/api/v1/pipelines/p/reset", map[string]any{"gtid": "x'; DROP"}, 422, codeInvalid, "gtid"},
		{"reset unreachable target", "POST", "/api/v1/pipelines/p/reset", map[string]any{"position": "mysql-bin.000001:4"}, 422, codeConnectionFailed, ""},
		{"missing pipeline", "GET", "/api/v1/pipelines/nope", nil, 404, codeNotFound, ""},

		{"channel bad topology", "POST", "/api/v1/channels", map[string]any{"name": "c", "topology": "ring"}, 422, codeInvalid, "topology"},
		{"channel unknown site", "POST", "/api/v1/channels", map[string]any{"name": "c", "topology": "star", "sites": []string{"down", "gone"}}, 422, codeInvalid, "sites[1]"},
		{"channel unknown pipeline", "POST", "/api/v1/channels", map[string]any{"name": "c", "topology": "mesh", "pipelines": []string{"gone"}}, 422, codeInvalid, "pipelines[0]"},

		{"check no tables", "POST", "/api/v1/checks", map[string]any{"source": "down", "target": "down"}, 422, codeInvalid, "tables"},
		{"check bad pattern", "POST", "/api/v1/checks", map[string]any{"source": "down", "target": "down", "tables": []string{"orders"}}, 422, codeInvalid, "tables[0]"},
		{"check bad map", "POST", "/api/v1/checks", map[string]any{"source": "down", "target": "down", "tables": []string{"a.b"}, "map": []string{"a.*"}}, 422, codeInvalid, "map[0]"},
		{"check bad position mode", "POST", "/api/v1/checks", map[string]any{"source": "down", "target": "down", "tables": []string{"a.b"}, "target_position": "later"}, 422, codeInvalid, "target_position"},
		{"check bad repair", "POST", "/api/v1/checks", map[string]any{"source": "down", "target": "down", "tables": []string{"a.b"}, "repair": "print"}, 422, codeInvalid, "repair"},
		{"check unknown source", "POST", "/api/v1/checks", map[string]any{"source": "x", "target": "down", "tables": []string{"a.b"}}, 422, codeInvalid, "source"},
		{"check unknown pipeline", "POST", "/api/v1/checks", map[string]any{"pipeline": "nope"}, 422, codeInvalid, "pipeline"},

		{"user bad json type", "PATCH", "/api/v1/users/1", map[string]any{"disabled": "yes"}, 400, codeBadRequest, "disabled"},
		{"unknown route", "GET", "/api/v1/pipelinez", nil, 404, codeNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			admin.t = t
			admin.mustFail(c.method, c.path, c.body, c.status, c.code, c.field)
		})
	}
	// A non-JSON content type is refused (it is also what a cross-site
	// form would send).
	code, body, _ := admin.doContentType("POST", "/api/v1/jobs", "name=x", "application/x-www-form-urlencoded")
	if code != 415 || !strings.Contains(string(body), codeUnsupportedMedia) {
		t.Errorf("form body: %d %s", code, body)
	}
}
