package schedule

import (
	"container/heap"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/sluice-db/sluice/store"
)

// A node claims each fire ahead of its time by an offset that depends on its
// role for the job. The owner (chosen by rendezvous hashing over the alive
// nodes, so jobs spread evenly and move little when a node comes or goes)
// claims first; every other alive node tries a little later, which costs a
// no-op insert when the owner is well and fills in when the owner has just
// died or the nodes' views of who is alive differ for a moment. A node that
// cannot run the job's kind tries only after the fire is due, so that a node
// that can wins, and the run row says why when none can.
const (
	roleOwner = iota
	roleHelper
	roleIncapable
)

// jobEntry is one job in the claim heap.
type jobEntry struct {
	c       Compiled
	cursor  time.Time // last scheduled time decided
	next    time.Time
	role    int
	claimAt time.Time
	idx     int // in the heap, or -1
}

type entryHeap []*jobEntry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].claimAt.Before(h[j].claimAt) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*jobEntry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}

// claimer keeps every job in memory, ordered by when its next fire must be
// claimed, rebuilt from the jobs table whenever the table changes. One
// goroutine claims all due fires of a tick in one batch.
type claimer struct {
	s *Scheduler

	mu      sync.Mutex
	jobs    map[int64]*jobEntry
	heap    entryHeap
	members []string
	version store.JobsVersion
	bad     map[int64]string // jobs whose row does not compile: the error logged
	wake    chan struct{}
	// defs mirrors each job's current definition for readers that must not
	// wait behind a claim batch (a run starting reads it lock-free).
	defs sync.Map // int64 -> *Compiled
}

func newClaimer(s *Scheduler) *claimer {
	return &claimer{s: s, jobs: map[int64]*jobEntry{}, bad: map[int64]string{}, wake: make(chan struct{}, 1)}
}

func (c *claimer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *claimer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.jobs)
}

// job returns the current definition of a job.
func (c *claimer) job(id int64) (Compiled, bool) {
	v, ok := c.defs.Load(id)
	if !ok {
		return Compiled{}, false
	}
	return *v.(*Compiled), true
}

// loadAll reads the jobs table. At start, each job continues from its
// latest run row, so fires missed while no node ran are found; a job added
// or re-timed later starts from now.
func (c *claimer) loadAll(ctx context.Context, startup bool) error {
	v, err := c.s.st.JobsVersion(ctx)
	if err != nil {
		return err
	}
	jobs, err := c.s.st.Jobs(ctx)
	if err != nil {
		return err
	}
	var latest map[int64]time.Time
	if startup {
		if latest, err = c.s.st.LatestFires(ctx); err != nil {
			return err
		}
	}
	now := c.s.clock.Now()
	c.mu.Lock()
	c.apply(jobs, latest, now, startup)
	c.version = v
	c.mu.Unlock()
	c.signal()
	return nil
}

func (c *claimer) apply(jobs []store.Job, latest map[int64]time.Time, now time.Time, startup bool) {
	seen := make(map[int64]bool, len(jobs))
	for _, j := range jobs {
		seen[j.ID] = true
		e := c.jobs[j.ID]
		if e != nil && e.c.Job == j && !startup {
			continue
		}
		compiled, err := Compile(j, c.s.kinds)
		if err != nil {
			key := store.FormatTime(j.UpdatedAt) + err.Error()
			if c.bad[j.ID] != key {
				c.bad[j.ID] = key
				c.s.log.Warn("job is not scheduled: its row is invalid", "job", j.Name, "id", j.ID, "err", err)
			}
			c.remove(j.ID)
			continue
		}
		delete(c.bad, j.ID)
		c.defs.Store(j.ID, &compiled)
		if e != nil && sameTiming(e.c.Job, j) && !startup {
			e.c = compiled
			c.reschedule(e)
			continue
		}
		cursor := now
		if t, ok := latest[j.ID]; ok && !t.IsZero() {
			cursor = t
		}
		if e != nil && !startup && !e.c.Job.Paused && !j.Paused && e.cursor.After(cursor) {
			// Re-timed: keep fires already claimed ahead out of the new plan.
			cursor = e.cursor
		}
		if e == nil {
			e = &jobEntry{idx: -1}
			c.jobs[j.ID] = e
		}
		e.c, e.cursor = compiled, cursor
		c.reschedule(e)
	}
	for id := range c.jobs {
		if !seen[id] {
			c.remove(id)
		}
	}
	for id := range c.bad {
		if !seen[id] {
			delete(c.bad, id)
		}
	}
}

func (c *claimer) remove(id int64) {
	c.defs.Delete(id)
	if e, ok := c.jobs[id]; ok {
		if e.idx >= 0 {
			heap.Remove(&c.heap, e.idx)
		}
		delete(c.jobs, id)
	}
}

// offset is how long before a fire a node in role claims it.
func (c *claimer) offset(role int) time.Duration {
	switch role {
	case roleOwner:
		return c.s.opts.Lead
	case roleHelper:
		return c.s.opts.Lead / 2
	}
	return -c.s.opts.Lead
}

func (c *claimer) roleOf(e *jobEntry) int {
	if c.s.kinds.disabled(e.c.Job.Kind) != "" {
		return roleIncapable
	}
	if len(c.members) == 0 || owner(c.members, e.c.Job.ID) == c.s.NodeID() {
		return roleOwner
	}
	return roleHelper
}

// owner picks a job's owner by rendezvous hashing.
func owner(members []string, jobID int64) string {
	var best string
	var bestScore uint64
	for _, m := range members {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%d", m, jobID)
		if s := h.Sum64(); best == "" || s > bestScore {
			best, bestScore = m, s
		}
	}
	return best
}

// reschedule puts the entry where its next claim is due (or takes it out
// of the heap when it has no next fire or is paused).
func (c *claimer) reschedule(e *jobEntry) {
	if e.c.Job.Paused {
		if e.idx >= 0 {
			heap.Remove(&c.heap, e.idx)
		}
		return
	}
	e.next = e.c.Schedule.Next(e.cursor)
	if e.next.IsZero() {
		if e.idx >= 0 {
			heap.Remove(&c.heap, e.idx)
		}
		return
	}
	e.role = c.roleOf(e)
	e.claimAt = e.next.Add(-c.offset(e.role))
	if e.idx >= 0 {
		heap.Fix(&c.heap, e.idx)
	} else {
		heap.Push(&c.heap, e)
	}
}

// setMembers records the alive nodes; ownership moves with them.
func (c *claimer) setMembers(ids []string) {
	slices.Sort(ids)
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Equal(ids, c.members) {
		return
	}
	c.members = ids
	for _, e := range c.heap {
		e.role = c.roleOf(e)
		e.claimAt = e.next.Add(-c.offset(e.role))
	}
	heap.Init(&c.heap)
	c.signal()
}

func (c *claimer) leader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.members) > 0 && c.members[0] == c.s.NodeID()
}

// pollLoop notices changes to the jobs table, however they were made.
func (c *claimer) pollLoop(ctx context.Context) {
	t := time.NewTicker(c.s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := c.s.st.JobsVersion(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Warn("poll jobs table", "err", err)
			}
			continue
		}
		c.mu.Lock()
		same := v == c.version
		c.mu.Unlock()
		if same {
			continue
		}
		if err := c.loadAll(ctx, false); err != nil && ctx.Err() == nil {
			c.s.log.Warn("reload jobs", "err", err)
		}
	}
}

// loop claims due fires until ctx ends.
func (c *claimer) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		wait := time.Second
		if len(c.heap) > 0 {
			wait = min(wait, c.heap[0].claimAt.Sub(c.s.clock.Now()))
		}
		c.mu.Unlock()
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
			case <-timer.C:
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if !c.s.leaseValid() {
			// Without a lease this node may not claim: another node may
			// already be settling what it holds.
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.s.opts.Heartbeat / 4):
			}
			continue
		}
		c.claimDue(ctx)
	}
}

// maxBatch bounds the fires claimed in one round trip batch.
const maxBatch = 20000

type planned struct {
	e    *jobEntry
	prev time.Time
}

// claimDue plans every job whose claim time has come and claims all their
// fires in one batch.
func (c *claimer) claimDue(ctx context.Context) {
	now := c.s.clock.Now()
	var fires []store.Fire
	var plans []planned
	c.mu.Lock()
	for len(c.heap) > 0 && !c.heap[0].claimAt.After(now) && len(fires) < maxBatch {
		e := c.heap[0]
		d := Plan(e.c.Schedule, e.c.Policy, e.cursor, now, now.Add(c.offset(e.role)))
		plans = append(plans, planned{e: e, prev: e.cursor})
		for _, f := range d.Run {
			fires = append(fires, store.Fire{JobID: e.c.Job.ID, ScheduledTime: f.At, Status: store.RunClaimed, Misfire: f.Misfire})
		}
		for i, t := range d.Missed {
			msg := fmt.Sprintf("missed: no node claimed this fire within the misfire threshold (%s); misfire policy %s", e.c.Policy.Threshold, e.c.Policy.Misfire)
			if i == 0 && d.Omitted {
				msg += "; earlier fires were missed too and are not listed"
			}
			fires = append(fires, store.Fire{JobID: e.c.Job.ID, ScheduledTime: t, Status: store.RunMissed, Error: msg})
		}
		e.cursor = d.Cursor
		c.reschedule(e)
		if e.idx >= 0 && !e.claimAt.After(now) && !d.Cursor.After(plans[len(plans)-1].prev) {
			// No progress (the clock moved between computations): try
			// again shortly rather than spin.
			e.claimAt = now.Add(10 * time.Millisecond)
			heap.Fix(&c.heap, e.idx)
		}
	}
	c.mu.Unlock()
	if len(fires) == 0 {
		return
	}
	runs, err := c.s.st.ClaimFires(ctx, c.s.NodeID(), randomToken(), fires)
	if err != nil {
		if ctx.Err() == nil {
			c.s.log.Warn("claim fires", "fires", len(fires), "err", err)
		}
		// Nothing was decided: put the cursors back and try again soon.
		c.mu.Lock()
		for _, p := range plans {
			if c.jobs[p.e.c.Job.ID] == p.e && p.e.cursor.After(p.prev) {
				p.e.cursor = p.prev
				c.reschedule(p.e)
				if p.e.idx >= 0 {
					p.e.claimAt = now.Add(100 * time.Millisecond)
					heap.Fix(&c.heap, p.e.idx)
				}
			}
		}
		c.mu.Unlock()
		return
	}
	c.s.stats.Lost.Add(int64(len(fires) - len(runs)))
	missed := map[int64][]store.Run{}
	for _, r := range runs {
		switch r.Status {
		case store.RunClaimed:
			c.s.stats.Claimed.Add(1)
			c.s.starts.add(startItem{run: r, at: r.ScheduledTime, attempt: r.Attempt})
		case store.RunMissed:
			c.s.stats.Missed.Add(1)
			missed[r.JobID] = append(missed[r.JobID], r)
		}
	}
	for jobID, rs := range missed {
		if j, ok := c.job(jobID); ok {
			c.s.alertMissed(j, rs)
		}
	}
}
