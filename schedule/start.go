package schedule

import (
	"container/heap"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-db/sluice/store"
)

// startItem is a run this node holds and will start at a time: a fire at
// its scheduled time, or a retry at its retry time.
type startItem struct {
	run     store.Run
	at      time.Time
	attempt int
	// history carries earlier attempts' errors into the run's output.
	history string
	// ready is when the run was handed to the starter (its claim done).
	ready time.Time
	// active is the run's entry in the active set while it runs (kept here
	// to spare an allocation per run).
	active activeRun
}

// slot is every run due at one instant. Fires share instants (whole
// seconds, mostly), so a burst of thousands is one slot: one timer, one
// wakeup, and no per-run heap work at the instant.
type slot struct {
	at    time.Time
	items []startItem
	idx   int
}

type slotHeap []*slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *slotHeap) Push(x any) {
	s := x.(*slot)
	s.idx = len(*h)
	*h = append(*h, s)
}
func (h *slotHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}

// Why a run's context was cancelled; the run's status follows from it.
var (
	errTimeout     = errors.New("timed out")
	errNodeStop    = errors.New("node stopping")
	errLeaseLost   = errors.New("node lost its lease")
	errCancelAsked = errors.New("cancelled on request")
	errCrashed     = errors.New("node crashed")
)

type replacedError struct{ by int64 }

func (e replacedError) Error() string { return "replaced by run " + itoa(e.by) }

// activeRun is a run executing (or queued) on this node.
type activeRun struct {
	runID   int64
	jobID   int64
	sched   time.Time
	attempt int
	queued  bool // guarded by its shard's lock
	// started is when the attempt began (zero while queued); the run
	// writer records such runs as running unless they already ended.
	// runningWritten: the running state is in the table (or on its way).
	// Both guarded by the shard's lock.
	started        time.Time
	runningWritten bool
	cancel         context.CancelCauseFunc
}

// activeShards spreads the active runs over several locks: thousands of
// runs start and end within milliseconds of each other.
const activeShards = 16

type activeShard struct {
	mu sync.Mutex
	m  map[int64]*activeRun
}

// starter holds the runs this node has claimed until their time comes, and
// the runs it is executing.
type starter struct {
	s *Scheduler

	mu     sync.Mutex
	slots  map[int64]*slot // by instant, in UnixNano of the scheduler's clock
	order  slotHeap
	closed bool
	wake   chan struct{}
	wg     sync.WaitGroup

	active [activeShards]activeShard
	// burst counts the runs handed to goroutines that have not begun yet:
	// while it is above zero, an instant's runs are still starting.
	burst atomic.Int64
	// dropped, once set, is why every run of this node was cancelled: runs
	// that register afterwards are cancelled at once.
	dropped atomic.Pointer[error]
}

func newStarter(s *Scheduler) *starter {
	st := &starter{s: s, slots: map[int64]*slot{}, wake: make(chan struct{}, 1)}
	for i := range st.active {
		st.active[i].m = map[int64]*activeRun{}
	}
	return st
}

func (st *starter) add(it startItem) { st.addAll([]startItem{it}) }

// addAll hands runs to the starter, each to the slot of its instant.
func (st *starter) addAll(items []startItem) {
	if len(items) == 0 {
		return
	}
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	var first time.Time
	if len(st.order) > 0 {
		first = st.order[0].at
	}
	// Size each slot once: a claim batch brings thousands of runs for an
	// instant, and a slot grown by appending copies them over and over.
	counts := map[int64]int{}
	for _, it := range items {
		counts[it.at.UnixNano()]++
	}
	for _, it := range items {
		key := it.at.UnixNano()
		sl := st.slots[key]
		if sl == nil {
			sl = &slot{at: it.at}
			st.slots[key] = sl
			heap.Push(&st.order, sl)
		}
		if n := counts[key]; n > 0 {
			sl.items = slices.Grow(sl.items, n)
			counts[key] = 0
		}
		sl.items = append(sl.items, it)
	}
	earlier := first.IsZero() || st.order[0].at.Before(first)
	st.mu.Unlock()
	if earlier {
		select {
		case st.wake <- struct{}{}:
		default:
		}
	}
}

// loop starts runs when their time comes. It sleeps until the earliest
// slot, wakes a little early and waits out the rest on the clock (timer
// wakeups are late by up to a millisecond or more on a busy machine), then
// starts the slot's runs, each on its own goroutine.
func (st *starter) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		st.mu.Lock()
		wait := time.Second
		var at time.Time
		if len(st.order) > 0 {
			at = st.order[0].at
			wait = min(wait, at.Sub(st.s.clock.Now()))
		}
		st.mu.Unlock()
		if wait > earlyWake {
			timer.Reset(wait - earlyWake)
			select {
			case <-ctx.Done():
				return
			case <-st.wake:
			case <-timer.C:
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if wait > 0 {
			// The last stretch: yield until the instant. Starting a run
			// before its time would be wrong; a timer alone is late.
			st.s.clock.waitUntil(at)
		}
		if !st.s.leaseValid() {
			// Self-fencing: past its lease a node starts nothing; the
			// runs stay claimed and the node that settles this one decides.
			select {
			case <-ctx.Done():
				return
			case <-time.After(st.s.opts.Heartbeat / 4):
			}
			continue
		}
		now := st.s.clock.Now()
		var due []*slot
		st.mu.Lock()
		for len(st.order) > 0 && !st.order[0].at.After(now) {
			sl := heap.Pop(&st.order).(*slot)
			delete(st.slots, sl.at.UnixNano())
			due = append(due, sl)
		}
		n := 0
		for _, sl := range due {
			n += len(sl.items)
		}
		st.wg.Add(n)
		st.burst.Add(int64(n))
		st.mu.Unlock()
		for _, sl := range due {
			for i := range sl.items {
				go st.s.execute(&sl.items[i], now)
			}
		}
	}
}

// earlyWake is how long before an instant the starter's timer fires; the
// rest is waited on the clock.
const earlyWake = time.Millisecond

func (st *starter) shard(runID int64) *activeShard {
	return &st.active[uint64(runID)%activeShards]
}

// register records a run as active and returns its context. Run contexts
// have no common parent: cancelling one would otherwise lock a parent
// shared by every run, at every start and end.
func (st *starter) register(it *startItem) (context.Context, *activeRun) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ar := &it.active
	*ar = activeRun{runID: it.run.ID, jobID: it.run.JobID, sched: it.run.ScheduledTime, attempt: it.attempt, cancel: cancel}
	sh := st.shard(ar.runID)
	sh.mu.Lock()
	sh.m[ar.runID] = ar
	sh.mu.Unlock()
	if cause := st.dropped.Load(); cause != nil {
		cancel(*cause)
	}
	return ctx, ar
}

func (st *starter) unregister(ar *activeRun) {
	sh := st.shard(ar.runID)
	sh.mu.Lock()
	delete(sh.m, ar.runID)
	sh.mu.Unlock()
	ar.cancel(nil)
}

func (st *starter) setQueued(ar *activeRun, q bool) {
	sh := st.shard(ar.runID)
	sh.mu.Lock()
	ar.queued = q
	sh.mu.Unlock()
}

// setStarted marks the attempt begun (for the run writer), and whether its
// running state is written already.
func (st *starter) setStarted(ar *activeRun, t time.Time, written bool) {
	sh := st.shard(ar.runID)
	sh.mu.Lock()
	ar.started, ar.runningWritten = t, written
	sh.mu.Unlock()
}

// each calls f for every active run, under its shard's lock.
func (st *starter) each(f func(*activeRun)) {
	for i := range st.active {
		sh := &st.active[i]
		sh.mu.Lock()
		for _, ar := range sh.m {
			f(ar)
		}
		sh.mu.Unlock()
	}
}

// localRun is an active run as the overlap policy sees it.
type localRun struct {
	runID  int64
	queued bool
}

// jobActive lists this node's other active runs of a job.
func (st *starter) jobActive(jobID, except int64) []localRun {
	var out []localRun
	st.each(func(ar *activeRun) {
		if ar.jobID == jobID && ar.runID != except {
			out = append(out, localRun{runID: ar.runID, queued: ar.queued})
		}
	})
	return out
}

// cancel cancels a local run; it reports whether the run was here.
func (st *starter) cancel(runID int64, cause error) bool {
	sh := st.shard(runID)
	sh.mu.Lock()
	ar, ok := sh.m[runID]
	sh.mu.Unlock()
	if ok {
		ar.cancel(cause)
	}
	return ok
}

// cancelAll cancels every active run, and every run that registers later.
func (st *starter) cancelAll(cause error) {
	st.dropped.CompareAndSwap(nil, &cause)
	var all []*activeRun
	st.each(func(ar *activeRun) { all = append(all, ar) })
	for _, ar := range all {
		ar.cancel(cause)
	}
}

// dropAll forgets the runs waiting to start and cancels the running ones:
// the node lost its lease and another node owns them now.
func (st *starter) dropAll(cause error) {
	st.mu.Lock()
	st.slots = map[int64]*slot{}
	st.order = nil
	st.mu.Unlock()
	var all []*activeRun
	st.each(func(ar *activeRun) { all = append(all, ar) })
	for _, ar := range all {
		ar.cancel(cause)
	}
}

// closeAndWait stops starting runs and waits for running ones, cancelling
// them after grace.
func (st *starter) closeAndWait(grace time.Duration) {
	st.mu.Lock()
	st.closed = true
	st.slots = map[int64]*slot{}
	st.order = nil
	st.mu.Unlock()
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	st.cancelAll(errNodeStop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		st.s.log.Warn("runs still going after cancel; stopping anyway")
	}
}
