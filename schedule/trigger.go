package schedule

import (
	"fmt"
	"time"
)

// MisfirePolicy says what happens to fires that were not claimed in time
// (every node was down, or the node that held them died): fires later than
// the job's misfire threshold.
type MisfirePolicy string

const (
	// MisfireSkip drops every late fire (each is recorded as missed).
	MisfireSkip MisfirePolicy = "skip"
	// MisfireFireOnce runs the latest late fire now and drops the others.
	MisfireFireOnce MisfirePolicy = "fire_once"
	// MisfireCatchUp runs the latest N late fires now, oldest first, and
	// drops the others.
	MisfireCatchUp MisfirePolicy = "catch_up"
)

// Policy is what the trigger decision needs to know about a job.
type Policy struct {
	Misfire MisfirePolicy
	// CatchUp is N for MisfireCatchUp.
	CatchUp int
	// Threshold is how late a fire may be claimed and still be an ordinary
	// fire; later than that it is a misfire.
	Threshold time.Duration
}

// Validate checks the policy's values.
func (p Policy) Validate() error {
	switch p.Misfire {
	case MisfireSkip, MisfireFireOnce:
	case MisfireCatchUp:
		if p.CatchUp < 1 || p.CatchUp > MaxCatchUp {
			return fmt.Errorf("misfire policy catch_up needs 1 to %d fires, got %d", MaxCatchUp, p.CatchUp)
		}
	default:
		return fmt.Errorf("misfire policy %q: want skip, fire_once or catch_up", p.Misfire)
	}
	if p.Threshold < 0 {
		return fmt.Errorf("misfire threshold %s is negative", p.Threshold)
	}
	return nil
}

const (
	// MaxCatchUp bounds catch_up's N.
	MaxCatchUp = 100
	// maxMissedListed bounds the missed fires one decision lists one by
	// one; older ones are summarised (Omitted). A week of downtime of an
	// every-second job is 604,800 fires: they are not all written down.
	maxMissedListed = 100
	// maxPlanned bounds the ordinary fires one decision returns; the rest
	// come in the next decision, from the returned cursor.
	maxPlanned = 1000
)

// Fire is one fire to run.
type Fire struct {
	At time.Time
	// Misfire: it is late and runs because the misfire policy says so.
	Misfire bool
}

// Decision is what to do about one job's fires up to a horizon.
type Decision struct {
	// Run lists fires to claim and start, in time order.
	Run []Fire
	// Missed lists late fires the policy drops, in time order.
	Missed []time.Time
	// Omitted: there were more late fires, older than Missed[0], that are
	// not listed.
	Omitted bool
	// Cursor is the last scheduled time decided: the next decision starts
	// after it.
	Cursor time.Time
}

// Plan is the trigger decision for one job, and does no I/O: given the last
// scheduled time already decided (cursor), the current time and how far
// ahead fires are claimed (horizon >= now), it says which fires in (cursor,
// horizon] run and which are missed. A fire is late when now is more than
// the threshold past it; late fires go by the misfire policy, the others
// all run.
func Plan(s Schedule, p Policy, cursor, now, horizon time.Time) Decision {
	d := Decision{Cursor: cursor}
	lateBound := now.Add(-p.Threshold)
	if cursor.Before(lateBound) {
		late, omitted := lastFiresBefore(s, cursor, lateBound, maxMissedListed+MaxCatchUp)
		if len(late) > 0 {
			run, missed := applyMisfire(p, late)
			for _, t := range run {
				d.Run = append(d.Run, Fire{At: t, Misfire: true})
			}
			if len(missed) > maxMissedListed {
				missed, omitted = missed[len(missed)-maxMissedListed:], true
			}
			d.Missed, d.Omitted = missed, omitted
			d.Cursor = late[len(late)-1]
		}
	}
	// Ordinary fires: from the later of the cursor and the late bound (a
	// fire exactly at the bound is not late).
	from := d.Cursor
	if from.Before(lateBound) {
		from = lateBound.Add(-time.Nanosecond)
	}
	for n := 0; n < maxPlanned; n++ {
		t := s.Next(from)
		if t.IsZero() || t.After(horizon) {
			break
		}
		d.Run = append(d.Run, Fire{At: t})
		d.Cursor, from = t, t
	}
	return d
}

// applyMisfire splits late fires (in time order) into those the policy runs
// and those it drops.
func applyMisfire(p Policy, late []time.Time) (run, missed []time.Time) {
	keep := 0
	switch p.Misfire {
	case MisfireFireOnce:
		keep = 1
	case MisfireCatchUp:
		keep = max(p.CatchUp, 1)
	}
	keep = min(keep, len(late))
	return late[len(late)-keep:], late[:len(late)-keep]
}

// SettleLate decides the fires a dead node claimed and never started, now
// that another node takes them over: those within the threshold run as
// ordinary fires, later ones go by the misfire policy.
func SettleLate(p Policy, fires []time.Time, now time.Time) (run []Fire, missed []time.Time) {
	lateBound := now.Add(-p.Threshold)
	var late []time.Time
	var onTime []Fire
	for _, t := range fires {
		if t.Before(lateBound) {
			late = append(late, t)
		} else {
			onTime = append(onTime, Fire{At: t})
		}
	}
	lr, lm := applyMisfire(p, late)
	for _, t := range lr {
		run = append(run, Fire{At: t, Misfire: true})
	}
	return append(run, onTime...), lm
}

// lastFiresBefore returns up to k of the latest fires in (after, before),
// in time order, and whether older ones in that interval were left out. It
// looks back in growing windows, so that a cursor weeks old does not mean
// enumerating weeks of fires.
func lastFiresBefore(s Schedule, after, before time.Time, k int) ([]time.Time, bool) {
	for span := time.Minute; ; span *= 4 {
		start := before.Add(-span)
		whole := !start.After(after)
		if whole {
			start = after
		}
		ring := make([]time.Time, 0, k)
		count := 0
		for t := s.Next(start); !t.IsZero() && t.Before(before); t = s.Next(t) {
			if len(ring) == k {
				ring = append(ring[:0:0], ring[1:]...)
			}
			ring = append(ring, t)
			count++
		}
		if whole || count > k {
			return ring, count > k
		}
	}
}

// Backoff is the wait before retry attempt+1 after attempt failed: base,
// doubled for each earlier failure, at most an hour.
func Backoff(base time.Duration, attempt int) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	d := base
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// OverlapPolicy says what a fire does when the job's previous run is still
// going.
type OverlapPolicy string

const (
	// OverlapAllow starts the new run alongside.
	OverlapAllow OverlapPolicy = "allow"
	// OverlapForbid skips the new run.
	OverlapForbid OverlapPolicy = "forbid"
	// OverlapReplace cancels the running one and starts the new one.
	OverlapReplace OverlapPolicy = "replace"
	// OverlapQueue lets the new run wait for the running one; a third fire
	// while one already waits is skipped.
	OverlapQueue OverlapPolicy = "queue"
)

// ValidOverlap checks an overlap policy name.
func ValidOverlap(p OverlapPolicy) error {
	switch p {
	case OverlapAllow, OverlapForbid, OverlapReplace, OverlapQueue:
		return nil
	}
	return fmt.Errorf("overlap policy %q: want allow, forbid, replace or queue", p)
}

// OverlapAction is what to do with a run about to start.
type OverlapAction int

const (
	// OverlapStart starts it now.
	OverlapStart OverlapAction = iota
	// OverlapSkip records it as skipped.
	OverlapSkip
	// OverlapWait queues it until the running one ends.
	OverlapWait
	// OverlapCancelOthers cancels the running ones, then starts it.
	OverlapCancelOthers
)

// DecideOverlap is the pure overlap decision, given how many other runs of
// the job are running and how many wait in the queue.
func DecideOverlap(p OverlapPolicy, running, queued int) OverlapAction {
	if running == 0 && queued == 0 {
		return OverlapStart
	}
	switch p {
	case OverlapForbid:
		return OverlapSkip
	case OverlapReplace:
		return OverlapCancelOthers
	case OverlapQueue:
		if queued > 0 {
			return OverlapSkip
		}
		return OverlapWait
	}
	return OverlapStart
}
