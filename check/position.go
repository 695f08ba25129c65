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
	if mode == PositionAuto {
		switch {
		case o.Pipeline != "":
			mode = PositionPipeline
		default:
			st, err := replicaStatus(ctx, tgt.db)
			if err == nil && st != nil && st.sourceID == strconv.FormatUint(uint64(src.serverID), 10) {
				mode = PositionReplica
			} else {
				mode = PositionNone
			}
		}
	}
	switch mode {
	case PositionPipeline:
		q := "SELECT binlog_file, binlog_pos FROM " + quoteIdent(o.CheckpointSchema) + ".`checkpoint` WHERE pipeline = ?"
		w := &tracker{name: "pipeline " + o.Pipeline, timeout: o.WaitTimeout, every: 50 * time.Millisecond}
		w.poll = func(ctx context.Context) (change.Position, string, error) {
			var cur change.Position
			err := tgt.db.QueryRowContext(ctx, q, o.Pipeline).Scan(&cur.File, &cur.Offset)
			if err == sql.ErrNoRows {
				return cur, "", fmt.Errorf("pipeline %q has no checkpoint in the target's %s.checkpoint", o.Pipeline, o.CheckpointSchema)
			}
			if err != nil {
				return cur, "", fmt.Errorf("read pipeline %q checkpoint: %w", o.Pipeline, err)
			}
			return cur, "its checkpoint is at " + cur.String(), nil
		}
		return w, nil, nil
	case PositionReplica:
		st, err := replicaStatus(ctx, tgt.db)
		if err != nil {
			return nil, nil, fmt.Errorf("read the target's replication status: %w", err)
		}
		if st == nil {
			return nil, nil, fmt.Errorf("target %s is not a replica", tgt.cfg)
		}
		if st.sourceID != strconv.FormatUint(uint64(src.serverID), 10) {
			return nil, nil, fmt.Errorf("target %s replicates from server id %s, not from the source (server id %d)", tgt.cfg, st.sourceID, src.serverID)
		}
		w := &tracker{name: "replica", timeout: o.WaitTimeout, every: 50 * time.Millisecond}
		w.poll = func(ctx context.Context) (change.Position, string, error) {
			st, err := replicaStatus(ctx, tgt.db)
			if err != nil {
				return change.Position{}, "", fmt.Errorf("read the target's replication status: %w", err)
			}
			if st == nil {
				return change.Position{}, "", fmt.Errorf("target %s stopped being a replica", tgt.cfg)
			}
			note := "it has applied up to " + st.applied.String()
			if !st.sqlRunning {
				note = "its replication SQL thread is not running (" + note + ")"
			}
			return st.applied, note, nil
		}
		return w, nil, nil
	}
	warnings := []string{"the target's replication position is unknown (no --pipeline, not a replica of the source): " +
		"differences are re-checked after a delay, which is right only when no changes are in flight"}
	return noWaiter{}, warnings, nil
}

type noWaiter struct{}

func (noWaiter) wait(context.Context, change.Position) error { return nil }
func (noWaiter) String() string                              { return "none" }

// tracker follows how far the target has applied the source's binlog by
// polling it (a replica's status or a pipeline's checkpoint row). Many
// chunks wait at once while the target lags; one of them polls at a time,
// at most every `every`, and each returns as soon as its own position is
// reached, whatever order they asked in. So a check in flight holds one
// target connection for waiting, however many chunks wait.
type tracker struct {
	name    string
	timeout time.Duration
	every   time.Duration
	// poll returns the source position the target has applied, and a note
	// for the timeout error.
	poll func(ctx context.Context) (change.Position, string, error)

	mu       sync.Mutex
	reached  change.Position
	note     string
	polling  bool
	lastPoll time.Time
	changed  chan struct{} // closed after every poll
}

func (w *tracker) String() string { return w.name }

func (w *tracker) wait(ctx context.Context, p change.Position) error {
	if p.File == "" {
		return nil
	}
	deadline := time.Now().Add(w.timeout)
	for {
		w.mu.Lock()
		if w.reached.File != "" && w.reached.Compare(p) >= 0 {
			w.mu.Unlock()
			return nil
		}
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		if time.Now().After(deadline) {
			note := w.note
			w.mu.Unlock()
			return fmt.Errorf("the target (%s) did not apply source position %s within %s: %s", w.name, p, w.timeout, note)
		}
		if w.polling {
			ch := w.changed
			w.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		w.polling = true
		next := w.lastPoll.Add(w.every)
		w.mu.Unlock()
		if err := w.pollOnce(ctx, next); err != nil {
			return err
		}
	}
}

// pollOnce reads the target's position no earlier than not-before and
// wakes every waiter.
func (w *tracker) pollOnce(ctx context.Context, notBefore time.Time) error {
	err := sleep(ctx, time.Until(notBefore))
	var cur change.Position
	var note string
	if err == nil {
		cur, note, err = w.poll(ctx)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polling = false
	w.lastPoll = time.Now()
	if err == nil {
		w.note = note
		if w.reached.File == "" || w.reached.Compare(cur) < 0 {
			w.reached = cur
		}
	}
	close(w.changed)
	w.changed = make(chan struct{})
	return err
}

// replicaState is what the check needs from SHOW REPLICA STATUS.
type replicaState struct {
	sourceID   string
	applied    change.Position // source position up to which every event was executed
	sqlRunning bool
}

// replicaStatus reads a native replica's status under either vocabulary
// (MySQL 8.0.22+ says Source/Replica, MariaDB and older MySQL Master/Slave);
// nil when the server is not a replica.
func replicaStatus(ctx context.Context, db *sql.DB) (*replicaState, error) {
	m, err := queryMap(ctx, db, "SHOW REPLICA STATUS")
	if err != nil {
		var err2 error
		if m, err2 = queryMap(ctx, db, "SHOW SLAVE STATUS"); err2 != nil {
			return nil, err
		}
	}
	if m == nil {
		return nil, nil
	}
	pick := func(names ...string) string {
		for _, n := range names {
			if v, ok := m[n]; ok {
				return v
			}
		}
		return ""
	}
	st := &replicaState{
		sourceID:   pick("Master_Server_Id", "Source_Server_Id"),
		sqlRunning: pick("Slave_SQL_Running", "Replica_SQL_Running") == "Yes",
	}
	st.applied.File = pick("Relay_Master_Log_File", "Relay_Source_Log_File")
	st.applied.Offset, _ = strconv.ParseUint(pick("Exec_Master_Log_Pos", "Exec_Source_Log_Pos"), 10, 64)
	return st, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
