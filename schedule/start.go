package schedule

import (
	"container/heap"
	"context"
	"errors"
	"sync"
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
	idx     int
}

type startHeap []*startItem

func (h startHeap) Len() int           { return len(h) }
func (h startHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h startHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *startHeap) Push(x any) {
	it := x.(*startItem)
	it.idx = len(*h)
	*h = append(*h, it)
}
func (h *startHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
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
	runID  int64
	jobID  int64
	queued bool
	cancel context.CancelCauseFunc
}

// starter holds the runs this node has claimed until their time comes, and
// the runs it is executing.
type starter struct {
	s *Scheduler

	mu     sync.Mutex
	heap   startHeap
	active map[int64]*activeRun
	closed bool
	wake   chan struct{}
	wg     sync.WaitGroup
	// base is the parent of every run's context; cancelled when the node
	// must drop everything.
	base       context.Context
	cancelBase context.CancelCauseFunc
}

func newStarter(s *Scheduler) *starter {
	base, cancel := context.WithCancelCause(context.Background())
	return &starter{s: s, active: map[int64]*activeRun{}, wake: make(chan struct{}, 1), base: base, cancelBase: cancel}
}

func (st *starter) add(it startItem) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	heap.Push(&st.heap, &it)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// loop starts runs when their time comes.
func (st *starter) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		st.mu.Lock()
		wait := time.Second
		if len(st.heap) > 0 {
			wait = min(wait, st.heap[0].at.Sub(st.s.clock.Now()))
		}
		st.mu.Unlock()
		if wait > 0 {
			timer.Reset(wait)
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
		st.mu.Lock()
		for len(st.heap) > 0 && !st.heap[0].at.After(now) {
			it := heap.Pop(&st.heap).(*startItem)
			st.wg.Add(1)
			go st.s.execute(*it)
		}
		st.mu.Unlock()
	}
}

// register records a run as active and returns its context.
func (st *starter) register(runID, jobID int64) (context.Context, *activeRun) {
	ctx, cancel := context.WithCancelCause(st.base)
	ar := &activeRun{runID: runID, jobID: jobID, cancel: cancel}
	st.mu.Lock()
	st.active[runID] = ar
	st.mu.Unlock()
	return ctx, ar
}

func (st *starter) unregister(ar *activeRun) {
	st.mu.Lock()
	delete(st.active, ar.runID)
	st.mu.Unlock()
	ar.cancel(nil)
}

func (st *starter) setQueued(ar *activeRun, q bool) {
	st.mu.Lock()
	ar.queued = q
	st.mu.Unlock()
}

// jobActive lists this node's other active runs of a job.
func (st *starter) jobActive(jobID, except int64) []activeRun {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []activeRun
	for _, ar := range st.active {
		if ar.jobID == jobID && ar.runID != except {
			out = append(out, *ar)
		}
	}
	return out
}

// cancel cancels a local run; it reports whether the run was here.
func (st *starter) cancel(runID int64, cause error) bool {
	st.mu.Lock()
	ar, ok := st.active[runID]
	st.mu.Unlock()
	if ok {
		ar.cancel(cause)
	}
	return ok
}

// dropAll forgets the runs waiting to start and cancels the running ones:
// the node lost its lease and another node owns them now.
func (st *starter) dropAll(cause error) {
	st.mu.Lock()
	st.heap = nil
	active := make([]*activeRun, 0, len(st.active))
	for _, ar := range st.active {
		active = append(active, ar)
	}
	st.mu.Unlock()
	for _, ar := range active {
		ar.cancel(cause)
	}
}

// closeAndWait stops starting runs and waits for running ones, cancelling
// them after grace.
func (st *starter) closeAndWait(grace time.Duration) {
	st.mu.Lock()
	st.closed = true
	st.heap = nil
	st.mu.Unlock()
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	st.cancelBase(errNodeStop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		st.s.log.Warn("runs still going after cancel; stopping anyway")
	}
}
