package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-db/sluice/store"
)

// ErrJobNotScheduled is returned by RunNow for a job this node does not
// schedule: its row is invalid, or its kind is switched off here.
var ErrJobNotScheduled = errors.New("job is not scheduled on this node")

// RunNow fires a job once, now, outside its schedule: it claims a run row
// scheduled at the current time on this node and starts it, as any fire.
// The run follows the job's overlap, retry and timeout policies.
func (s *Scheduler) RunNow(ctx context.Context, jobID int64) (store.Run, error) {
	if !s.started.Load() {
		return store.Run{}, errors.New("run job now: the scheduler is not running")
	}
	job, ok := s.claims.job(jobID)
	if !ok {
		// A job saved a moment ago may not be loaded yet.
		if err := s.claims.loadAll(ctx, false); err != nil {
			return store.Run{}, fmt.Errorf("run job %d now: %w", jobID, err)
		}
		if job, ok = s.claims.job(jobID); !ok {
			return store.Run{}, fmt.Errorf("run job %d now: %w", jobID, ErrJobNotScheduled)
		}
	}
	if reason := s.kinds.disabled(job.Job.Kind); reason != "" {
		return store.Run{}, fmt.Errorf("run job %q now: %s: %w", job.Job.Name, reason, ErrJobNotScheduled)
	}
	// Scheduled times are unique per job; a manual fire takes the current
	// millisecond, which a cron fire (whole seconds) rarely shares.
	at := s.clock.Now().Truncate(time.Millisecond)
	for try := 0; try < 3; try++ {
		claimed := s.held.beginClaim()
		runs, err := s.st.ClaimFires(ctx, s.NodeID(), randomToken(), []store.Fire{{JobID: jobID, ScheduledTime: at, Status: store.RunClaimed}})
		if err != nil {
			claimed()
			return store.Run{}, fmt.Errorf("run job %q now: %w", job.Job.Name, err)
		}
		if len(runs) == 1 {
			s.held.add([]int64{runs[0].ID}, s.clock.Now(), false)
		}
		claimed()
		if len(runs) == 1 {
			s.stats.Claimed.Add(1)
			s.starts.add(startItem{run: runs[0], at: at, attempt: runs[0].Attempt, ready: s.clock.Now()})
			return runs[0], nil
		}
		at = at.Add(time.Millisecond)
	}
	return store.Run{}, fmt.Errorf("run job %q now: a run at %s already exists", job.Job.Name, at.Format(time.RFC3339Nano))
}
