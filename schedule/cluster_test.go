package schedule

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

// receiver counts the requests of http jobs by (job, scheduled time,
// attempt): one fire's attempt arriving twice is a duplicate fire.
type receiver struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	key := req.Header.Get("X-Sluice-Job") + "|" + req.Header.Get("X-Sluice-Scheduled-Time") + "|" + req.Header.Get("X-Sluice-Attempt")
	r.mu.Lock()
	r.seen[key]++
	r.mu.Unlock()
}

func (r *receiver) count(job string, t time.Time, attempt int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[fmt.Sprintf("%s|%s|%d", job, t.UTC().Format(time.RFC3339Nano), attempt)]
}

// TestThreeNodesKillOne is the acceptance test: three scheduler
// nodes share a MariaDB meta store; 100 jobs fire every second; one node is
// killed (as with kill -9: it writes nothing more) and restarted, again and
// again. Every fire in the window must have exactly one run row that
// succeeded, and the receiver must have seen each fire, and no attempt of a
// fire twice.
func TestThreeNodesKillOne(t *testing.T) {
	dsn := metaDSN(t, store.MySQL)
	recv := &receiver{seen: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	st := openStore(t, dsn)
	ctx := context.Background()
	const jobs = 100
	names := map[int64]string{}
	for i := 0; i < jobs; i++ {
		j := job(fmt.Sprintf("tick-%03d", i), "* * * * * *", "http", HTTPConfig{URL: srv.URL})
		j.MaxRetries, j.RetryBackoff = 3, 200*time.Millisecond
		names[addJob(t, st, j)] = j.Name
	}
	var all []*node
	start := func() *node {
		n := startNode(t, openStore(t, dsn), Options{})
		all = append(all, n)
		return n
	}
	nodes := []*node{start(), start(), start()}
	eventually(t, "three alive nodes", func() bool {
		for _, n := range nodes {
			n.s.claims.mu.Lock()
			m := len(n.s.claims.members)
			n.s.claims.mu.Unlock()
			if m != 3 {
				return false
			}
		}
		return true
	})
	from, err := st.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	from = from.Truncate(time.Second).Add(time.Second)
	kills := 0
	for round := 0; round < 4; round++ {
		time.Sleep(2 * time.Second)
		// Kill 150ms before a second begins: the victim holds claims for
		// that second and the next few (owners claim Lead ahead) and has
		// not started them, so its death leaves runs for another node to
		// settle.
		now := nodes[0].s.Now()
		wait := now.Truncate(time.Second).Add(850 * time.Millisecond).Sub(now)
		if wait < 0 {
			wait += time.Second
		}
		time.Sleep(wait)
		victim := round % len(nodes)
		t.Logf("killing node %s", nodes[victim].s.NodeID())
		nodes[victim].kill()
		kills++
		// Long enough for its lease to run out and its runs to be settled.
		time.Sleep(5 * time.Second)
		nodes[victim] = start()
	}
	to, _ := st.Now(ctx)
	to = to.Truncate(time.Second)
	// Let the last fires of the window finish, retries included. The
	// window ends just after the last restart: the jobs that moved to the
	// new node may have their last fires claimed a moment later (under
	// load, after this point), so wait for a row of every fire too.
	// (Missing fires are reported below, fire by fire, after 30 s.)
	want := jobs * int(to.Sub(from)/time.Second)
	settled := func() bool {
		rs, err := st.RunsBetween(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) < want {
			return false
		}
		for _, r := range rs {
			switch r.Status {
			case store.RunClaimed, store.RunRunning, store.RunRetrying, store.RunQueued:
				return false
			}
		}
		return true
	}
	if early, err := st.RunsBetween(ctx, from, to); err == nil {
		t.Logf("at the window's end: %d of %d fires have a run row", len(early), want)
	}
	waitStart := time.Now()
	done := settled()
	for deadline := waitStart.Add(30 * time.Second); !done && time.Now().Before(deadline); done = settled() {
		time.Sleep(20 * time.Millisecond)
	}
	if done {
		t.Logf("every fire settled %s later", time.Since(waitStart).Round(time.Millisecond))
	} else {
		t.Logf("not every fire settled within 30 s; the fires are listed below")
	}
	for _, n := range nodes {
		n.stop(t)
	}
	var taken int64
	for _, n := range all {
		taken += n.s.Stats().TakenOver.Load()
	}

	rs, err := st.RunsBetween(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	type fire struct {
		job int64
		at  time.Time
	}
	rows := map[fire]store.Run{}
	dupRows := 0
	for _, r := range rs {
		k := fire{r.JobID, r.ScheduledTime}
		if _, ok := rows[k]; ok {
			dupRows++
		}
		rows[k] = r
	}
	var missing, failed, unseen, dupFires int
	var examples []string
	for id, name := range names {
		for at := from; at.Before(to); at = at.Add(time.Second) {
			r, ok := rows[fire{id, at}]
			if !ok {
				missing++
				examples = append(examples, fmt.Sprintf("%s@%s: no run row", name, at.Format(time.TimeOnly)))
				continue
			}
			if r.Status != store.RunSucceeded {
				failed++
				examples = append(examples, fmt.Sprintf("%s@%s: %s after %d attempts: %s", name, at.Format(time.TimeOnly), r.Status, r.Attempt, r.Error))
			}
			seenAny := false
			for a := 1; a <= r.Attempt; a++ {
				c := recv.count(name, at, a)
				seenAny = seenAny || c > 0
				if c > 1 {
					dupFires++
					examples = append(examples, fmt.Sprintf("%s@%s attempt %d received %d times", name, at.Format(time.TimeOnly), a, c))
				}
			}
			if !seenAny && r.Status == store.RunSucceeded {
				unseen++
				examples = append(examples, fmt.Sprintf("%s@%s succeeded but never reached the receiver", name, at.Format(time.TimeOnly)))
			}
		}
	}
	sort.Strings(examples)
	if len(examples) > 20 {
		examples = examples[:20]
	}
	seconds := int(to.Sub(from) / time.Second)
	t.Logf("%d kills, %d fires in %ds, %d runs taken over from dead nodes", kills, jobs*seconds, seconds, taken)
	if dupRows != 0 || dupFires != 0 || missing != 0 || failed != 0 || unseen != 0 {
		t.Errorf("duplicate rows %d, duplicate fires %d, missing %d, not succeeded %d, not received %d; e.g.\n%v",
			dupRows, dupFires, missing, failed, unseen, examples)
	}
	if taken == 0 {
		t.Errorf("no run was taken over from a killed node: the kills did not exercise settling")
	}
}
