package schedule

import (
	"container/heap"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-db/sluice/store"
)

// Each job has one owner among the alive nodes that run its kind (see
// view.owner). The owner inserts the run rows of the job's fires Lead
// before their time, in one batch with all its other fires of the moment.
// The other nodes insert nothing while the owner is alive: HelperLead
// before a fire they check what the owner published (its claimed-through
// time and its last lease renewal), and only when the owner has not claimed
// the fire and has stopped renewing (it died: its lease has not run out
// yet), or when the nodes' views of who is alive differ for a moment, do
// they insert the row themselves. The database's unique key still decides
// every fire.
const (
	roleOwner  = iota // this node owns the job
	roleHelper        // another node owns it; this node fills in if it falls behind
	roleShadow        // another node owns it and this node cannot run its kind: follow only
	roleOrphan        // no alive node runs its kind: every node claims once due, and the run fails saying why
)

// jobEntry is one job in a claim heap.
type jobEntry struct {
	c       Compiled
	cursor  time.Time // last scheduled time decided
	next    time.Time
	role    int
	owner   string
	claimAt time.Time
	h       *entryHeap // the heap it is in, or nil
	idx     int
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
	e.idx, e.h = len(*h), h
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx, e.h = -1, nil
	return e
}

// claimer keeps every job in memory, ordered by when its next fire must be
// claimed or checked, rebuilt from the jobs table whenever the table
// changes. One goroutine claims all due fires of a moment in one batch.
type claimer struct {
	s *Scheduler

	mu   sync.Mutex
	jobs map[int64]*jobEntry
	// own holds the jobs this node owns; other the rest. The first entry of
	// own tells how far ahead every owned fire is claimed.
	own, other entryHeap
	view       view
	members    []string // the view's node ids, sorted
	prog       map[string]progress
	// inflight is the earliest owned fire of the batch being inserted
	// (zero when none): it is not claimed until the insert commits.
	inflight time.Time
	// lastBatch and lastPlans size the next batch's slices.
	lastBatch, lastPlans int
	version              store.JobsVersion
	bad                  map[int64]string // jobs whose row does not compile: the error logged
	wake                 chan struct{}
	// defs mirrors each job's current definition for readers that must not
	// wait behind a claim batch (a run starting reads it lock-free).
	defs sync.Map // int64 -> *Compiled
}

func newClaimer(s *Scheduler) *claimer {
	return &claimer{s: s, jobs: map[int64]*jobEntry{}, bad: map[int64]string{}, prog: map[string]progress{}, wake: make(chan struct{}, 1)}
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
	j, ok := c.jobRef(id)
	if !ok {
		return Compiled{}, false
	}
	return *j, true
}

// jobRef is job without the copy, for the start path. A definition is
// never changed once stored (an edit stores a new one), so it may be read
// without a lock.
func (c *claimer) jobRef(id int64) (*Compiled, bool) {
	v, ok := c.defs.Load(id)
	if !ok {
		return nil, false
	}
	return v.(*Compiled), true
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
		c.unplace(e)
		delete(c.jobs, id)
	}
}

// offset is how long before a fire a node in role claims (or checks) it.
func (c *claimer) offset(role int) time.Duration {
	switch role {
	case roleOwner:
		return c.s.opts.Lead
	case roleHelper, roleShadow:
		return c.s.opts.HelperLead
	}
	return -c.s.opts.HelperLead
}

// roleOf decides the entry's role and owner under the current view.
func (c *claimer) roleOf(e *jobEntry) (int, string) {
	capable := c.s.kinds.disabled(e.c.Job.Kind) == ""
	if len(c.view.members) == 0 {
		// No view yet (before the first heartbeat): claim what can run here.
		if capable {
			return roleOwner, c.s.NodeID()
		}
		return roleOrphan, ""
	}
	o := c.view.owner(e.c.Job.ID, e.c.Job.Kind)
	switch {
	case o == "":
		return roleOrphan, ""
	case o == c.s.NodeID():
		return roleOwner, o
	case capable:
		return roleHelper, o
	}
	return roleShadow, o
}

func (c *claimer) unplace(e *jobEntry) {
	if e.h != nil {
		heap.Remove(e.h, e.idx)
	}
}

// place puts the entry in the heap of its role, at its claim time.
func (c *claimer) place(e *jobEntry) {
	e.claimAt = e.next.Add(-c.offset(e.role))
	target := &c.other
	if e.role == roleOwner {
		target = &c.own
	}
	if e.h == target {
		heap.Fix(target, e.idx)
		return
	}
	c.unplace(e)
	heap.Push(target, e)
}

// reschedule puts the entry where its next claim is due (or takes it out
// of the heaps when it has no next fire or is paused).
func (c *claimer) reschedule(e *jobEntry) {
	if e.c.Job.Paused {
		c.unplace(e)
		return
	}
	e.next = e.c.Schedule.Next(e.cursor)
	if e.next.IsZero() {
		c.unplace(e)
		return
	}
	e.role, e.owner = c.roleOf(e)
	c.place(e)
}

// setView records the alive nodes and what each published; ownership moves
// with the view.
func (c *claimer) setView(v view, prog map[string]progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prog = prog
	if v.hash == c.view.hash && len(v.members) == len(c.view.members) {
		return
	}
	c.view, c.members = v, v.ids()
	all := make([]*jobEntry, 0, len(c.own)+len(c.other))
	all = append(append(all, c.own...), c.other...)
	c.own, c.other = c.own[:0], c.other[:0]
	for _, e := range all {
		e.role, e.owner = c.roleOf(e)
		e.claimAt = e.next.Add(-c.offset(e.role))
		if e.role == roleOwner {
			e.h, e.idx = &c.own, len(c.own)
			c.own = append(c.own, e)
		} else {
			e.h, e.idx = &c.other, len(c.other)
			c.other = append(c.other, e)
		}
	}
	heap.Init(&c.own)
	heap.Init(&c.other)
	c.signal()
}

// progress is what this node publishes: its view, and the time through
// which every fire of the jobs it owns in that view has a run row.
func (c *claimer) progress() store.NodeProgress {
	c.mu.Lock()
	defer c.mu.Unlock()
	through := c.s.clock.Now().Add(c.s.opts.Lead)
	if len(c.own) > 0 {
		through = c.own[0].next.Add(-time.Nanosecond)
	}
	if !c.inflight.IsZero() && !c.inflight.After(through) {
		through = c.inflight.Add(-time.Nanosecond)
	}
	return store.NodeProgress{MembersHash: c.view.hash, ClaimedThrough: through}
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

// firstDue is the earliest claim time of either heap (zero when empty).
func (c *claimer) firstDue() time.Time {
	var t time.Time
	if len(c.own) > 0 {
		t = c.own[0].claimAt
	}
	if len(c.other) > 0 && (t.IsZero() || c.other[0].claimAt.Before(t)) {
		t = c.other[0].claimAt
	}
	return t
}

// loop claims due fires until ctx ends.
func (c *claimer) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		wait := time.Second
		if t := c.firstDue(); !t.IsZero() {
			wait = min(wait, t.Sub(c.s.clock.Now()))
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
		if deadline, ok := c.paceDeadline(); ok {
			// Only the owner's claims, well ahead: they can wait for a
			// quiet window (and take in what comes due meanwhile).
			if !c.s.pace.do(ctx, opClaim, deadline, func() { c.claimDue(ctx) }) {
				return
			}
			continue
		}
		c.claimDue(ctx)
	}
}

// claimDeadline is how long before its fire an owned fire's claim must be
// made at the latest, when its batch waits for a quiet window.
const claimDeadline = 500 * time.Millisecond

// paceDeadline says whether the due claims may wait for a quiet window, and
// until when: only when all of them are the owner's, which are made Lead
// ahead. Other nodes' jobs are checked close to their fires, and at once.
func (c *claimer) paceDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.s.clock.Now()
	if len(c.other) > 0 && !c.other[0].claimAt.After(now) {
		return time.Time{}, false
	}
	if len(c.own) == 0 || c.own[0].claimAt.After(now) {
		return time.Time{}, false
	}
	return c.own[0].next.Add(-claimDeadline), true
}

// maxBatch bounds the fires claimed in one round trip batch.
const maxBatch = 20000

// helperRecheck is how soon a helper looks again at a fire its owner has
// not claimed yet.
const helperRecheck = 100 * time.Millisecond

type planned struct {
	e    *jobEntry
	prev time.Time
}

// popDue takes the first due entry of either heap (nil when none is due).
func (c *claimer) popDue(now time.Time) *jobEntry {
	var h *entryHeap
	if len(c.own) > 0 && !c.own[0].claimAt.After(now) {
		h = &c.own
	}
	if len(c.other) > 0 && !c.other[0].claimAt.After(now) && (h == nil || c.other[0].claimAt.Before(c.own[0].claimAt)) {
		h = &c.other
	}
	if h == nil {
		return nil
	}
	return (*h)[0]
}

// claimDue plans every job whose claim time has come and claims their
// fires in one batch: all of the owned jobs' fires up to Lead ahead, and
// the fires of other nodes' jobs that their owner has not published as
// claimed.
func (c *claimer) claimDue(ctx context.Context) {
	now := c.s.clock.Now()
	var filled int64
	c.mu.Lock()
	fires := make([]store.Fire, 0, c.lastBatch)
	plans := make([]planned, 0, c.lastPlans)
	for len(fires) < maxBatch {
		e := c.popDue(now)
		if e == nil {
			break
		}
		horizon := now.Add(c.offset(e.role))
		if e.role == roleOrphan {
			horizon = now
		}
		d := Plan(e.c.Schedule, e.c.Policy, e.cursor, now, horizon)
		plans = append(plans, planned{e: e, prev: e.cursor})
		// Fires go in time order: the missed ones are older than those to
		// run. A helper stops at the first fire its owner will claim but
		// has not yet (the cursor stays before it), and looks again shortly.
		cursor, waiting := d.Cursor, false
		prev := e.cursor // the last fire decided
		decide := func(t time.Time) bool {
			switch e.role {
			case roleOwner:
				if c.inflight.IsZero() || t.Before(c.inflight) {
					c.inflight = t
				}
			case roleHelper:
				switch ownerState(c.prog, c.view, e.owner, t, now, c.s.opts.Lease/2) {
				case ownerClaimed:
					return false
				case ownerWillClaim:
					waiting, cursor = true, prev
					return false
				}
				filled++
			case roleShadow:
				return false
			}
			return true
		}
		for i, t := range d.Missed {
			ok := decide(t)
			if waiting {
				break
			}
			prev = t
			if !ok {
				continue
			}
			msg := fmt.Sprintf("missed: no node claimed this fire within the misfire threshold (%s); misfire policy %s", e.c.Policy.Threshold, e.c.Policy.Misfire)
			if i == 0 && d.Omitted {
				msg += "; earlier fires were missed too and are not listed"
			}
			fires = append(fires, store.Fire{JobID: e.c.Job.ID, ScheduledTime: t, Status: store.RunMissed, Error: msg})
		}
		for _, f := range d.Run {
			if waiting {
				break
			}
			ok := decide(f.At)
			if waiting {
				break
			}
			prev = f.At
			if ok {
				fires = append(fires, store.Fire{JobID: e.c.Job.ID, ScheduledTime: f.At, Status: store.RunClaimed, Misfire: f.Misfire})
			}
		}
		d.Cursor = cursor
		if waiting {
			e.cursor = cursor
			c.reschedule(e)
			if e.h != nil {
				e.claimAt = now.Add(helperRecheck)
				heap.Fix(e.h, e.idx)
			}
			continue
		}
		e.cursor = d.Cursor
		c.reschedule(e)
		if e.h != nil && !e.claimAt.After(now) && !d.Cursor.After(plans[len(plans)-1].prev) {
			// No progress (the clock moved between computations): try
			// again shortly rather than spin.
			e.claimAt = now.Add(10 * time.Millisecond)
			heap.Fix(e.h, e.idx)
		}
	}
	c.lastBatch, c.lastPlans = len(fires), len(plans)
	c.mu.Unlock()
	if len(fires) == 0 {
		return
	}
	claimed := c.s.held.beginClaim()
	defer claimed()
	runs, err := c.s.st.ClaimFires(ctx, c.s.NodeID(), randomToken(), fires)
	c.mu.Lock()
	c.inflight = time.Time{}
	if err != nil {
		// Nothing was decided: put the cursors back and try again soon.
		for _, p := range plans {
			if c.jobs[p.e.c.Job.ID] == p.e && p.e.cursor.After(p.prev) {
				p.e.cursor = p.prev
				c.reschedule(p.e)
				if p.e.h != nil {
					p.e.claimAt = now.Add(100 * time.Millisecond)
					heap.Fix(p.e.h, p.e.idx)
				}
			}
		}
		c.mu.Unlock()
		if ctx.Err() == nil {
			c.s.log.Warn("claim fires", "fires", len(fires), "err", err)
		}
		return
	}
	c.mu.Unlock()
	c.s.stats.FilledIn.Add(filled)
	c.s.stats.Lost.Add(int64(len(fires) - len(runs)))
	ready := c.s.clock.Now()
	missed := map[int64][]store.Run{}
	items := make([]startItem, 0, len(runs))
	ids := make([]int64, 0, len(runs))
	for _, r := range runs {
		c.s.held.seen(r.ID)
		switch r.Status {
		case store.RunClaimed:
			items = append(items, startItem{run: r, at: r.ScheduledTime, attempt: r.Attempt, ready: ready})
			ids = append(ids, r.ID)
		case store.RunMissed:
			c.s.stats.Missed.Add(1)
			missed[r.JobID] = append(missed[r.JobID], r)
		}
	}
	c.s.held.add(ids, ready, false)
	c.s.stats.Claimed.Add(int64(len(items)))
	c.s.starts.addAll(items)
	for jobID, rs := range missed {
		if j, ok := c.job(jobID); ok {
			c.s.alertMissed(j, rs)
		}
	}
}
