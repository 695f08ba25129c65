package schedule

import (
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/sluice-db/sluice/store"
)

// view is the set of alive nodes a node schedules by, as read from the
// nodes table at its last heartbeat: who they are and which kinds each
// runs. Every node derives job ownership from its view alone, so two nodes
// with the same view (the same hash) agree on the owner of every job.
type view struct {
	members []viewMember // sorted by id
	hash    int64
}

type viewMember struct {
	id    string
	kinds []string // sorted
	h     uint64   // hash of id, for ownership
}

func newView(members []viewMember) view {
	slices.SortFunc(members, func(a, b viewMember) int { return strings.Compare(a.id, b.id) })
	h := fnv.New64a()
	for i, m := range members {
		mh := fnv.New64a()
		mh.Write([]byte(m.id))
		members[i].h = mix64(mh.Sum64())
		h.Write([]byte(m.id))
		h.Write([]byte{0})
		h.Write([]byte(strings.Join(m.kinds, ",")))
		h.Write([]byte{1})
	}
	return view{members: members, hash: int64(h.Sum64() >> 1)}
}

func (v view) ids() []string {
	out := make([]string, len(v.members))
	for i, m := range v.members {
		out[i] = m.id
	}
	return out
}

// owner picks a job's owner among the members that run its kind, by
// rendezvous hashing: jobs spread evenly, and when a node comes or goes only
// the jobs it owned (or will own) move. "" when no member runs the kind.
func (v view) owner(jobID int64, kind string) string {
	var best string
	var bestScore uint64
	j := mix64(uint64(jobID))
	for _, m := range v.members {
		if _, ok := slices.BinarySearch(m.kinds, kind); !ok {
			continue
		}
		if s := mix64(m.h ^ j); best == "" || s > bestScore {
			best, bestScore = m.id, s
		}
	}
	return best
}

// mix64 is MurmurHash3's finalizer: every input bit moves every output bit,
// which rendezvous scores need (FNV alone leaves short ids that differ in
// one byte with correlated high bits).
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// progress is what another node last published: the view it scheduled by,
// the time through which it had claimed every fire of its jobs, and when it
// last renewed its lease.
type progress struct {
	membersHash    int64
	claimedThrough time.Time
	heartbeatAt    time.Time
}

// What a helper can tell about the owner of a job, for one fire.
const (
	ownerClaimed   = iota // the owner has claimed the fire
	ownerWillClaim        // not yet, but the owner is alive and owns the job: wait
	ownerGone             // fill in: the owner stopped renewing its lease, or its view differs
)

// ownerState reads what the owner published at its last heartbeat. An owner
// that schedules by the same view (so it owns the job too) and renews its
// lease on time is alive and claims, if late: inserting the same fires
// beside an owner that is slow because the database is would only slow the
// database further. A helper fills in when the owner stopped renewing (it
// died, or cannot reach the database: its lease has not run out yet) or
// when their views differ (the owner may not know it owns the job).
func ownerState(p map[string]progress, v view, owner string, t, now time.Time, stale time.Duration) int {
	pr, ok := p[owner]
	switch {
	case !ok || pr.membersHash != v.hash:
		return ownerGone
	case !pr.claimedThrough.Before(t):
		return ownerClaimed
	case now.Sub(pr.heartbeatAt) < stale:
		return ownerWillClaim
	}
	return ownerGone
}

// viewFromNodes builds the view from the alive nodes of the table; self is
// always in it, with its own kinds.
func viewFromNodes(self string, selfKinds []string, nodes []store.Node) (view, map[string]progress) {
	members := []viewMember{{id: self, kinds: selfKinds}}
	prog := map[string]progress{}
	for _, n := range nodes {
		if n.ID == self || n.State != store.NodeAlive || n.Expired {
			continue
		}
		kinds := slices.Clone(n.Kinds)
		slices.Sort(kinds)
		members = append(members, viewMember{id: n.ID, kinds: kinds})
		prog[n.ID] = progress{membersHash: n.MembersHash, claimedThrough: n.ClaimedThrough, heartbeatAt: n.HeartbeatAt}
	}
	return newView(members), prog
}

// runnable lists, sorted, the kinds this node can run, as it publishes
// them (a comma-separated list: a name with a comma cannot be published,
// and its jobs are run as if no node had the kind).
func (k Kinds) runnable() []string {
	var out []string
	for name := range k {
		if k.disabled(name) == "" && !strings.Contains(name, ",") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
