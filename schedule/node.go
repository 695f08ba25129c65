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

// heartbeatLoop renews the node's lease (and publishes its progress) every
// Heartbeat. Nothing else is on this loop: a renewal waiting behind slower
// work (settling a dead node, reading the nodes table from a busy database)
// could let the lease run out, and the node be declared dead, while it is
// well.
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
		if err := s.renew(ctx); err != nil {
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

// surveyLoop looks at the other nodes every Heartbeat.
func (s *Scheduler) surveyLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.survey(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("look at the other nodes", "node", s.NodeID(), "err", err)
		}
	}
}

// heartbeatOnce renews the lease and surveys the other nodes.
func (s *Scheduler) heartbeatOnce(ctx context.Context) error {
	if err := s.renew(ctx); err != nil {
		return err
	}
	return s.survey(ctx)
}

// renew renews the lease and publishes the node's progress; a node that
// finds itself declared dead rejoins.
func (s *Scheduler) renew(ctx context.Context) error {
	if s.crashed.Load() {
		return nil
	}
	sent := time.Since(s.base)
	prog := s.claims.progress()
	prog.RunsFrom, prog.OldRuns = s.held.where(s.clock.Now(), nil)
	ok, err := s.st.Heartbeat(ctx, s.NodeID(), s.opts.Lease, prog)
	if err != nil {
		return err
	}
	if !ok {
		return s.rejoin(ctx)
	}
	s.extendLease(sent)
	return nil
}

// survey resamples the meta store's clock, reads which nodes are alive,
// settles the runs of nodes that died or stopped, and honours cancel
// requests.
func (s *Scheduler) survey(ctx context.Context) error {
	if s.crashed.Load() {
		return nil
	}
	s.surveyMu.Lock()
	defer s.surveyMu.Unlock()
	if err := s.clock.sample(ctx); err != nil {
		s.log.Warn("sample meta store clock", "err", err)
	}
	nodes, err := s.st.Nodes(ctx)
	if err != nil {
		return err
	}
	s.peers.Store(&nodes)
	self := s.NodeID()
	v, peers := viewFromNodes(self, s.runKinds, nodes)
	s.claims.setView(v, peers)
	for _, n := range nodes {
		if n.ID == self || (n.State == store.NodeAlive && !n.Expired) {
			continue
		}
		if err := s.settle(ctx, n); err != nil {
			s.log.Warn("settle runs of a node that is gone", "node", n.ID, "err", err)
		}
	}
	var active []int64
	s.starts.each(func(ar *activeRun) {
		if !ar.started.IsZero() || ar.queued {
			active = append(active, ar.runID)
		}
	})
	ids, err := s.st.CancelRequests(ctx, self, active)
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
	// Not while a survey settles another node's runs under the old id.
	s.surveyMu.Lock()
	defer s.surveyMu.Unlock()
	old := s.NodeID()
	s.leaseUntil.Store(0)
	s.starts.dropAll(errLeaseLost)
	s.held.reset()
	s.setNodeID(newNodeID())
	s.log.Warn("this node was declared dead by another node; rejoining under a new id", "old", old, "new", s.NodeID())
	if err := s.register(ctx); err != nil {
		return err
	}
	return s.claims.loadAll(ctx, true)
}

// settle takes over the runs of a node that died (its lease ran out) or
// stopped cleanly. Each run moves to this node only if it is still the gone
// node's (TakeOverRuns), so two nodes settling at once split the work
// without doing any run twice.
//
//   - Claimed and never started (the node stopped cleanly, or the fire is
//     later than the node's lease, past which it starts nothing): run as
//     a fire of this node, or by the misfire policy if it is late by now.
//   - Possibly started (claimed or running before the lease ran out): the
//     attempt failed; retried per the job's retry policy.
//   - Retrying: the retry runs here.
func (s *Scheduler) settle(ctx context.Context, n store.Node) error {
	runs, err := s.st.NodeRuns(ctx, n)
	if err != nil {
		return err
	}
	if len(runs) > 0 {
		// Published before they are taken: were this node to die in
		// between, the node settling it must find them.
		ids := make([]int64, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		from, old := s.held.where(s.clock.Now(), ids)
		if err := s.st.PublishRuns(ctx, s.NodeID(), from, old); err != nil {
			return err
		}
	}
	self := s.NodeID()
	now := s.clock.Now()
	leaseEnd := n.HeartbeatAt.Add(s.opts.Lease)
	// take moves runs to this node in one batch and returns those won.
	take := func(rs []store.Run) ([]store.Run, error) {
		if len(rs) == 0 {
			return nil, nil
		}
		ids := make([]int64, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		won, err := s.st.TakeOverRuns(ctx, ids, n.ID, self, randomToken())
		if err != nil {
			return nil, err
		}
		s.held.add(won, now, true)
		s.stats.TakenOver.Add(int64(len(won)))
		mine := make(map[int64]bool, len(won))
		for _, id := range won {
			mine[id] = true
		}
		var out []store.Run
		for _, r := range rs {
			if mine[r.ID] {
				out = append(out, r)
			}
		}
		return out, nil
	}
	final := func(r store.Run, status, msg string) store.RunUpdate {
		return store.RunUpdate{ID: r.ID, JobID: r.JobID, ScheduledTime: r.ScheduledTime, Attempt: r.Attempt, Status: status,
			StartedAt: r.StartedAt, FinishedAt: now, Output: r.Output, Error: msg}
	}
	var started []store.Run
	unstarted := map[int64][]store.Run{}
	for _, r := range runs {
		never := n.State == store.NodeStopped || r.Status == store.RunQueued || !r.ScheduledTime.Before(leaseEnd)
		if (r.Status == store.RunClaimed || r.Status == store.RunQueued) && never {
			unstarted[r.JobID] = append(unstarted[r.JobID], r)
			continue
		}
		started = append(started, r)
	}
	won, err := take(started)
	if err != nil {
		return err
	}
	for _, r := range won {
		job, ok := s.claims.jobRef(r.JobID)
		if !ok {
			s.writer.add(final(r, store.RunCancelled, "the job was deleted; its node "+n.ID+" is gone"))
			continue
		}
		if r.Status == store.RunRetrying {
			s.starts.add(startItem{run: r, at: r.RetryAt, attempt: r.Attempt + 1, ready: now})
			continue
		}
		up := final(r, store.RunFailed, fmt.Sprintf("node %s stopped responding (its lease ran out) during attempt %d", n.ID, r.Attempt))
		if n.State == store.NodeStopped {
			up.Error = fmt.Sprintf("node %s stopped during attempt %d", n.ID, r.Attempt)
		}
		s.finish(job, &r, r.Attempt, "", up)
	}
	// Claimed and never started: decided again here, as fires of this
	// node, by the misfire policy where they are late by now.
	var toRun, toMiss, toCancel []store.Run
	for jobID, rs := range unstarted {
		job, ok := s.claims.job(jobID)
		if !ok {
			toCancel = append(toCancel, rs...)
			continue
		}
		times := make([]time.Time, len(rs))
		byTime := map[time.Time]store.Run{}
		for i, r := range rs {
			times[i] = r.ScheduledTime
			byTime[r.ScheduledTime] = r
		}
		run, missed := SettleLate(job.Policy, times, now)
		for _, f := range run {
			toRun = append(toRun, byTime[f.At])
		}
		for _, t := range missed {
			toMiss = append(toMiss, byTime[t])
		}
	}
	if won, err = take(toRun); err != nil {
		return err
	}
	items := make([]startItem, len(won))
	for i, r := range won {
		items[i] = startItem{run: r, at: r.ScheduledTime, attempt: r.Attempt, ready: now}
	}
	s.starts.addAll(items)
	if won, err = take(toMiss); err != nil {
		return err
	}
	missedRuns := map[int64][]store.Run{}
	for _, r := range won {
		job, _ := s.claims.job(r.JobID)
		s.stats.Missed.Add(1)
		s.writer.add(final(r, store.RunMissed, fmt.Sprintf("missed: node %s claimed it and was gone before starting it; misfire policy %s", n.ID, job.Policy.Misfire)))
		r.Status = store.RunMissed
		missedRuns[r.JobID] = append(missedRuns[r.JobID], r)
	}
	for jobID, rs := range missedRuns {
		if job, ok := s.claims.job(jobID); ok {
			s.alertMissed(job, rs)
		}
	}
	if won, err = take(toCancel); err != nil {
		return err
	}
	for _, r := range won {
		s.writer.add(final(r, store.RunCancelled, "the job was deleted; its node "+n.ID+" is gone"))
	}
	// Mark the node dead once nothing of it is left, so that it is not
	// looked at again.
	left, err := s.st.NodeRuns(ctx, n)
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

// runsWhere says where the runs of every alive node are, this one's
// included: the least of their RunsFrom (0 when one published none) and the
// union of their OldRuns.
func (s *Scheduler) runsWhere() (int64, []int64) {
	from, old := s.held.where(s.clock.Now(), nil)
	if p := s.peers.Load(); p != nil {
		for _, n := range *p {
			if n.ID == s.NodeID() || n.State != store.NodeAlive {
				continue
			}
			if n.RunsFrom <= 0 {
				return 0, nil
			}
			from = min(from, n.RunsFrom)
			old = append(old, n.OldRuns...)
		}
	}
	return from, old
}
