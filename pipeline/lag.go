package pipeline

import (
	"time"

	"github.com/sluice-db/sluice/change"
)

// lagTracker measures how far the target is behind the source: the age
// (by source commit time) of the oldest transaction read but not yet
// committed on the target. When everything read is committed the target is
// caught up and the lag is zero. It is plain code over plain values.
type lagTracker struct {
	pending []readTxn // read, not yet committed, in binlog order
}

type readTxn struct {
	end change.Position
	ts  time.Time
}

// maxPending bounds memory when apply falls far behind; the oldest entries
// are what the lag needs, so newer ones are dropped.
const maxPending = 1 << 16

func (l *lagTracker) reset(change.Position) { l.pending = l.pending[:0] }

func (l *lagTracker) read(end change.Position, ts time.Time) {
	if len(l.pending) < maxPending {
		l.pending = append(l.pending, readTxn{end: end, ts: ts})
	}
}

func (l *lagTracker) committed(pos change.Position, _ time.Time, _ time.Time) {
	n := 0
	for n < len(l.pending) && l.pending[n].end.Compare(pos) <= 0 {
		n++
	}
	if n > 0 {
		l.pending = append(l.pending[:0], l.pending[n:]...)
	}
}

func (l *lagTracker) caughtUp(change.Position, time.Time) {}

func (l *lagTracker) current(now time.Time) time.Duration {
	if len(l.pending) == 0 || l.pending[0].ts.IsZero() {
		return 0
	}
	d := now.Sub(l.pending[0].ts)
	if d < 0 {
		return 0
	}
	return d
}
