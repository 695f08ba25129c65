package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-db/sluice/store"
)

func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// execute runs one attempt of a run this node holds, and writes its outcome.
func (s *Scheduler) execute(it startItem) {
	defer s.starts.wg.Done()
	r := it.run
	up := store.RunUpdate{ID: r.ID, Attempt: it.attempt}
	job, ok := s.claims.job(r.JobID)
	if !ok {
		up.Status, up.FinishedAt, up.Error = store.RunCancelled, s.clock.Now(), "the job was deleted before the run started"
		s.writer.add(up)
		return
	}
	if job.Job.Paused {
		up.Status, up.FinishedAt, up.Error = store.RunSkipped, s.clock.Now(), "the job is paused"
		s.writer.add(up)
		return
	}
	ctx, ar := s.starts.register(r.ID, r.JobID)
	defer s.starts.unregister(ar)

	strict := job.Overlap != OverlapAllow
	if strict {
		proceed, err := s.resolveOverlap(ctx, job, r, ar, &up)
		if err != nil || !proceed {
			if err != nil {
				up.Status, up.Error = store.RunFailed, err.Error()
			}
			up.FinishedAt = s.clock.Now()
			s.finish(job, r, it, up)
			return
		}
	}
	up.Status, up.StartedAt = store.RunRunning, s.clock.Now()
	if strict {
		// The overlap policy of other runs reads this row: it must be
		// written before the run does anything.
		if err := s.writer.writeNow(ctx, up); err != nil {
			s.log.Warn("mark run running", "run", r.ID, "err", err)
		}
	} else {
		s.writer.add(up)
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
	info := RunInfo{RunID: r.ID, JobID: r.JobID, JobName: job.Job.Name, ScheduledTime: r.ScheduledTime, Attempt: it.attempt, NodeID: s.NodeID()}
	err := runKind(runCtx, s.kinds[job.Job.Kind], job.Job.Kind, info, json.RawMessage(job.Job.Config), out)
	up.FinishedAt = s.clock.Now()
	up.Output = out.String()
	switch {
	case err == nil:
		up.Status = store.RunSucceeded
	default:
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
	s.finish(job, r, it, up)
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

// finish writes a run's outcome: final, or a retry to come.
func (s *Scheduler) finish(job Compiled, r store.Run, it startItem, up store.RunUpdate) {
	retryable := up.Status == store.RunFailed || up.Status == store.RunTimedOut
	if retryable && it.attempt <= job.Job.MaxRetries {
		history := it.history + fmt.Sprintf("[attempt %d %s: %s]\n", it.attempt, up.Status, up.Error)
		up.Status = store.RunRetrying
		up.RetryAt = up.FinishedAt.Add(Backoff(job.Job.RetryBackoff, it.attempt))
		s.writer.add(up)
		s.starts.add(startItem{run: r, at: up.RetryAt, attempt: it.attempt + 1, history: history})
		return
	}
	s.writer.add(up)
	switch up.Status {
	case store.RunSucceeded:
		s.stats.Succeeded.Add(1)
	case store.RunFailed, store.RunTimedOut:
		s.stats.Failed.Add(1)
		s.alertFailed(job, r, up)
	}
}

// resolveOverlap applies the job's overlap policy before a run starts. It
// returns false (with up filled in) when the run must not start.
func (s *Scheduler) resolveOverlap(ctx context.Context, job Compiled, r store.Run, ar *activeRun, up *store.RunUpdate) (bool, error) {
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
				q := store.RunUpdate{ID: r.ID, Attempt: up.Attempt, Status: store.RunQueued}
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
func (s *Scheduler) otherRuns(ctx context.Context, r store.Run) (running, queued []int64, err error) {
	seen := map[int64]bool{}
	for _, ar := range s.starts.jobActive(r.JobID, r.ID) {
		seen[ar.runID] = true
		if ar.queued {
			queued = append(queued, ar.runID)
		} else {
			running = append(running, ar.runID)
		}
	}
	remote, err := s.st.ActiveJobRuns(ctx, r.JobID, r.ID)
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
// UPDATE per state change would be the bottleneck. Updates to the same run
// coalesce; the latest wins.
type runWriter struct {
	s       *Scheduler
	mu      sync.Mutex
	pending map[int64]store.RunUpdate
	order   []int64
	kick    chan struct{}
	flushMu sync.Mutex
}

const (
	writerInterval = 10 * time.Millisecond
	writerBatch    = 500
)

func newRunWriter(s *Scheduler) *runWriter {
	return &runWriter{s: s, pending: map[int64]store.RunUpdate{}, kick: make(chan struct{}, 1)}
}

func (w *runWriter) add(up store.RunUpdate) {
	if w.s.crashed.Load() {
		return
	}
	w.mu.Lock()
	if _, ok := w.pending[up.ID]; !ok {
		w.order = append(w.order, up.ID)
	}
	w.pending[up.ID] = up
	n := len(w.order)
	w.mu.Unlock()
	if n >= writerBatch {
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
	t := time.NewTicker(writerInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		if err := w.flush(ctx); err != nil && ctx.Err() == nil {
			w.s.log.Warn("write run states", "err", err)
		}
	}
}

func (w *runWriter) flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	if w.s.crashed.Load() {
		return nil
	}
	w.mu.Lock()
	if len(w.order) == 0 {
		w.mu.Unlock()
		return nil
	}
	ups := make([]store.RunUpdate, 0, len(w.order))
	for _, id := range w.order {
		ups = append(ups, w.pending[id])
	}
	w.pending = map[int64]store.RunUpdate{}
	w.order = nil
	w.mu.Unlock()
	n, err := w.s.st.UpdateRuns(ctx, w.s.NodeID(), ups)
	if err != nil {
		// Keep them for the next flush, unless a newer state came in.
		w.mu.Lock()
		for _, up := range ups {
			if _, ok := w.pending[up.ID]; !ok {
				w.pending[up.ID] = up
				w.order = append(w.order, up.ID)
			}
		}
		w.mu.Unlock()
		return err
	}
	if int(n) < len(ups) {
		w.s.log.Warn("runs were taken over by another node; their state from this node was not written", "runs", len(ups)-int(n))
	}
	return nil
}
