package check

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
)

// positionWaiter knows how far the target has applied the source's binlog
// and waits until it has applied a given source position.
type positionWaiter interface {
	wait(ctx context.Context, p change.Position) error
	String() string
}

// chooseWaiter picks how the target's position is learned (Options.TargetPosition).
func chooseWaiter(ctx context.Context, o *Options, src, tgt *server) (positionWaiter, []string, error) {
	mode := o.TargetPosition
	var warnings []string
	if mode == PositionAuto {
		switch {
		case o.Pipeline != "":
			mode = PositionPipeline
		default:
			st, err := queryMap(ctx, tgt.db, "SHOW SLAVE STATUS")
			if err == nil && st != nil && st["Master_Server_Id"] == strconv.FormatUint(uint64(src.serverID), 10) {
				mode = PositionReplica
			} else {
				mode = PositionNone
			}
		}
	}
	switch mode {
	case PositionPipeline:
		return &checkpointWaiter{db: tgt.db, schema: o.CheckpointSchema, pipeline: o.Pipeline, timeout: o.WaitTimeout}, nil, nil
	case PositionReplica:
		st, err := queryMap(ctx, tgt.db, "SHOW SLAVE STATUS")
		if err != nil {
			return nil, nil, fmt.Errorf("read the target's replication status: %w", err)
		}
		if st == nil {
			return nil, nil, fmt.Errorf("target %s is not a replica", tgt.cfg)
		}
		if id := st["Master_Server_Id"]; id != strconv.FormatUint(uint64(src.serverID), 10) {
			return nil, nil, fmt.Errorf("target %s replicates from server id %s, not from the source (server id %d)", tgt.cfg, id, src.serverID)
		}
		return &replicaWaiter{db: tgt.db, timeout: o.WaitTimeout}, nil, nil
	}
	warnings = append(warnings, "the target's replication position is unknown (no --pipeline, not a replica of the source): "+
		"differences are re-checked after a delay, which is right only when no changes are in flight")
	return noWaiter{}, warnings, nil
}

type noWaiter struct{}

func (noWaiter) wait(context.Context, change.Position) error { return nil }
func (noWaiter) String() string                              { return "none" }

// replicaWaiter waits on a native replica with MASTER_POS_WAIT, which takes
// the source's own coordinates.
type replicaWaiter struct {
	db      *sql.DB
	timeout time.Duration

	mu      sync.Mutex
	reached change.Position
}

func (w *replicaWaiter) String() string { return "replica" }

func (w *replicaWaiter) wait(ctx context.Context, p change.Position) error {
	if p.File == "" {
		return nil
	}
	w.mu.Lock()
	done := w.reached.File != "" && w.reached.Compare(p) >= 0
	w.mu.Unlock()
	if done {
		return nil
	}
	deadline := time.Now().Add(w.timeout)
	for {
		var res sql.NullInt64
		if err := w.db.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, 1)", p.File, p.Offset).Scan(&res); err != nil {
			return fmt.Errorf("wait for the target replica to apply source position %s: %w", p, err)
		}
		if res.Valid && res.Int64 >= 0 {
			w.mu.Lock()
			if w.reached.File == "" || w.reached.Compare(p) < 0 {
				w.reached = p
			}
			w.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			why := "it is still behind"
			if !res.Valid {
				why = "its replication SQL thread is not running"
			}
			return fmt.Errorf("the target replica did not apply source position %s within %s: %s", p, w.timeout, why)
		}
		if !res.Valid {
			// The SQL thread is stopped (paused, or failed): wait for it to
			// come back rather than spin.
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
}

// checkpointWaiter polls a sluice pipeline's checkpoint row in the target.
type checkpointWaiter struct {
	db       *sql.DB
	schema   string
	pipeline string
	timeout  time.Duration

	mu      sync.Mutex
	reached change.Position
}

func (w *checkpointWaiter) String() string { return "pipeline " + w.pipeline }

func (w *checkpointWaiter) wait(ctx context.Context, p change.Position) error {
	if p.File == "" {
		return nil
	}
	deadline := time.Now().Add(w.timeout)
	q := "SELECT binlog_file, binlog_pos FROM " + quoteIdent(w.schema) + ".`checkpoint` WHERE pipeline = ?"
	delay := 20 * time.Millisecond
	for {
		w.mu.Lock()
		done := w.reached.File != "" && w.reached.Compare(p) >= 0
		w.mu.Unlock()
		if done {
			return nil
		}
		var cur change.Position
		err := w.db.QueryRowContext(ctx, q, w.pipeline).Scan(&cur.File, &cur.Offset)
		if err == sql.ErrNoRows {
			return fmt.Errorf("pipeline %q has no checkpoint in the target's %s.checkpoint", w.pipeline, w.schema)
		}
		if err != nil {
			return fmt.Errorf("read pipeline %q checkpoint: %w", w.pipeline, err)
		}
		w.mu.Lock()
		if w.reached.File == "" || w.reached.Compare(cur) < 0 {
			w.reached = cur
		}
		w.mu.Unlock()
		if cur.Compare(p) >= 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pipeline %q did not apply source position %s within %s (its checkpoint is at %s)", w.pipeline, p, w.timeout, cur)
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
