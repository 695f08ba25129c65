package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

// countKind records every attempt it runs, and on which node.
type countKind struct {
	mu   sync.Mutex
	runs map[string][]string // "job|time|attempt" -> nodes
}

func (k *countKind) Validate(json.RawMessage) error { return nil }

func (k *countKind) Run(_ context.Context, run RunInfo, _ json.RawMessage, _ io.Writer) error {
	key := fmt.Sprintf("%d|%s|%d", run.JobID, run.ScheduledTime.UTC().Format(time.RFC3339Nano), run.Attempt)
	k.mu.Lock()
	k.runs[key] = append(k.runs[key], run.NodeID)
	k.mu.Unlock()
	return nil
}

func (k *countKind) duplicates() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for key, nodes := range k.runs {
		if len(nodes) > 1 {
			out = append(out, fmt.Sprintf("%s ran on %v", key, nodes))
		}
	}
	sort.Strings(out)
	return out
}

// sameView waits until every node schedules by the same view of n nodes.
func sameView(t *testing.T, nodes []*node, n int) view {
	t.Helper()
	var v view
	eventually(t, fmt.Sprintf("%d nodes to share a view of %d", len(nodes), n), func() bool {
		for i, nd := range nodes {
			nd.s.claims.mu.Lock()
			cur := nd.s.claims.view
			nd.s.claims.mu.Unlock()
			if len(cur.members) != n || (i > 0 && cur.hash != v.hash) {
				return false
			}
			v = cur
		}
		return true
	})
	return v
}

func stat(nodes []*node, f func(*Stats) int64) int64 {
	var n int64
	for _, nd := range nodes {
		n += f(nd.s.Stats())
	}
	return n
}

// TestOwnerPartitioningUnderNodeLoss: three nodes share a MariaDB meta
// store. While they agree on who is alive, each fire's row is inserted by
// its job's owner alone: no node tries a fire another holds. When one node
// dies, the others fill in its jobs' fires (its published claimed-through
// time stops moving) until its lease runs out and its jobs move to them;
// every fire still runs exactly once.
func TestOwnerPartitioningUnderNodeLoss(t *testing.T) {
	dsn := metaDSN(t, store.MySQL)
	st := openStore(t, dsn)
	ctx := context.Background()
	kind := &countKind{runs: map[string][]string{}}
	const jobs = 60
	ids := map[int64]bool{}
	for i := 0; i < jobs; i++ {
		// The dead node's runs that it may have started are failed
		// attempts: retried, as the policy says.
		j := job(fmt.Sprintf("p-%02d", i), "* * * * * *", "count", nil)
		j.MaxRetries, j.RetryBackoff = 2, 100*time.Millisecond
		ids[addJob(t, st, j)] = true
	}
	// A lease much longer than the lead: a dead node's jobs stay its own
	// for seconds after it claimed its last fire, which the others fill in.
	opts := Options{Kinds: Kinds{"count": kind}, Lead: 2500 * time.Millisecond, Lease: 8 * time.Second}
	nodes := []*node{startNode(t, openStore(t, dsn), opts), startNode(t, openStore(t, dsn), opts), startNode(t, openStore(t, dsn), opts)}
	v := sameView(t, nodes, 3)

	// Steady state: only owners insert.
	time.Sleep(3 * time.Second) // the fires claimed while views differed are past
	lost0, filled0 := stat(nodes, func(s *Stats) int64 { return s.Lost.Load() }), stat(nodes, func(s *Stats) int64 { return s.FilledIn.Load() })
	from, _ := st.Now(ctx)
	from = from.Truncate(time.Second).Add(time.Second)
	time.Sleep(4 * time.Second)
	to := from.Add(3 * time.Second)
	if lost, filled := stat(nodes, func(s *Stats) int64 { return s.Lost.Load() })-lost0, stat(nodes, func(s *Stats) int64 { return s.FilledIn.Load() })-filled0; lost != 0 || filled != 0 {
		t.Errorf("steady state: %d fires lost to another node, %d filled in for an owner: owners alone should insert", lost, filled)
	}
	rs, err := st.RunsBetween(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != jobs*3 {
		t.Errorf("steady state: %d runs, want %d", len(rs), jobs*3)
	}
	for _, r := range rs {
		j, _ := st.Job(ctx, r.JobID)
		if want := v.owner(r.JobID, j.Kind); r.NodeID != want {
			t.Errorf("run of job %d at %v is node %s's, its owner is %s", r.JobID, r.ScheduledTime, r.NodeID, want)
		}
	}

	// Node loss.
	victim := nodes[1]
	survivors := []*node{nodes[0], nodes[2]}
	filled1 := stat(survivors, func(s *Stats) int64 { return s.FilledIn.Load() })
	killedAt, _ := st.Now(ctx)
	victim.kill()
	v2 := sameView(t, survivors, 2)
	time.Sleep(3 * time.Second)
	end, _ := st.Now(ctx)
	end = end.Truncate(time.Second)
	if filled := stat(survivors, func(s *Stats) int64 { return s.FilledIn.Load() }) - filled1; filled == 0 {
		t.Error("no fire was filled in for the dead node while its lease ran")
	}
	eventually(t, "the window's runs to finish", func() bool {
		rs, err := st.RunsBetween(ctx, from, end)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if slices.Contains(store.ActiveRunStatuses, r.Status) {
				return false
			}
		}
		return true
	})
	for _, n := range survivors {
		n.stop(t)
	}
	rs, err = st.RunsBetween(ctx, from, end)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Run{}
	for _, r := range rs {
		got[fmt.Sprintf("%d|%d", r.JobID, r.ScheduledTime.Unix())] = r
	}
	var problems []string
	for id := range ids {
		for at := from; at.Before(end); at = at.Add(time.Second) {
			r, ok := got[fmt.Sprintf("%d|%d", id, at.Unix())]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("job %d at %s: no run", id, at.Format(time.TimeOnly)))
			case r.Status != store.RunSucceeded:
				problems = append(problems, fmt.Sprintf("job %d at %s: %s (%s)", id, at.Format(time.TimeOnly), r.Status, r.Error))
			case at.After(killedAt.Add(20*time.Second)) && r.NodeID == victim.s.NodeID():
				problems = append(problems, fmt.Sprintf("job %d at %s ran on the dead node", id, at.Format(time.TimeOnly)))
			}
		}
	}
	problems = append(problems, kind.duplicates()...)
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Errorf("%d problems, e.g.\n%v", len(problems), problems[:min(20, len(problems))])
	}
	// The dead node's jobs now belong to the survivors.
	for id := range ids {
		if o := v2.owner(id, "count"); o == victim.s.NodeID() || o == "" {
			t.Fatalf("job %d owned by %q after the loss", id, o)
		}
	}
}

// TestSettleFindsOldRuns: a run that has been going longer than a node
// keeps it within its published runs_from is listed in old_runs instead;
// when the node dies, the node that settles it finds the run there, and
// retries it.
func TestSettleFindsOldRuns(t *testing.T) {
	dsn := metaDSN(t, store.MySQL)
	st := openStore(t, dsn)
	ctx := context.Background()
	gate := newGateKind()
	kinds := Kinds{"gate": gate, "count": &countKind{runs: map[string][]string{}}}
	long := job("long", "0 0 0 1 1 *", "gate", nil) // fires once a year: run by hand
	long.MaxRetries = 1
	longID := addJob(t, st, long)
	for i := 0; i < 5; i++ {
		addJob(t, st, job(fmt.Sprintf("tick-%d", i), "* * * * * *", "count", nil))
	}
	a := startNode(t, openStore(t, dsn), Options{Kinds: kinds})
	a.s.held.recent = 200 * time.Millisecond
	eventually(t, "node a to run", func() bool { return a.s.leaseValid() })
	run, err := a.s.RunNow(ctx, longID)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the long run to start", func() bool {
		gate.mu.Lock()
		defer gate.mu.Unlock()
		return len(gate.started) == 1
	})
	// a goes on claiming ticks: its runs_from passes the long run, which it
	// lists instead.
	eventually(t, "node a to list the long run as old", func() bool {
		ns, err := st.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.ID == a.s.NodeID() {
				return n.RunsFrom > run.ID && slices.Contains(n.OldRuns, run.ID)
			}
		}
		return false
	})
	b := startNode(t, openStore(t, dsn), Options{Kinds: kinds})
	sameView(t, []*node{a, b}, 2)
	a.kill()
	eventually(t, "node b to retry the long run", func() bool {
		gate.mu.Lock()
		defer gate.mu.Unlock()
		for _, ri := range gate.started {
			if ri.RunID == run.ID && ri.Attempt == 2 && ri.NodeID == b.s.NodeID() {
				return true
			}
		}
		return false
	})
	r, err := st.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.NodeID != b.s.NodeID() {
		t.Errorf("the long run is node %s's, want b (%s)", r.NodeID, b.s.NodeID())
	}
	gate.finish(run.ID, nil)
	eventually(t, "the retry to succeed", func() bool {
		r, err := st.Run(ctx, run.ID)
		return err == nil && r.Status == store.RunSucceeded && r.Attempt == 2
	})
	b.stop(t)
}
