package schedule

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluice-db/sluice/store"
)

// retentionEvery is how often the leader removes old runs.
const retentionEvery = 10 * time.Minute

func (s *Scheduler) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	var lastRetention time.Time
	var retaining atomic.Bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.heartbeatOnce(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("heartbeat", "node", s.NodeID(), "err", err)
			}
			continue
		}
		if s.opts.RunRetention > 0 && s.claims.leader() && time.Since(lastRetention) > retentionEvery && retaining.CompareAndSwap(false, true) {
			lastRetention = time.Now()
			go func() {
				defer retaining.Store(false)
				s.retain(ctx)
			}()
		}
	}
}

// heartbeatOnce renews the lease, resamples the meta store's clock, reads
// which nodes are alive, settles the runs of nodes that died or stopped, and
// honours cancel requests.
func (s *Scheduler) heartbeatOnce(ctx context.Context) error {
	if s.crashed.Load() {
		return nil
	}
	sent := time.Since(s.base)
	ok, err := s.st.RenewLease(ctx, s.NodeID(), s.opts.Lease)
	if err != nil {
		return err
	}
	if !ok {
		return s.rejoin(ctx)
	}
	s.extendLease(sent)
	if err := s.clock.sample(ctx); err != nil {
		s.log.Warn("sample meta store clock", "err", err)
	}
	nodes, err := s.st.Nodes(ctx)
	if err != nil {
		return err
	}
	self := s.NodeID()
	alive := []string{self}
	for _, n := range nodes {
		if n.ID == self {
			continue
		}
		if n.State == store.NodeAlive && !n.Expired {
			alive = append(alive, n.ID)
			continue
		}
		if err := s.settle(ctx, n); err != nil {
			s.log.Warn("settle runs of a node that is gone", "node", n.ID, "err", err)
		}
	}
	s.claims.setMembers(alive)
	ids, err := s.st.CancelRequests(ctx, self)
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.starts.cancel(id, errCancelAsked)
	}
	return nil
}

// rejoin handles being declared dead while still running (a long pause, a
// partition): another node has settled this node's runs, so it drops them
// all and joins again under a new id, reading its place in each schedule
// from the table.
func (s *Scheduler) rejoin(ctx context.Context) error {
	old := s.NodeID()
	s.leaseUntil.Store(0)
	s.starts.dropAll(errLeaseLost)
	s.nodeMu.Lock()
	s.nodeID = newNodeID()
	s.nodeMu.Unlock()
	s.log.Warn("this node was declared dead by another node; rejoining under a new id", "old", old, "new", s.NodeID())
	if err := s.register(ctx); err != nil {
		return err
	}
	return s.claims.loadAll(ctx, true)
}

// settle takes over the runs of a node that died (its lease ran out) or
// stopped cleanly. Each run moves to this node only if it is still the gone
// node's (TakeOverRun), so two nodes settling at once split the work
// without doing any run twice.
//
//   - Claimed and never started (the node stopped cleanly, or the fire is
//     later than the node's lease, past which it starts nothing): run as
//     a fire of this node, or by the misfire policy if it is late by now.
//   - Possibly started (claimed or running before the lease ran out): the
//     attempt failed; retried per the job's retry policy.
//   - Retrying: the retry runs here.
func (s *Scheduler) settle(ctx context.Context, n store.Node) error {
	runs, err := s.st.NodeRuns(ctx, n.ID)
	if err != nil {
		return err
	}
	self := s.NodeID()
	now := s.clock.Now()
	leaseEnd := n.HeartbeatAt.Add(s.opts.Lease)
	unstarted := map[int64][]store.Run{}
	for _, r := range runs {
		never := n.State == store.NodeStopped || r.Status == store.RunQueued || !r.ScheduledTime.Before(leaseEnd)
		if (r.Status == store.RunClaimed || r.Status == store.RunQueued) && never {
			unstarted[r.JobID] = append(unstarted[r.JobID], r)
			continue
		}
		won, err := s.st.TakeOverRun(ctx, r.ID, n.ID, self, randomToken())
		if err != nil {
			return err
		}
		if !won {
			continue
		}
		s.stats.TakenOver.Add(1)
		job, ok := s.claims.job(r.JobID)
		if !ok {
			s.writer.add(store.RunUpdate{ID: r.ID, Attempt: r.Attempt, Status: store.RunCancelled, StartedAt: r.StartedAt, FinishedAt: now,
				Output: r.Output, Error: "the job was deleted; its node " + n.ID + " is gone"})
			continue
		}
		if r.Status == store.RunRetrying {
			s.starts.add(startItem{run: r, at: r.RetryAt, attempt: r.Attempt + 1})
			continue
		}
		up := store.RunUpdate{ID: r.ID, Attempt: r.Attempt, Status: store.RunFailed, StartedAt: r.StartedAt, FinishedAt: now, Output: r.Output,
			Error: fmt.Sprintf("node %s stopped responding (its lease ran out) during attempt %d", n.ID, r.Attempt)}
		if n.State == store.NodeStopped {
			up.Error = fmt.Sprintf("node %s stopped during attempt %d", n.ID, r.Attempt)
		}
		s.finish(job, r, startItem{run: r, attempt: r.Attempt}, up)
	}
	for jobID, rs := range unstarted {
		job, ok := s.claims.job(jobID)
		times := make([]time.Time, len(rs))
		byTime := map[time.Time]store.Run{}
		for i, r := range rs {
			times[i] = r.ScheduledTime
			byTime[r.ScheduledTime] = r
		}
		var run []Fire
		var missed []time.Time
		if ok {
			run, missed = SettleLate(job.Policy, times, now)
		}
		var missedRuns []store.Run
		take := func(t time.Time) (store.Run, bool, error) {
			r := byTime[t]
			won, err := s.st.TakeOverRun(ctx, r.ID, n.ID, self, randomToken())
			if won {
				s.stats.TakenOver.Add(1)
			}
			return r, won, err
		}
		for _, f := range run {
			r, won, err := take(f.At)
			if err != nil {
				return err
			}
			if won {
				s.starts.add(startItem{run: r, at: r.ScheduledTime, attempt: r.Attempt})
			}
		}
		for _, t := range missed {
			r, won, err := take(t)
			if err != nil {
				return err
			}
			if won {
				s.stats.Missed.Add(1)
				s.writer.add(store.RunUpdate{ID: r.ID, Attempt: r.Attempt, Status: store.RunMissed, FinishedAt: now,
					Error: fmt.Sprintf("missed: node %s claimed it and was gone before starting it; misfire policy %s", n.ID, job.Policy.Misfire)})
				r.Status = store.RunMissed
				missedRuns = append(missedRuns, r)
			}
		}
		if !ok {
			for _, r := range rs {
				if _, won, err := take(r.ScheduledTime); err != nil {
					return err
				} else if won {
					s.writer.add(store.RunUpdate{ID: r.ID, Attempt: r.Attempt, Status: store.RunCancelled, FinishedAt: now,
						Error: "the job was deleted; its node " + n.ID + " is gone"})
				}
			}
		}
		if len(missedRuns) > 0 {
			s.alertMissed(job, missedRuns)
		}
	}
	// Mark the node dead once nothing of it is left, so that it is not
	// looked at again.
	left, err := s.st.NodeRuns(ctx, n.ID)
	if err != nil {
		return err
	}
	if len(left) == 0 {
		if _, err := s.st.SetNodeState(ctx, n.ID, n.State, store.NodeDead); err != nil {
			return err
		}
		if len(runs) > 0 {
			s.log.Info("settled the runs of a gone node", "node", n.ID, "state", n.State, "runs", len(runs))
		}
	}
	return nil
}

// retain removes old runs and long-gone nodes.
func (s *Scheduler) retain(ctx context.Context) {
	now := s.clock.Now()
	n, err := s.st.DeleteRunsBefore(ctx, now.Add(-s.opts.RunRetention))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("delete old runs", "err", err)
		}
		return
	}
	if n > 0 {
		s.log.Info("deleted old runs", "runs", n, "older than", s.opts.RunRetention)
	}
	if err := s.st.DeleteNodesBefore(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
		s.log.Warn("delete old nodes", "err", err)
	}
}
