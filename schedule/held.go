package schedule

import (
	"sync"
	"time"
)

// heldRuns knows every run this node holds whose row is not final yet
// (claimed, waiting for a retry, running, queued, or ended with the end not
// written yet), so that the node can publish where those rows are: each has
// an id of at least runsFrom, or is listed. job_runs has no index on its
// holder or state, which every fire's writes would have to move; a node
// that settles a dead one reads the end of the primary key and the list.
//
// Runs this node claimed get ids above every id committed before the claim
// began, so runsFrom (below every recent run's id, and at most one above
// the highest id known before any claim in flight) covers them from the
// moment they exist. Runs taken over from another node have old ids: they
// are published in the list before they are taken.
type heldRuns struct {
	// recent is how long a claimed run keeps runsFrom at or below its id
	// (recentSpan; tests shorten it).
	recent time.Duration

	mu   sync.Mutex
	runs map[int64]heldRun
	// maxSeen is the highest run id known to be committed; inflight counts
	// the claims in progress by the maxSeen each began with.
	maxSeen  int64
	inflight map[int64]int
}

type heldRun struct {
	since     time.Time
	takenOver bool
}

// recentSpan is how long a claimed run keeps runsFrom at or below its id;
// older runs (long-running ones, retries far off) are listed instead.
const recentSpan = 10 * time.Second

func newHeldRuns() *heldRuns {
	return &heldRuns{recent: recentSpan, runs: map[int64]heldRun{}, inflight: map[int64]int{}}
}

// seen records a committed run id.
func (h *heldRuns) seen(id int64) {
	h.mu.Lock()
	h.maxSeen = max(h.maxSeen, id)
	h.mu.Unlock()
}

// beginClaim is called before a claim's insert; the returned func after its
// rows are added (or the claim failed).
func (h *heldRuns) beginClaim() func() {
	h.mu.Lock()
	floor := h.maxSeen
	h.inflight[floor]++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		if h.inflight[floor]--; h.inflight[floor] <= 0 {
			delete(h.inflight, floor)
		}
		h.mu.Unlock()
	}
}

// add records runs this node now holds.
func (h *heldRuns) add(ids []int64, now time.Time, takenOver bool) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	for _, id := range ids {
		h.runs[id] = heldRun{since: now, takenOver: takenOver}
		if !takenOver {
			h.maxSeen = max(h.maxSeen, id)
		}
	}
	h.mu.Unlock()
}

// done records runs whose final state is written (or that are no longer
// this node's).
func (h *heldRuns) done(ids []int64) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	for _, id := range ids {
		delete(h.runs, id)
	}
	h.mu.Unlock()
}

// reset forgets every run: the node dropped them all (it rejoins).
func (h *heldRuns) reset() {
	h.mu.Lock()
	h.runs = map[int64]heldRun{}
	h.mu.Unlock()
}

// where says where this node's runs are: runsFrom, and the ids below it.
// extra ids (runs about to be taken over) are listed too.
func (h *heldRuns) where(now time.Time, extra []int64) (int64, []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	from := h.maxSeen + 1
	for floor := range h.inflight {
		from = min(from, floor+1)
	}
	for id, r := range h.runs {
		if !r.takenOver && now.Sub(r.since) < h.recent && id < from {
			from = id
		}
	}
	var old []int64
	for id := range h.runs {
		if id < from {
			old = append(old, id)
		}
	}
	for _, id := range extra {
		if id < from {
			old = append(old, id)
		}
	}
	return from, old
}
