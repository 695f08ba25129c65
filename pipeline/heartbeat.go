package pipeline

import (
	"context"
	"database/sql"
	"time"

	"github.com/sluice-db/sluice/apply"
	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// heartbeatTable is the table, in the state schema, a pipeline with a
// heartbeat writes on its source every period. The row travels the binlog
// like any change and lands in the target's table of the same name: its
// time, compared with the clock when it is applied, is the lag, to the
// microsecond, even when the source is otherwise quiet.
const heartbeatTable = "heartbeat"

func (r *Runner) isHeartbeatTable(schema, table string) bool {
	return r.cfg.Heartbeat > 0 && schema == r.cfg.StateSchema && table == heartbeatTable
}

// writeHeartbeats writes the heartbeat row on the source until ctx ends.
// Failing writes (no privilege on the source) are logged once and retried.
func (r *Runner) writeHeartbeats(ctx context.Context) {
	db, err := sql.Open("mysql", r.src.DSN())
	if err != nil {
		r.log.Warn("heartbeat: cannot open the source", "error", err)
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	table := sqlbuild.QuoteTable(r.cfg.StateSchema, heartbeatTable)
	warned := false
	ready := false
	tick := time.NewTicker(time.Duration(r.cfg.Heartbeat))
	defer tick.Stop()
	for {
		var err error
		if !ready {
			for _, q := range apply.HeartbeatDDL(r.cfg.StateSchema) {
				if _, err = db.ExecContext(ctx, q); err != nil {
					break
				}
			}
			ready = err == nil
		}
		if ready {
			_, err = db.ExecContext(ctx, "INSERT INTO "+table+" (`pipeline`, `ts`) VALUES (?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE `ts` = VALUES(`ts`)", r.cfg.Name)
		}
		if err != nil && ctx.Err() == nil && !warned {
			r.log.Warn("heartbeat: cannot write the heartbeat row on the source (it needs CREATE and INSERT on the state schema); lag falls back to commit times", "error", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// heartbeatOf returns the time a heartbeat change of this pipeline carries.
func (r *Runner) heartbeatOf(c *change.RowChange) (time.Time, bool) {
	if c.After == nil || !r.isHeartbeatTable(c.Table.Schema, c.Table.Name) {
		return time.Time{}, false
	}
	pi, ti := c.Table.ColumnIndex("pipeline"), c.Table.ColumnIndex("ts")
	if pi < 0 || ti < 0 || pi >= len(c.After) || ti >= len(c.After) || string(c.After[pi].B) != r.cfg.Name {
		return time.Time{}, false
	}
	ts := c.After[ti].Time()
	return ts, !ts.IsZero()
}

// heartbeatSeen is a heartbeat read from the source, waiting to be applied.
type heartbeatSeen struct {
	end  change.Position
	ts   time.Time
	read time.Time // when capture handed it over
}

// HeartbeatSample is what one applied heartbeat measured.
type HeartbeatSample struct {
	// Lag is from the heartbeat's time on the source to its commit on the
	// target.
	Lag time.Duration
	// Read is the part of Lag before capture handed the heartbeat over
	// (the source's commit, the binlog stream, decoding); the rest is the
	// queue and the apply.
	Read time.Duration
}

// SetHeartbeatObserver calls f with what each heartbeat measures, when it
// is applied, from the applier's goroutine (benchmarks, metrics).
func (r *Runner) SetHeartbeatObserver(f func(HeartbeatSample)) {
	r.mu.Lock()
	r.onHeartbeat = f
	r.mu.Unlock()
}

// heartbeatsApplied turns the heartbeats committed up to pos into lag
// samples. The caller holds r.mu.
func (r *Runner) heartbeatsApplied(pos change.Position, now time.Time) {
	n := 0
	for n < len(r.heartbeats) && r.heartbeats[n].end.Compare(pos) <= 0 {
		hb := r.heartbeats[n]
		lag := max(0, now.Sub(hb.ts))
		r.status.HeartbeatLag = lag
		r.status.HeartbeatAt = now
		if r.onHeartbeat != nil {
			r.onHeartbeat(HeartbeatSample{Lag: lag, Read: min(lag, max(0, hb.read.Sub(hb.ts)))})
		}
		n++
	}
	if n > 0 {
		r.heartbeats = append(r.heartbeats[:0], r.heartbeats[n:]...)
	}
}
