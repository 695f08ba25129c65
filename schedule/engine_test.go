package schedule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

var dialects = []store.Dialect{store.SQLite, store.MySQL}

// TestHTTPJob fires an http job against a test server on both meta stores.
func TestHTTPJob(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			var mu sync.Mutex
			var got []http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Clone())
				mu.Unlock()
				if r.Method != http.MethodPost {
					w.WriteHeader(http.StatusMethodNotAllowed)
					return
				}
				w.WriteHeader(http.StatusAccepted)
				w.Write([]byte("queued"))
			}))
			defer srv.Close()
			st := openStore(t, metaDSN(t, d))
			id := addJob(t, st, job("ping", "@every 1s", "http", HTTPConfig{
				Method: "post", URL: srv.URL + "/hook", Headers: map[string]string{"X-Token": "t1"}, ExpectStatus: []int{202},
			}))
			n := startNode(t, st, Options{})
			eventually(t, "3 succeeded runs", func() bool { return countStatus(runs(t, st, id), store.RunSucceeded) >= 3 })
			n.stop(t)

			rs := runs(t, st, id)
			for _, r := range rs {
				if r.Status != store.RunSucceeded {
					continue
				}
				if !strings.Contains(r.Output, "202 Accepted") || !strings.Contains(r.Output, "queued") {
					t.Errorf("run %d output %q", r.ID, r.Output)
				}
				if r.StartedAt.Before(r.ScheduledTime) || r.FinishedAt.Before(r.StartedAt) || r.NodeID != n.s.NodeID() || r.Attempt != 1 {
					t.Errorf("run %d: scheduled %v started %v finished %v node %s attempt %d", r.ID, r.ScheduledTime, r.StartedAt, r.FinishedAt, r.NodeID, r.Attempt)
				}
				if r.ScheduledTime.Nanosecond() != 0 {
					t.Errorf("run %d scheduled at %v: @every 1s fires on whole seconds", r.ID, r.ScheduledTime)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range got {
				if h.Get("X-Token") != "t1" || h.Get("X-Sluice-Job") != "ping" || h.Get("X-Sluice-Attempt") != "1" || h.Get("X-Sluice-Scheduled-Time") == "" {
					t.Errorf("request headers %v", h)
				}
			}
		})
	}
}

// TestDirectInsertIsFired inserts a job row with plain SQL, naming only the
// columns without defaults, and expects the scheduler to fire it: the
// table is the interface.
func TestDirectInsertIsFired(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			hits := make(chan struct{}, 100)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits <- struct{}{} }))
			defer srv.Close()
			st := openStore(t, metaDSN(t, d))
			n := startNode(t, st, Options{})
			eventually(t, "the node to load its (empty) jobs", func() bool { return n.s.claims.count() == 0 && n.s.leaseValid() })
			ctx := context.Background()
			_, err := st.DB().ExecContext(ctx, `INSERT INTO jobs (name, schedule, kind, config) VALUES ('direct', '* * * * * *', 'http', ?)`,
				`{"url": "`+srv.URL+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			j, err := st.JobByName(ctx, "direct")
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "a run of the inserted job", func() bool { return countStatus(runs(t, st, j.ID), store.RunSucceeded) >= 1 })
			rs := runs(t, st, j.ID)
			first := rs[len(rs)-1]
			// Picked up within a second: the poll runs every 250ms, and the
			// job fires every second, so its first fire is no later than two
			// seconds after the row was written (by the database's clock).
			if lag := first.ScheduledTime.Sub(j.CreatedAt); lag > 2*time.Second {
				t.Errorf("first fire at %v, %v after the row was inserted at %v", first.ScheduledTime, lag, j.CreatedAt)
			}
			// An edit with plain SQL is picked up too: pause it.
			if _, err := st.DB().ExecContext(ctx, "UPDATE jobs SET paused = 1 WHERE id = ?", j.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the pause to be seen", func() bool {
				c, ok := n.s.claims.job(j.ID)
				return ok && c.Job.Paused
			})
			paused := n.s.Now()
			time.Sleep(1500 * time.Millisecond)
			for _, r := range runs(t, st, j.ID) {
				if r.ScheduledTime.After(paused.Add(n.s.opts.Lead)) && r.Status != store.RunSkipped {
					t.Errorf("run %d at %v after the pause at %v: %s", r.ID, r.ScheduledTime, paused, r.Status)
				}
			}
			// And a row with a bad schedule is logged and left alone.
			if _, err := st.DB().ExecContext(ctx, `INSERT INTO jobs (name, schedule, kind, config) VALUES ('bad', '* * *', 'http', '{}')`); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the bad row to be seen", func() bool {
				n.s.claims.mu.Lock()
				defer n.s.claims.mu.Unlock()
				return len(n.s.claims.bad) == 1
			})
			n.stop(t)
		})
	}
}

// TestTimeoutCancelsTheRun: the run's context ends at the job's timeout,
// both for a kind that honours it and for a shell command, whose process
// group is killed.
func TestTimeoutCancelsTheRun(t *testing.T) {
	st := openStore(t, metaDSN(t, store.SQLite))
	gate := newGateKind()
	j := job("slow", "@every 1s", "gate", nil)
	j.Timeout = 300 * time.Millisecond
	id := addJob(t, st, j)
	sh := job("sleepy", "@every 1s", "shell", ShellConfig{Command: "sleep 60; echo never"})
	sh.Timeout = 300 * time.Millisecond
	shID := addJob(t, st, sh)
	kinds := DefaultKinds(st, true, nil)
	kinds["gate"] = gate
	n := startNode(t, st, Options{Kinds: kinds})
	eventually(t, "a timed-out gate run", func() bool { return countStatus(runs(t, st, id), store.RunTimedOut) >= 1 })
	eventually(t, "a timed-out shell run", func() bool { return countStatus(runs(t, st, shID), store.RunTimedOut) >= 1 })
	n.stop(t)
	for _, r := range runs(t, st, shID) {
		if r.Status == store.RunTimedOut {
			if strings.Contains(r.Output, "never") || !strings.Contains(r.Error, "timed out after 300ms") {
				t.Errorf("shell run %d: output %q error %q", r.ID, r.Output, r.Error)
			}
			if took := r.FinishedAt.Sub(r.StartedAt); took > 30*time.Second {
				t.Errorf("shell run %d took %v: the command was not killed", r.ID, took)
			}
		}
	}
}

// TestRetries: an endpoint that fails twice, then succeeds; the run row
// ends succeeded at attempt 3 with the earlier failures in its output.
func TestRetries(t *testing.T) {
	var mu sync.Mutex
	attempts := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		key := r.URL.Path + " " + r.Header.Get("X-Sluice-Scheduled-Time")
		attempts[key]++
		if attempts[key] < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	st := openStore(t, metaDSN(t, store.MySQL))
	j := job("flaky", "*/2 * * * * *", "http", HTTPConfig{URL: srv.URL})
	j.MaxRetries, j.RetryBackoff = 2, 100*time.Millisecond
	id := addJob(t, st, j)
	failing := job("down", "*/2 * * * * *", "http", HTTPConfig{URL: srv.URL + "/x", ExpectStatus: []int{418}})
	failing.MaxRetries, failing.RetryBackoff = 1, 50*time.Millisecond
	downID := addJob(t, st, failing)
	n := startNode(t, st, Options{})
	eventually(t, "a run that succeeded on its third attempt", func() bool {
		for _, r := range runs(t, st, id) {
			if r.Status == store.RunSucceeded {
				return true
			}
		}
		return false
	})
	eventually(t, "a run that failed for good", func() bool { return countStatus(runs(t, st, downID), store.RunFailed) >= 1 })
	n.stop(t)
	for _, r := range runs(t, st, id) {
		if r.Status == store.RunSucceeded {
			if r.Attempt != 3 || strings.Count(r.Output, "status 503") != 2 {
				t.Errorf("run %d: attempt %d output %q", r.ID, r.Attempt, r.Output)
			}
		}
	}
	for _, r := range runs(t, st, downID) {
		if r.Status == store.RunFailed && (r.Attempt != 2 || !strings.Contains(r.Error, "want one of [418]")) {
			t.Errorf("failed run %d: attempt %d error %q", r.ID, r.Attempt, r.Error)
		}
	}
}

// TestOverlapPolicies holds each job's first run open with a gate kind and
// watches what the following fires do under each policy.
func TestOverlapPolicies(t *testing.T) {
	st := openStore(t, metaDSN(t, store.MySQL))
	gate := newGateKind()
	ids := map[OverlapPolicy]int64{}
	for _, p := range []OverlapPolicy{OverlapAllow, OverlapForbid, OverlapReplace, OverlapQueue} {
		j := job("overlap-"+string(p), "@every 1s", "gate", nil)
		j.OverlapPolicy = string(p)
		ids[p] = addJob(t, st, j)
	}
	kinds := DefaultKinds(st, false, nil)
	kinds["gate"] = gate
	n := startNode(t, st, Options{Kinds: kinds})
	statuses := func(p OverlapPolicy) map[string]int {
		m := map[string]int{}
		for _, r := range runs(t, st, ids[p]) {
			m[r.Status]++
		}
		return m
	}
	eventually(t, "allow: several runs at once", func() bool { return statuses(OverlapAllow)[store.RunRunning] >= 3 })
	eventually(t, "forbid: later fires skipped", func() bool {
		m := statuses(OverlapForbid)
		return m[store.RunRunning] == 1 && m[store.RunSkipped] >= 2
	})
	eventually(t, "replace: earlier runs cancelled, one running", func() bool {
		m := statuses(OverlapReplace)
		return m[store.RunCancelled] >= 2 && m[store.RunRunning] == 1
	})
	eventually(t, "queue: one queued, later fires skipped", func() bool {
		m := statuses(OverlapQueue)
		return m[store.RunRunning] == 1 && m[store.RunQueued] == 1 && m[store.RunSkipped] >= 1
	})
	for _, r := range runs(t, st, ids[OverlapReplace]) {
		if r.Status == store.RunCancelled && !strings.Contains(r.Error, "replaced by run") {
			t.Errorf("replaced run %d error %q", r.ID, r.Error)
		}
	}
	// Finish the queue job's running run: the queued one starts.
	var running, queued int64
	for _, r := range runs(t, st, ids[OverlapQueue]) {
		switch r.Status {
		case store.RunRunning:
			running = r.ID
		case store.RunQueued:
			queued = r.ID
		}
	}
	gate.finish(running, nil)
	eventually(t, "the queued run to start", func() bool {
		r, err := st.Run(context.Background(), queued)
		return err == nil && r.Status == store.RunRunning
	})
	if r, _ := st.Run(context.Background(), running); r.Status != store.RunSucceeded {
		t.Errorf("the finished run is %s", r.Status)
	}
	n.stop(t)
}

// TestMisfireAfterDowntime: every node was down for a minute; on start each
// misfire policy treats the missed fires of an every-10s job its own way.
func TestMisfireAfterDowntime(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			st := openStore(t, metaDSN(t, d))
			ctx := context.Background()
			gate := newGateKind()
			now, err := st.Now(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The last fire, a minute and a bit ago, on a 10s boundary.
			last := now.Add(-65 * time.Second).Truncate(10 * time.Second)
			ids := map[string]int64{}
			for _, c := range []struct {
				name, policy string
				n            int
			}{{"skip", "skip", 0}, {"once", "fire_once", 0}, {"catchup", "catch_up", 2}} {
				j := job("misfire-"+c.name, "*/10 * * * * *", "gate", nil)
				j.MisfirePolicy, j.MisfireCatchUp, j.MisfireThreshold = c.policy, c.n, time.Second
				ids[c.name] = addJob(t, st, j)
				if _, err := st.ClaimFires(ctx, "old-node", int64(len(ids)), []store.Fire{{JobID: ids[c.name], ScheduledTime: last, Status: store.RunMissed}}); err != nil {
					t.Fatal(err)
				}
			}
			kinds := Kinds{"gate": gate}
			n := startNode(t, st, Options{Kinds: kinds})
			// Wait for an ordinary fire of each job: the late ones were
			// decided before it.
			ordinary := func(r store.Run) bool {
				return r.ScheduledTime.After(last) && r.Status != store.RunMissed && !r.Misfire
			}
			eventually(t, "an ordinary fire of each job", func() bool {
				for _, id := range ids {
					found := false
					for _, r := range runs(t, st, id) {
						found = found || ordinary(r)
					}
					if !found {
						return false
					}
				}
				return true
			})
			n.stop(t)
			for name, id := range ids {
				rs := runs(t, st, id) // newest first
				var misfires, missed int
				var late []time.Time
				for _, r := range rs {
					if !r.ScheduledTime.After(last) || ordinary(r) {
						continue
					}
					late = append(late, r.ScheduledTime)
					if r.Status == store.RunMissed {
						missed++
					} else {
						misfires++
					}
				}
				// 65s down at one fire per 10s: at least 5 late fires, every
				// one of them accounted for, from the first after the last.
				if len(late) < 5 {
					t.Errorf("%s: %d late fires, want at least 5", name, len(late))
					continue
				}
				for i, f := range late {
					if want := last.Add(time.Duration(len(late)-i) * 10 * time.Second); !f.Equal(want) {
						t.Errorf("%s: late fire %d at %v, want %v", name, i, f, want)
					}
				}
				wantRun := map[string]int{"skip": 0, "once": 1, "catchup": 2}[name]
				if misfires != wantRun || missed != len(late)-wantRun {
					t.Errorf("%s: %d late fires ran and %d were missed, want %d and %d", name, misfires, missed, wantRun, len(late)-wantRun)
				}
			}
		})
	}
}

// TestAlertOnFailureAndMiss: alerts reach the job's webhook.
func TestAlertOnFailureAndMiss(t *testing.T) {
	var mu sync.Mutex
	events := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Event, Job string }
		if err := jsonDecode(r, &a); err != nil {
			t.Errorf("alert body: %v", err)
		}
		mu.Lock()
		events[a.Event+" "+a.Job]++
		mu.Unlock()
	}))
	defer hook.Close()
	st := openStore(t, metaDSN(t, store.SQLite))
	ctx := context.Background()
	gate := newGateKind()
	failing := job("fails", "@every 1s", "http", HTTPConfig{URL: "http://127.0.0.1:1/"})
	failing.AlertURL = hook.URL
	addJob(t, st, failing)
	missing := job("missing", "*/10 * * * * *", "gate", nil)
	missing.MisfirePolicy, missing.MisfireThreshold = "skip", time.Second
	mid := addJob(t, st, missing)
	now, _ := st.Now(ctx)
	if _, err := st.ClaimFires(ctx, "old", 1, []store.Fire{{JobID: mid, ScheduledTime: now.Add(-time.Minute).Truncate(10 * time.Second), Status: store.RunMissed}}); err != nil {
		t.Fatal(err)
	}
	kinds := DefaultKinds(st, false, nil)
	kinds["gate"] = gate
	n := startNode(t, st, Options{Kinds: kinds, AlertURL: hook.URL})
	eventually(t, "both alerts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return events["job.failed fails"] >= 1 && events["job.missed missing"] == 1
	})
	n.stop(t)
}
