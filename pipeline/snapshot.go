package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-db/sluice/apply"
	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
	"github.com/sluice-db/sluice/mysql/capture"
	"github.com/sluice-db/sluice/mysql/schema"
	"github.com/sluice-db/sluice/snapshot"
)

// The runner's hooks for the initial copy (package snapshot). A pipeline
// copies the existing rows of its tables when it has no checkpoint yet,
// Snapshot is not "none" and no From was given, and it resumes a copy the
// target records as unfinished. The copier sits between capture and the
// applier: every transaction passes through it, and it adds the chunk
// transactions whose window closes.

// errCopyDone stops a "snapshot only" run that has nothing left to copy.
var errCopyDone = errors.New("initial copy already complete")

// openCopy returns the copier this run needs, or nil.
func (r *Runner) openCopy(ctx context.Context, app *apply.Applier, cp apply.Checkpoint) (*snapshot.Copier, error) {
	if r.cfg.Snapshot == "none" {
		return nil, nil
	}
	st, err := snapshot.LoadState(ctx, app.DB(), r.cfg.StateSchema, r.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: target %s: %w", r.cfg.Name, r.tgt, err)
	}
	switch {
	case st.Complete():
		if r.cfg.Snapshot == "only" {
			return nil, errCopyDone
		}
		return nil, nil
	case st.Planned:
	case cp.Position.IsZero() && r.cfg.From == "":
	default:
		if r.cfg.Snapshot == "only" {
			return nil, fmt.Errorf("pipeline %q: --snapshot=only, but the pipeline already has a checkpoint (%s) and no copy to finish", r.cfg.Name, cp.Position)
		}
		return nil, nil
	}
	c, err := snapshot.Open(ctx, snapshot.Config{
		Pipeline:    r.cfg.Name,
		Source:      r.src,
		Flavor:      r.flavor,
		Target:      app.DB(),
		StateSchema: r.cfg.StateSchema,
		Selected:    func(s, t string) bool { return r.sel.Match(s, t) != nil },
		Map:         r.copyMapping,
		Lag:         r.currentLag,
		Options:     r.cfg.Copy,
		Logger:      r.log,
	}, st)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.copier = c
	r.mu.Unlock()
	return c, nil
}

// copyMapping maps a source table for the copier. It builds the mapping
// afresh (the Mapper's cache belongs to the stream's goroutine).
func (r *Runner) copyMapping(t *change.Table) (*snapshot.Mapping, error) {
	rule := r.sel.Match(t.Schema, t.Name)
	if rule == nil {
		return nil, nil
	}
	mp, err := buildMapping(rule, t)
	if err != nil {
		return nil, err
	}
	return &snapshot.Mapping{Target: mp.Target, Project: mp.Project}, nil
}

// copyCapture adjusts capture for a copy: the watermark method needs the
// rows of its watermark table decoded (with a definition of its own, so
// that the schema history need not know the table), and the snapshot
// method learns from heartbeats that an idle stream has passed a chunk,
// so they come often.
func copyCapture(cc *capture.Config, hist *schema.History, c *snapshot.Copier) {
	if s, t, ok := c.WatermarkTable(); ok {
		cc.History = &watermarkHistory{History: hist, schema: s, table: t}
		wanted := cc.TableFilter
		cc.TableFilter = func(schema, table string) bool {
			return schema == s && table == t || wanted(schema, table)
		}
	} else {
		cc.Heartbeat = 100 * time.Millisecond
	}
	onProgress := cc.OnProgress
	cc.OnProgress = func(p capture.Progress) {
		if onProgress != nil {
			onProgress(p)
		}
		c.Progress(p.Position, p.SourceEnd, p.CaughtUp)
	}
}

// watermarkHistory is the schema history with the watermark table added.
type watermarkHistory struct {
	*schema.History
	schema, table string
}

func (h *watermarkHistory) ResolveTable(tm *binlog.TableMap, pos change.Position) (*change.Table, error) {
	if tm.Table == h.table && tm.Schema == h.schema {
		return binlog.TableFromMap(tm), nil
	}
	return h.History.ResolveTable(tm, pos)
}

// copyStatus is the copy's progress for Status; nil without a copy.
func (r *Runner) copyStatus() *snapshot.Progress {
	r.mu.Lock()
	c := r.copier
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	p := c.Status()
	return &p
}

// runCopy starts the copier's goroutine. Chunks reach the applier through
// enqueue, on capture's goroutine; once a "snapshot only" copy is complete,
// capture is stopped. The returned channel closes when the goroutine ends.
func (r *Runner) runCopy(ctx context.Context, c *snapshot.Copier, enqueue snapshot.Enqueue, stopCapture func(), errs chan<- error) <-chan struct{} {
	var onComplete func()
	if r.cfg.Snapshot == "only" {
		onComplete = stopCapture
	}
	c.SetEnqueue(ctx, enqueue, onComplete)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs <- err
		}
	}()
	return done
}

func (r *Runner) currentLag() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lag.current(time.Now())
}
