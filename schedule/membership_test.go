package schedule

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

func members(ids ...string) []viewMember {
	var out []viewMember
	for _, id := range ids {
		out = append(out, viewMember{id: id, kinds: []string{"http", "sql"}})
	}
	return out
}

// TestViewOwnership: every job has one owner among the nodes that run its
// kind; the view's hash does not depend on the order nodes were read in;
// when a node goes, only its jobs move, and they spread over the others.
func TestViewOwnership(t *testing.T) {
	abc := newView(members("c", "a", "b"))
	if again := newView(members("b", "c", "a")); again.hash != abc.hash {
		t.Errorf("same members, different hash: %d %d", abc.hash, again.hash)
	}
	ab := newView(members("a", "b"))
	if ab.hash == abc.hash {
		t.Error("different members, same hash")
	}
	// A node that stops running a kind changes the view too.
	changed := members("a", "b", "c")
	changed[1].kinds = []string{"http"}
	if newView(changed).hash == abc.hash {
		t.Error("different kinds, same hash")
	}

	perNode := map[string]int{}
	moved := map[string]int{}
	for job := int64(1); job <= 3000; job++ {
		o := abc.owner(job, "http")
		perNode[o]++
		if o2 := ab.owner(job, "http"); o != "c" && o2 != o {
			t.Fatalf("job %d moved from %s to %s when c left", job, o, o2)
		} else if o == "c" {
			moved[o2]++
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if perNode[id] < 800 || perNode[id] > 1200 {
			t.Errorf("node %s owns %d of 3000 jobs: not spread evenly (%v)", id, perNode[id], perNode)
		}
	}
	if moved["a"] < 300 || moved["b"] < 300 {
		t.Errorf("c's jobs went to a %d times, to b %d times: not spread", moved["a"], moved["b"])
	}
	// Only members that run the kind own its jobs; none: no owner.
	mixed := newView([]viewMember{{id: "a", kinds: []string{"http"}}, {id: "b", kinds: []string{"http", "shell"}}})
	for job := int64(1); job <= 100; job++ {
		if o := mixed.owner(job, "shell"); o != "b" {
			t.Fatalf("shell job %d owned by %q, want b (the only node running shell)", job, o)
		}
	}
	if o := mixed.owner(1, "check"); o != "" {
		t.Errorf("a kind no node runs is owned by %q", o)
	}
}

// TestOwnerState: a helper leaves a fire to its owner when the owner
// schedules by the same view and has claimed the fire, waits when the owner
// has not yet but renews its lease on time (alive, and claiming if late),
// and fills in for an owner that stopped renewing, or whose view differs.
func TestOwnerState(t *testing.T) {
	v := newView(members("a", "b", "c"))
	at := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	now := at.Add(-400 * time.Millisecond)
	stale := 1500 * time.Millisecond
	prog := map[string]progress{
		"a": {membersHash: v.hash, claimedThrough: at, heartbeatAt: now.Add(-3 * time.Second)},
		"b": {membersHash: v.hash + 1, claimedThrough: at.Add(time.Hour), heartbeatAt: now},
		"c": {membersHash: v.hash, claimedThrough: at.Add(-time.Second), heartbeatAt: now.Add(-time.Second)},
	}
	for _, c := range []struct {
		owner string
		t     time.Time
		now   time.Time
		want  int
	}{
		{"a", at, now, ownerClaimed},
		{"a", at.Add(-time.Second), now, ownerClaimed},
		{"a", at.Add(time.Nanosecond), now, ownerGone},        // not claimed, and a stopped renewing
		{"b", at, now, ownerGone},                             // another view: it may not own the job at all
		{"c", at, now, ownerWillClaim},                        // behind, but alive
		{"c", at, now.Add(600 * time.Millisecond), ownerGone}, // behind, and its renewals stopped
		{"d", at, now, ownerGone},                             // published nothing
	} {
		if got := ownerState(prog, v, c.owner, c.t, c.now, stale); got != c.want {
			t.Errorf("ownerState(%s, %v, now %v) = %d, want %d", c.owner, c.t, c.now, got, c.want)
		}
	}
}

// TestViewFromNodes: the view holds this node and the alive, unexpired
// nodes of the table, with their published progress.
func TestViewFromNodes(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v, prog := viewFromNodes("self", []string{"http"}, []store.Node{
		{ID: "self", State: store.NodeAlive},
		{ID: "b", State: store.NodeAlive, Kinds: []string{"sql", "http"}, MembersHash: 7, ClaimedThrough: at},
		{ID: "gone", State: store.NodeAlive, Expired: true},
		{ID: "stopped", State: store.NodeStopped},
	})
	if got := v.ids(); !slices.Equal(got, []string{"b", "self"}) {
		t.Errorf("view %v, want [b self]", got)
	}
	if !slices.Equal(v.members[0].kinds, []string{"http", "sql"}) {
		t.Errorf("b's kinds %v, not sorted", v.members[0].kinds)
	}
	if p := prog["b"]; p.membersHash != 7 || !p.claimedThrough.Equal(at) || len(prog) != 1 {
		t.Errorf("progress %v", prog)
	}
	if _, prog = viewFromNodes("self", nil, []store.Node{{ID: "b", State: store.NodeAlive, HeartbeatAt: at}}); !prog["b"].heartbeatAt.Equal(at) {
		t.Errorf("progress %v", prog)
	}
}
