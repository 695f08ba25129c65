package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-db/sluice/store"
)

func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// execute runs one attempt of a run this node holds, and queues its
// outcome. It is the start path of every fire: what it does before the
// kind's Run is part of the fire delay, so it touches no database for jobs
// whose overlap policy is allow, and only sharded locks. The common case (a
// first attempt of such a job, without a timeout) takes a short path with
// a small stack frame: a goroutine that outgrows its first stack pays for
// copying it, thousands of times per burst.
func (s *Scheduler) execute(it *startItem, woke time.Time) {
	defer s.starts.wg.Done()
	job, ok := s.claims.jobRef(it.run.JobID)
	if !ok || job.Job.Paused || job.Overlap != OverlapAllow || job.Job.Timeout > 0 || it.history != "" {
		s.executeFull(it, woke)
		return
	}
	ctx, ar := s.starts.register(it)
	started := s.clock.Now()
	s.starts.setStarted(ar, started, false)
	s.starts.burst.Add(-1)
	s.stats.Started.Add(1)
	out := &boundedOutput{max: MaxOutput}
	err := runKind(ctx, job.kind, job.Job.Kind, RunInfo{RunID: it.run.ID, JobID: it.run.JobID, JobName: job.Job.Name,
		ScheduledTime: it.run.ScheduledTime, Attempt: it.attempt, NodeID: s.NodeID()}, job.config, out)
	finished := s.clock.Now()
	s.trace(it, woke, started, finished)
	if err != nil || out.len() > 0 {
		s.ended(job, it, ctx, started, finished, out, err)
	} else {
		s.writer.add(store.RunUpdate{ID: it.run.ID, JobID: it.run.JobID, ScheduledTime: it.run.ScheduledTime, Attempt: it.attempt,
			Status: store.RunSucceeded, StartedAt: started, FinishedAt: finished})
		s.stats.Succeeded.Add(1)
	}
	s.starts.unregister(ar)
}

// trace hands an attempt's timings to Options.Trace.
func (s *Scheduler) trace(it *startItem, woke, started, finished time.Time) {
	if s.opts.Trace != nil {
		s.opts.Trace(FireTrace{RunID: it.run.ID, JobID: it.run.JobID, ScheduledTime: it.run.ScheduledTime, Attempt: it.attempt,
			Ready: it.ready, Woke: woke, Started: started, Finished: finished})
	}
}

// execute runs one attempt of a run this node holds, and writes its outcome.
// It is the start path of every fire: what it does before the kind's Run is
// part of the fire delay, so it touches no database for jobs whose overlap
// policy is allow, and only sharded locks.
//
//go:noinline
func (s *Scheduler) executeFull(it *startItem, woke time.Time) {
	burst := true
	defer func() {
		if burst {
			s.starts.burst.Add(-1)
		}
	}()
	r := &it.run
	job, ok := s.claims.jobRef(r.JobID)
	if !ok || job.Job.Paused {
		up := store.RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Attempt: it.attempt, FinishedAt: s.clock.Now()}
		up.Status, up.Error = store.RunCancelled, "the job was deleted before the run started"
		if ok {
			up.Status, up.Error = store.RunSkipped, "the job is paused"
		}
		s.writer.add(up)
		return
	}
	ctx, ar := s.starts.register(it)
	defer s.starts.unregister(ar)

	var started time.Time
	if job.Overlap != OverlapAllow {
		// Out of the burst: the overlap policy reads the table, and may
		// wait for another run.
		s.starts.burst.Add(-1)
		burst = false
		up := store.RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Attempt: it.attempt}
		proceed, err := s.resolveOverlap(ctx, job, r, ar, &up)
		if err != nil || !proceed {
			if err != nil {
				up.Status, up.Error = store.RunFailed, err.Error()
			}
			up.FinishedAt = s.clock.Now()
			s.finish(job, r, it.attempt, it.history, up)
			return
		}
		// The overlap policy of other runs reads this row: it must be
		// written before the run does anything.
		started = s.clock.Now()
		s.starts.setStarted(ar, started, true)
		up.Status, up.StartedAt = store.RunRunning, started
		if err := s.writer.writeNow(ctx, up); err != nil {
			s.log.Warn("mark run running", "run", r.ID, "err", err)
		}
	} else {
		// The run writer records it as running if it is still going at
		// its next flush; a short run is written once, when it ends.
		started = s.clock.Now()
		s.starts.setStarted(ar, started, false)
		s.starts.burst.Add(-1)
		burst = false
	}
	s.stats.Started.Add(1)

	runCtx := ctx
	if job.Job.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, job.Job.Timeout, errTimeout)
		defer cancel()
	}
	out := &boundedOutput{max: MaxOutput}
	if it.history != "" {
		out.Write([]byte(it.history))
	}
	err := runKind(runCtx, job.kind, job.Job.Kind, RunInfo{RunID: r.ID, JobID: r.JobID, JobName: job.Job.Name, ScheduledTime: r.ScheduledTime,
		Attempt: it.attempt, NodeID: s.NodeID()}, job.config, out)
	finished := s.clock.Now()
	s.trace(it, woke, started, finished)
	s.ended(job, it, runCtx, started, finished, out, err)
}

// ended writes the outcome of an attempt.
//
//go:noinline
func (s *Scheduler) ended(job *Compiled, it *startItem, runCtx context.Context, started, finished time.Time, out *boundedOutput, err error) {
	r := &it.run
	up := store.RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Attempt: it.attempt, Status: store.RunSucceeded,
		StartedAt: started, FinishedAt: finished, Output: out.String()}
	if err != nil {
		up.Status, up.Error = store.RunFailed, err.Error()
		cause := context.Cause(runCtx)
		var rep replacedError
		switch {
		case errors.Is(cause, errTimeout):
			up.Status, up.Error = store.RunTimedOut, fmt.Sprintf("timed out after %s: %v", job.Job.Timeout, err)
		case errors.As(cause, &rep), errors.Is(cause, errCancelAsked):
			up.Status, up.Error = store.RunCancelled, cause.Error()
		case errors.Is(cause, errLeaseLost), errors.Is(cause, errCrashed):
			// Another node has settled this run; write nothing.
			return
		case errors.Is(cause, errNodeStop):
			up.Error = "the node stopped during the attempt: " + err.Error()
		}
	}
	s.finish(job, r, it.attempt, it.history, up)
}

// FireTrace tells where one attempt's start delay went: Ready is when its
// run row was claimed and handed to the starter (after Scheduled when the
// claim came late), Woke when the starter woke for its instant, Started
// when the attempt began (just before the kind's Run), Finished when Run
// returned. Options.Trace receives one per attempt, after it ended.
type FireTrace struct {
	RunID         int64
	JobID         int64
	ScheduledTime time.Time
	Attempt       int
	Ready         time.Time
	Woke          time.Time
	Started       time.Time
	Finished      time.Time
}

// runKind runs a kind, turning a panic into a failed attempt: a bad kind
// must not take the node down.
func runKind(ctx context.Context, k Kind, name string, info RunInfo, cfg json.RawMessage, out *boundedOutput) (err error) {
	if k == nil {
		return fmt.Errorf("unknown job kind %q on this node", name)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job kind %s panicked: %v\n%s", name, p, debug.Stack())
		}
	}()
	return k.Run(ctx, info, cfg, out)
}

// finish writes a run's outcome (of attempt, after the attempts told by
// history): final, or a retry to come.
func (s *Scheduler) finish(job *Compiled, r *store.Run, attempt int, history string, up store.RunUpdate) {
	up.JobID, up.ScheduledTime = r.JobID, r.ScheduledTime
	retryable := up.Status == store.RunFailed || up.Status == store.RunTimedOut
	if retryable && attempt <= job.Job.MaxRetries {
		history += fmt.Sprintf("[attempt %d %s: %s]\n", attempt, up.Status, up.Error)
		up.Status = store.RunRetrying
		up.RetryAt = up.FinishedAt.Add(Backoff(job.Job.RetryBackoff, attempt))
		s.writer.add(up)
		s.starts.add(startItem{run: *r, at: up.RetryAt, attempt: attempt + 1, history: history, ready: s.clock.Now()})
		return
	}
	s.writer.add(up)
	switch up.Status {
	case store.RunSucceeded:
		s.stats.Succeeded.Add(1)
	case store.RunFailed, store.RunTimedOut:
		s.stats.Failed.Add(1)
		s.alertFailed(job, *r, up)
	}
}

// resolveOverlap applies the job's overlap policy before a run starts. It
// returns false (with up filled in) when the run must not start.
func (s *Scheduler) resolveOverlap(ctx context.Context, job *Compiled, r *store.Run, ar *activeRun, up *store.RunUpdate) (bool, error) {
	for {
		running, queued, err := s.otherRuns(ctx, r)
		if err != nil {
			return false, fmt.Errorf("apply overlap policy %s: %w", job.Overlap, err)
		}
		iAmQueued := ar.queued
		if iAmQueued {
			// Waiting in the queue: only the running ones matter.
			queued = nil
			if len(running) == 0 {
				s.starts.setQueued(ar, false)
				return true, nil
			}
		}
		switch DecideOverlap(job.Overlap, len(running), len(queued)) {
		case OverlapStart:
			return true, nil
		case OverlapSkip:
			up.Status = store.RunSkipped
			if len(queued) > 0 {
				up.Error = fmt.Sprintf("run %d is already queued (overlap policy %s)", queued[0], job.Overlap)
			} else {
				up.Error = fmt.Sprintf("run %d is still running (overlap policy %s)", running[0], job.Overlap)
			}
			return false, nil
		case OverlapCancelOthers:
			for _, id := range running {
				if !s.starts.cancel(id, replacedError{by: r.ID}) {
					if err := s.st.RequestCancel(ctx, id); err != nil {
						return false, err
					}
				}
			}
			return true, nil
		case OverlapWait:
			if !iAmQueued {
				s.starts.setQueued(ar, true)
				q := store.RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Attempt: up.Attempt, Status: store.RunQueued}
				if err := s.writer.writeNow(ctx, q); err != nil {
					return false, err
				}
			}
		}
		select {
		case <-ctx.Done():
			up.Status, up.Error = store.RunCancelled, "cancelled while queued: "+context.Cause(ctx).Error()
			return false, nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// otherRuns lists the job's other runs that are running or queued, here
// and on other nodes.
func (s *Scheduler) otherRuns(ctx context.Context, r *store.Run) (running, queued []int64, err error) {
	seen := map[int64]bool{}
	for _, ar := range s.starts.jobActive(r.JobID, r.ID) {
		seen[ar.runID] = true
		if ar.queued {
			queued = append(queued, ar.runID)
		} else {
			running = append(running, ar.runID)
		}
	}
	from, old := s.runsWhere()
	remote, err := s.st.ActiveJobRuns(ctx, r.JobID, r.ID, from, old)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range remote {
		if seen[o.ID] || o.NodeID == s.NodeID() {
			// This node's own rows: its memory is newer than the table.
			continue
		}
		if o.Status == store.RunQueued {
			queued = append(queued, o.ID)
		} else {
			running = append(running, o.ID)
		}
	}
	return running, queued, nil
}

// runWriter batches run state writes: at thousands of fires a second, one
// UPDATE per state change would be the bottleneck, and no run may wait for
// a write to start. Ends are queued on a few sharded buffers; a flush every
// FlushInterval writes them, and marks running the runs that started since
// and are still going. Updates to the same run coalesce; the latest wins.
type runWriter struct {
	s       *Scheduler
	shards  [writerShards]writerShard
	queued  atomic.Int64
	kick    chan struct{}
	flushMu sync.Mutex
	// pending holds the updates taken from the queue and not yet written
	// (older than anything queued since), one per run. It and the buffers
	// reused by each collect (buf, pos) are guarded by flushMu.
	pending []store.RunUpdate
	buf     []store.RunUpdate
	pos     map[int64]int
}

type writerShard struct {
	mu         sync.Mutex
	ups, spare []store.RunUpdate
}

const (
	writerShards = 8
	// writerKick is the queue length that starts a flush before its time.
	writerKick = 20000
)

func newRunWriter(s *Scheduler) *runWriter {
	return &runWriter{s: s, kick: make(chan struct{}, 1), pos: map[int64]int{}}
}

func (w *runWriter) add(up store.RunUpdate) {
	if w.s.crashed.Load() {
		return
	}
	sh := &w.shards[uint64(up.ID)%writerShards]
	sh.mu.Lock()
	sh.ups = append(sh.ups, up)
	sh.mu.Unlock()
	if w.queued.Add(1) >= writerKick {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// writeNow writes up, and everything queued before it, before returning.
func (w *runWriter) writeNow(ctx context.Context, up store.RunUpdate) error {
	w.add(up)
	return w.flush(ctx)
}

func (w *runWriter) loop(ctx context.Context) {
	t := time.NewTicker(w.s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.flushPaced(ctx); err != nil && ctx.Err() == nil {
			w.s.log.Warn("write run states", "err", err)
		}
	}
}

// flushPiece bounds the updates written in one paced write: a piece must
// fit between two bursts of starts, where a whole second's worth of ends
// may not.
const flushPiece = 2000

// flushPaced writes what is queued, piece by piece, each in a quiet window.
func (w *runWriter) flushPaced(ctx context.Context) error {
	w.flushMu.Lock()
	w.collect()
	left := len(w.pending)
	w.flushMu.Unlock()
	for left > 0 {
		var err error
		if !w.s.pace.do(ctx, opFlush, time.Time{}, func() {
			w.flushMu.Lock()
			defer w.flushMu.Unlock()
			err = w.write(ctx, flushPiece)
			left = len(w.pending)
		}) {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flush writes everything queued before it returns.
func (w *runWriter) flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.collect()
	return w.write(ctx, len(w.pending))
}

// collect moves the queued updates, and the running state of runs that
// started since the last collect, to pending, coalescing: the last update
// of each run wins, in the order of firsts. Called with flushMu held.
func (w *runWriter) collect() {
	if w.s.crashed.Load() {
		return
	}
	// Running states first, then the queued ones over them: a run that
	// ended after it was seen running has its end queued, and the end wins
	// (here, or in the next collect if it came after the queue was taken).
	ups := w.buf[:0]
	w.s.starts.each(func(ar *activeRun) {
		if !ar.started.IsZero() && !ar.queued && !ar.runningWritten {
			ar.runningWritten = true
			ups = append(ups, store.RunUpdate{ID: ar.runID, JobID: ar.jobID, ScheduledTime: ar.sched, Status: store.RunRunning,
				Attempt: ar.attempt, StartedAt: ar.started})
		}
	})
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		q := sh.ups
		// The shard's next buffer is the one it had last time (the runs
		// end at about the same rate each time): no regrowing.
		sh.ups, sh.spare = sh.spare[:0], q
		sh.mu.Unlock()
		w.queued.Add(-int64(len(q)))
		ups = append(ups, q...)
	}
	w.buf = ups
	if len(ups) == 0 {
		return
	}
	clear(w.pos)
	for i, up := range w.pending {
		w.pos[up.ID] = i
	}
	for _, up := range ups {
		if i, ok := w.pos[up.ID]; ok {
			w.pending[i] = up
			continue
		}
		w.pos[up.ID] = len(w.pending)
		w.pending = append(w.pending, up)
	}
}

// write writes up to n pending updates, oldest first; what is not written
// stays pending. Called with flushMu held.
func (w *runWriter) write(ctx context.Context, n int) error {
	if w.s.crashed.Load() {
		// A crashed node writes nothing more: what is pending is dropped,
		// or flushPaced would try it again and again without end.
		w.pending = w.pending[:0]
		return nil
	}
	if len(w.pending) == 0 {
		return nil
	}
	batch := w.pending[:min(n, len(w.pending))]
	written, err := w.s.st.UpdateRuns(ctx, w.s.NodeID(), batch)
	if err != nil {
		return err
	}
	var final []int64
	for _, up := range batch {
		if !slices.Contains(store.ActiveRunStatuses, up.Status) {
			final = append(final, up.ID)
		}
	}
	w.s.held.done(final)
	if int(written) < len(batch) {
		w.s.log.Warn("runs were taken over by another node; their state from this node was not written", "runs", len(batch)-int(written))
	}
	w.pending = append(w.pending[:0], w.pending[len(batch):]...)
	return nil
}
