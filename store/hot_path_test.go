package store

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestFormatTimeMatchesLayout: the hand-written formatter writes what
// time.Format with the store's layout writes, for any instant and zone.
func TestFormatTimeMatchesLayout(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 100000; i++ {
		tm := time.Unix(r.Int63n(253402300799), r.Int63n(1e9)).In(time.FixedZone("x", (r.Intn(27)-13)*3600))
		if got, want := FormatTime(tm), tm.UTC().Format(timeLayout); got != want {
			t.Fatalf("FormatTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// claimRuns claims n fires of job for node and returns their rows.
func claimRuns(t *testing.T, s *Store, node string, job int64, base time.Time, n int) []Run {
	t.Helper()
	var fires []Fire
	for i := 0; i < n; i++ {
		fires = append(fires, Fire{JobID: job, ScheduledTime: base.Add(time.Duration(i) * time.Second), Status: RunClaimed})
	}
	rs, err := s.ClaimFires(context.Background(), node, rand.Int63(), fires)
	if err != nil || len(rs) != n {
		t.Fatalf("claim: %v, %d rows, want %d", err, len(rs), n)
	}
	return rs
}

// TestNodeRunsFollowsPublishedRuns: job_runs has no index on a run's
// holder; a node's active runs are found from where it published them (the
// rows from runs_from on, and the listed older ones). A node that published
// nothing has all its rows read.
func TestNodeRunsFollowsPublishedRuns(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		a := claimRuns(t, s, "a", 1, base, 10)
		claimRuns(t, s, "b", 2, base, 5)
		// a's runs 0-5 end; 6-9 stay claimed. Run 2 is still running and
		// old: a lists it.
		var ups []RunUpdate
		for i, r := range a[:6] {
			u := RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Status: RunSucceeded, Attempt: 1, StartedAt: base, FinishedAt: base}
			if i == 2 {
				u.Status, u.FinishedAt = RunRunning, time.Time{}
			}
			ups = append(ups, u)
		}
		if n, err := s.UpdateRuns(ctx, "a", ups); err != nil || n != 6 {
			t.Fatalf("update: %d, %v", n, err)
		}
		ids := func(rs []Run) []int64 {
			var out []int64
			for _, r := range rs {
				out = append(out, r.ID)
			}
			slices.Sort(out)
			return out
		}
		want := []int64{a[2].ID, a[6].ID, a[7].ID, a[8].ID, a[9].ID}
		rs, err := s.NodeRuns(ctx, Node{ID: "a", RunsFrom: a[6].ID, OldRuns: []int64{a[2].ID}})
		if err != nil || !slices.Equal(ids(rs), want) {
			t.Errorf("published: runs %v (%v), want %v", ids(rs), err, want)
		}
		// What is neither from runs_from on nor listed is not looked at:
		// the bound is what makes the read short.
		rs, _ = s.NodeRuns(ctx, Node{ID: "a", RunsFrom: a[7].ID})
		if !slices.Equal(ids(rs), want[2:]) {
			t.Errorf("bounded: runs %v, want %v", ids(rs), want[2:])
		}
		rs, _ = s.NodeRuns(ctx, Node{ID: "a"})
		if !slices.Equal(ids(rs), want) {
			t.Errorf("unpublished: runs %v, want %v", ids(rs), want)
		}
		// ActiveJobRuns reads the same way: running and queued only.
		act, err := s.ActiveJobRuns(ctx, 1, 0, a[6].ID, []int64{a[2].ID})
		if err != nil || len(act) != 1 || act[0].ID != a[2].ID {
			t.Errorf("active runs of job 1: %v (%v), want run %d", ids(act), err, a[2].ID)
		}
		if act, _ := s.ActiveJobRuns(ctx, 1, a[2].ID, 0, nil); len(act) != 0 {
			t.Errorf("active runs of job 1 but run %d: %v", a[2].ID, ids(act))
		}
		// Cancel requests are looked up among the runs the node names.
		if err := s.RequestCancel(ctx, a[2].ID); err != nil {
			t.Fatal(err)
		}
		got, err := s.CancelRequests(ctx, "a", []int64{a[1].ID, a[2].ID, a[7].ID})
		if err != nil || !slices.Equal(got, []int64{a[2].ID}) {
			t.Errorf("cancel requests: %v (%v), want [%d]", got, err, a[2].ID)
		}
	})
}

// TestHeartbeatPublishesProgress: the lease renewal carries what the node
// publishes, and Nodes reads it back.
func TestHeartbeatPublishesProgress(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		if err := s.RegisterNode(ctx, Node{ID: "n1", Kinds: []string{"http", "sql"}}, time.Hour); err != nil {
			t.Fatal(err)
		}
		through := time.Date(2026, 5, 1, 12, 0, 0, 123456000, time.UTC)
		p := NodeProgress{MembersHash: 4242, ClaimedThrough: through, RunsFrom: 77, OldRuns: []int64{3, 9, 12}}
		if ok, err := s.Heartbeat(ctx, "n1", time.Hour, p); !ok || err != nil {
			t.Fatalf("heartbeat: %v %v", ok, err)
		}
		ns, err := s.Nodes(ctx)
		if err != nil || len(ns) != 1 {
			t.Fatalf("nodes: %v %v", ns, err)
		}
		n := ns[0]
		if !slices.Equal(n.Kinds, []string{"http", "sql"}) || n.MembersHash != 4242 || !n.ClaimedThrough.Equal(through) ||
			n.RunsFrom != 77 || !slices.Equal(n.OldRuns, []int64{3, 9, 12}) {
			t.Errorf("node read back: %+v", n)
		}
		if err := s.PublishRuns(ctx, "n1", 80, nil); err != nil {
			t.Fatal(err)
		}
		ns, _ = s.Nodes(ctx)
		if ns[0].RunsFrom != 80 || len(ns[0].OldRuns) != 0 {
			t.Errorf("after PublishRuns: runs from %d, old %v", ns[0].RunsFrom, ns[0].OldRuns)
		}
	})
}

// TestUpdateRunsWritesBothForms: updates that name their fire are written
// in one statement per form (the first attempt with nothing to say, or the
// rest), fenced by the node that holds the row.
func TestUpdateRunsWritesBothForms(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		rs := claimRuns(t, s, "a", 5, base, 4)
		up := func(r Run) RunUpdate {
			return RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Attempt: 1, StartedAt: base.Add(time.Millisecond), FinishedAt: base.Add(time.Second)}
		}
		u0 := up(rs[0])
		u0.Status = RunSucceeded
		u1 := up(rs[1])
		u1.Status, u1.Attempt, u1.Output, u1.Error = RunFailed, 3, "out", "boom"
		u2 := up(rs[2])
		u2.Status, u2.RetryAt, u2.FinishedAt = RunRetrying, base.Add(time.Minute), base.Add(2*time.Second)
		if n, err := s.UpdateRuns(ctx, "b", []RunUpdate{u0, u1, u2}); err != nil || n != 0 {
			t.Errorf("node b wrote %d rows of node a (%v)", n, err)
		}
		if n, err := s.UpdateRuns(ctx, "a", []RunUpdate{u0, u1, u2}); err != nil || n != 3 {
			t.Fatalf("node a wrote %d rows (%v), want 3", n, err)
		}
		for _, want := range []RunUpdate{u0, u1, u2} {
			r, err := s.Run(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != want.Status || r.Attempt != want.Attempt || r.Output != want.Output || r.Error != want.Error ||
				!r.StartedAt.Equal(want.StartedAt) || !r.FinishedAt.Equal(want.FinishedAt) || !r.RetryAt.Equal(want.RetryAt) ||
				r.NodeID != "a" || r.JobID != 5 {
				t.Errorf("run %d: got %+v, want %+v", want.ID, r, want)
			}
		}
		var rows int
		s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM job_runs").Scan(&rows)
		if rows != 4 {
			t.Errorf("job_runs has %d rows, want 4 (the upsert added rows)", rows)
		}
	})
}

// TestTakeOverRunsOncePerRun: nodes settling the same gone node at once
// split its runs; each goes to exactly one.
func TestTakeOverRunsOncePerRun(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		rs := claimRuns(t, s, "dead", 9, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 300)
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		won := make([][]int64, 3)
		var wg sync.WaitGroup
		for n := range won {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := slices.Clone(ids)
				rand.New(rand.NewSource(int64(n))).Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
				for start := 0; start < len(mine); start += 50 {
					w, err := s.TakeOverRuns(ctx, mine[start:start+50], "dead", fmt.Sprintf("n%d", n), int64(n*1000+start))
					if err != nil {
						t.Error(err)
						return
					}
					won[n] = append(won[n], w...)
				}
			}()
		}
		wg.Wait()
		owner := map[int64]int{}
		for n, w := range won {
			for _, id := range w {
				if prev, dup := owner[id]; dup {
					t.Errorf("run %d taken by n%d and n%d", id, prev, n)
				}
				owner[id] = n
			}
		}
		if len(owner) != len(ids) {
			t.Errorf("%d runs taken over, want %d", len(owner), len(ids))
		}
		for id, n := range owner {
			if r, _ := s.Run(ctx, id); r.NodeID != fmt.Sprintf("n%d", n) {
				t.Errorf("run %d is node %s's, taken by n%d", id, r.NodeID, n)
			}
		}
	})
}
