package server

import (
	"context"
	"slices"
	"time"

	"github.com/sluice-db/sluice/store"
)

// runWatcher follows the job_runs table: each run's status changes become
// job.run events on the stream, and the runs this node ran feed the job
// metrics. Reading the table (rather than hooking the scheduler) shows the
// console the runs of every node.
type runWatcher struct {
	s        *Server
	interval time.Duration
	maxID    int64
	status   map[int64]string // runs last seen not final, and their status
	names    map[int64]string // job id -> name
	started  map[int64]bool   // runs whose fire delay was observed
}

func newRunWatcher(s *Server, interval time.Duration) *runWatcher {
	return &runWatcher{s: s, interval: interval, status: map[int64]string{}, names: map[int64]string{}, started: map[int64]bool{}}
}

func finalStatus(st string) bool { return !slices.Contains(store.ActiveRunStatuses, st) }

func (w *runWatcher) loop(ctx context.Context) {
	var err error
	if w.maxID, err = w.s.Store.MaxRunID(ctx); err != nil && ctx.Err() == nil {
		w.s.log.Warn("run watcher", "error", err)
	}
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.poll(ctx); err != nil && ctx.Err() == nil {
			w.s.log.Warn("run watcher", "error", err)
		}
	}
}

func (w *runWatcher) poll(ctx context.Context) error {
	ids := make([]int64, 0, len(w.status))
	for id := range w.status {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 1000 {
		// Long-lived claims (far-off retries) should not grow the query
		// without bound; the newest matter most to a watcher.
		for _, id := range ids[:len(ids)-1000] {
			delete(w.status, id)
			delete(w.started, id)
		}
		ids = ids[len(ids)-1000:]
	}
	runs, err := w.s.Store.RunsChangedSince(ctx, w.maxID, ids)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.ID > w.maxID {
			w.maxID = r.ID
		}
		prev, known := w.status[r.ID]
		if known && prev == r.Status {
			continue
		}
		mine := r.NodeID == w.s.nodeID || r.NodeID == w.s.Scheduler.NodeID()
		name := w.jobName(ctx, r.JobID)
		if mine && !r.StartedAt.IsZero() && !w.started[r.ID] && r.Attempt <= 1 {
			w.started[r.ID] = true
			w.s.metrics.jobFireDelay.Observe(max(0, r.StartedAt.Sub(r.ScheduledTime).Seconds()))
		}
		if finalStatus(r.Status) {
			delete(w.status, r.ID)
			delete(w.started, r.ID)
			if mine {
				w.s.metrics.jobRuns.WithLabelValues(name, r.Status).Inc()
				if r.Status == store.RunMissed || r.Misfire {
					w.s.metrics.jobMisfires.WithLabelValues(name).Inc()
				}
			}
		} else {
			w.status[r.ID] = r.Status
		}
		rj := toRunJSON(r, name, false)
		w.s.events.publish(streamEvent{Type: "job.run", Run: &rj})
	}
	return nil
}

func (w *runWatcher) jobName(ctx context.Context, id int64) string {
	if n, ok := w.names[id]; ok {
		return n
	}
	j, err := w.s.Store.Job(ctx, id)
	if err != nil {
		return ""
	}
	if len(w.names) > 100_000 {
		clear(w.names)
	}
	w.names[id] = j.Name
	return j.Name
}
