package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/apply"
	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/capture"
	"github.com/sluice-db/sluice/mysql/source"
	"github.com/sluice-db/sluice/snapshot"
)

// State is where a pipeline is in its life.
type State string

const (
	Starting State = "starting"
	Running  State = "running"
	// Retrying: a transient error (lost connection, deadlock) stopped the
	// pipeline; it restarts from its checkpoint after a backoff.
	Retrying State = "retrying"
	// Paused: an error that retrying cannot fix (a target table lacks a
	// column, a DDL that cannot be mapped, a purged binlog). The checkpoint
	// has not moved past the failing transaction. Resume after fixing the
	// cause, or skip the transaction.
	Paused  State = "paused"
	Stopped State = "stopped"
)

// Runner runs one pipeline: capture from the source, select and map, apply
// to the target. It restarts the flow from the target's checkpoint after
// transient errors and pauses on permanent ones.
type Runner struct {
	cfg     *Config
	src     source.Config
	tgt     source.Config
	sel     *Selection
	mapper  *Mapper
	log     *slog.Logger // with the pipeline's name
	baseLog *slog.Logger

	resume chan struct{}
	flavor change.Flavor // the source's, learnt when a run starts

	mu     sync.Mutex
	status Status
	lag    lagTracker
	app    *apply.Applier // the current run's applier
	// heartbeats read and not yet applied, in binlog order (heartbeat.go)
	heartbeats  []heartbeatSeen
	onHeartbeat func(HeartbeatSample)
	// droppingBegin is the start of a large two-way transaction whose
	// fragments are being dropped (twoway.go).
	droppingBegin change.Position
	copier        *snapshot.Copier // the initial copy of the current or last run (snapshot.go)
}

// Status is a snapshot of a pipeline for the CLI, the API and metrics.
type Status struct {
	Name      string
	State     State
	Error     string
	ErrorTime time.Time
	// Position is the source position the target holds (the checkpoint).
	Position change.Position
	// ReadPosition is how far capture has read.
	ReadPosition change.Position
	// Lag is how far the target is behind the source.
	Lag         time.Duration
	TxnsApplied uint64
	RowsApplied uint64
	DDLsApplied uint64
	TxnsSkipped uint64
	// Conflicts counts two-way conflicts found (each recorded in the
	// target's conflicts table).
	Conflicts uint64
	// Apply is the current run\'s applier counters.
	Apply apply.Stats
	// HeartbeatLag is the lag the last applied heartbeat measured, at
	// HeartbeatAt (pipelines with a heartbeat only).
	HeartbeatLag time.Duration
	HeartbeatAt  time.Time
	StartedAt    time.Time
	LastCommitAt time.Time
	// Copy is the initial copy's progress; nil when the pipeline has none.
	Copy *snapshot.Progress
}

// NewRunner checks the config and prepares a runner.
func NewRunner(cfg *Config, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, err := source.Parse(cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	tgt, err := source.Parse(cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	sel := cfg.Selection()
	r := &Runner{
		cfg: cfg, src: src, tgt: tgt, sel: sel, mapper: NewMapper(sel),
		log:     log.With("pipeline", cfg.Name),
		baseLog: log,
		resume:  make(chan struct{}, 1),
		status:  Status{Name: cfg.Name, State: Starting},
	}
	return r, nil
}

// Status returns the pipeline's current status.
func (r *Runner) Status() Status {
	r.mu.Lock()
	s := r.status
	s.Lag = r.lag.current(time.Now())
	app := r.app
	r.mu.Unlock()
	if app != nil {
		s.Apply = app.Stats()
	}
	s.Copy = r.copyStatus()
	return s
}

// Resume wakes a paused pipeline: it starts again from its checkpoint.
func (r *Runner) Resume() {
	select {
	case r.resume <- struct{}{}:
	default:
	}
}

// Skip adds a rule that skips one source transaction (by GTID or end
// position) and resumes the pipeline.
func (r *Runner) Skip(rule SkipRule) {
	r.mu.Lock()
	r.cfg.Skip = append(r.cfg.Skip, rule)
	r.mu.Unlock()
	r.Resume()
}

func (r *Runner) setState(s State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.State = s
	if err != nil {
		r.status.Error = err.Error()
		r.status.ErrorTime = time.Now()
	} else if s == Running {
		r.status.Error = ""
	}
}

// Run runs the pipeline until ctx is cancelled. It returns nil then. With
// exitOnPause it returns the error that paused the pipeline instead of
// waiting for Resume.
func (r *Runner) Run(ctx context.Context, exitOnPause bool) error {
	r.mu.Lock()
	r.status.StartedAt = time.Now()
	r.mu.Unlock()
	backoff := time.Second
	for {
		err := r.runOnce(ctx)
		if ctx.Err() != nil {
			r.setState(Stopped, nil)
			return nil
		}
		if err == nil {
			r.setState(Stopped, nil)
			return nil
		}
		if apply.IsTransient(err) {
			r.setState(Retrying, err)
			wait := backoff + time.Duration(rand.Int64N(int64(backoff/2)+1))
			r.log.Warn("pipeline stopped by a transient error; restarting from the checkpoint", "error", err, "in", wait.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				r.setState(Stopped, nil)
				return nil
			case <-time.After(wait):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		r.setState(Paused, err)
		r.log.Error("pipeline paused; fix the cause and resume, or skip the transaction", "error", err)
		if exitOnPause {
			return err
		}
		select {
		case <-ctx.Done():
			r.setState(Stopped, nil)
			return nil
		case <-r.resume:
			r.log.Info("pipeline resumed")
		}
	}
}

// runOnce runs capture and apply from the checkpoint until one of them
// stops.
func (r *Runner) runOnce(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.setState(Starting, nil)
	app, cp, err := apply.Open(ctx, apply.Config{
		Pipeline:         r.cfg.Name,
		Target:           r.tgt,
		StateSchema:      r.cfg.StateSchema,
		Workers:          r.workers(),
		Limits:           apply.GroupLimits{MaxRows: r.cfg.Apply.MaxGroupRows, MaxTxns: r.cfg.Apply.MaxGroupTxns},
		ForeignKeyChecks: r.cfg.Apply.ForeignKeyChecks,
		TwoWay:           r.twoWay(),
		QuietPositions:   r.cfg.TwoWay != nil,
		OnCommit:         r.onCommit,
		Logger:           r.log,
	})
	if err != nil {
		return err
	}
	defer app.Close()

	start, err := r.startFrom(cp)
	if err != nil {
		return err
	}
	if r.flavor, err = sourceFlavor(ctx, r.src); err != nil {
		return &apply.Error{Pipeline: r.cfg.Name, Transient: true, Err: err}
	}
	hist, err := openHistory(ctx, r.cfg, r.flavor, app.DB(), cp.Position, r.wanted, r.log)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", r.cfg.Name, err)
	}
	// Initial copy (snapshot.go): nil when this run copies nothing.
	copier, err := r.openCopy(ctx, app, cp)
	if errors.Is(err, errCopyDone) {
		r.log.Info("initial copy already complete; nothing to do with --snapshot=only")
		return nil
	}
	if err != nil {
		return err
	}
	if copier != nil {
		defer copier.Close()
	}
	capCfg := capture.Config{
		Source:      r.src,
		Name:        r.cfg.Name,
		ServerID:    r.cfg.ServerID,
		From:        start,
		History:     hist,
		TableFilter: r.wanted,
		OnProgress:  r.onProgress,
		Logger:      r.baseLog, // capture adds the pipeline's name
	}
	if copier != nil {
		copyCapture(&capCfg, hist, copier)
	} else if cp.Position.IsZero() && (r.cfg.From == "" || strings.EqualFold(r.cfg.From, "now")) {
		// Pin the resolved start as the checkpoint: a restart before the
		// first commit must not resolve "now" again. (Other starts resolve
		// to the same place every time.)
		capCfg.OnStart = app.SaveStart
	}
	capt, err := capture.New(capCfg)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", r.cfg.Name, err)
	}
	r.mu.Lock()
	r.app = app
	r.heartbeats = r.heartbeats[:0]
	r.status.Position = cp.Position
	r.lag.reset(cp.Position)
	r.mu.Unlock()
	r.log.Info("pipeline starting", "from", start.String(), "epoch", cp.Epoch)
	r.setState(Running, nil)
	if r.cfg.Heartbeat > 0 {
		go r.writeHeartbeats(ctx)
	}

	// Transactions wait in a queue bounded by count and by rows; the
	// forwarder hands them to the applier one by one and gives their rows
	// back to the budget as the applier takes them.
	queue := make(chan *change.Txn, 1024)
	toApply := make(chan *change.Txn)
	budget := newRowBudget(maxQueuedRows)
	errs := make(chan error, 3)
	enqueue := func(ctx context.Context, out *change.Txn) error {
		if err := budget.acquire(ctx, weight(out)); err != nil {
			return err
		}
		select {
		case queue <- out:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Capture stops on its own context, so that a "snapshot only" run can
	// end the stream and let the applier commit what is queued.
	captureCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()
	if copier != nil {
		copyDone := r.runCopy(ctx, copier, enqueue, stopCapture, errs)
		defer func() { cancel(); <-copyDone }()
	}
	go func() {
		defer close(queue)
		errs <- capt.Run(captureCtx, func(ctx context.Context, txn *change.Txn) error {
			if copier != nil {
				r.noteRead(txn)
				return copier.Deliver(ctx, txn, r.shape)
			}
			out, err := r.shape(txn)
			if err != nil {
				return err
			}
			r.noteRead(txn)
			return enqueue(ctx, out)
		})
	}()
	go func() {
		defer close(toApply)
		for t := range queue {
			select {
			case toApply <- t:
				budget.release(weight(t))
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { errs <- app.Run(ctx, toApply) }()
	first := <-errs
	if copier != nil && r.cfg.Snapshot == "only" && copier.Complete() && errors.Is(first, context.Canceled) && ctx.Err() == nil {
		// Everything is copied and queued; capture has stopped. The
		// applier returns once it has committed the rest.
		return <-errs
	}
	cancel()
	second := <-errs
	for _, err := range []error{first, second} {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return ctx.Err()
}

// maxQueuedRows bounds the row changes read but not yet taken by the
// applier.
const maxQueuedRows = 20000

func weight(t *change.Txn) int { return max(1, len(t.Changes)) }

// startFrom turns the checkpoint, or the configured start for a new
// pipeline, into where capture begins.
func (r *Runner) startFrom(cp apply.Checkpoint) (capture.Start, error) {
	if !cp.Position.IsZero() {
		if cp.Position.GTID != "" {
			return capture.ParseStart(cp.Position.GTID, time.UTC)
		}
		return capture.ParseStart(fmt.Sprintf("%s:%d", cp.Position.File, cp.Position.Offset), time.UTC)
	}
	from := r.cfg.From
	if from == "" {
		from = "now"
	}
	s, err := capture.ParseStart(from, time.Local)
	if err != nil {
		return capture.Start{}, fmt.Errorf("pipeline %q: from: %w", r.cfg.Name, err)
	}
	return s, nil
}

// wanted tells capture which tables' rows to decode: the selected ones, and
// in a two-way pipeline the mark table.
func (r *Runner) wanted(schema, table string) bool {
	return r.mapper.Selected(schema, table) || r.isMarkTable(schema, table) || r.isHeartbeatTable(schema, table)
}

func (r *Runner) isMarkTable(schema, table string) bool {
	return r.cfg.TwoWay != nil && schema == r.cfg.StateSchema && table == markTable
}

// shape selects and maps one source transaction for the target. A
// transaction with nothing for the target still goes on, empty, so the
// checkpoint moves past it.
func (r *Runner) shape(txn *change.Txn) (*change.Txn, error) {
	if r.dropMarked(txn) {
		// Applied here by this channel: it goes no further, only the
		// position moves.
		txn.Changes, txn.DDL = nil, nil
		return txn, nil
	}
	r.mu.Lock()
	skip := r.cfg.Skip
	r.mu.Unlock()
	for _, s := range skip {
		if s.Matches(txn) {
			r.log.Warn("skipping transaction by rule", "gtid", txn.GTID, "end", txn.End.String())
			r.mu.Lock()
			r.status.TxnsSkipped++
			r.mu.Unlock()
			txn.Changes, txn.DDL = nil, nil
			return txn, nil
		}
	}
	if txn.DDL != nil {
		r.mapper.Reset()
		if !r.sel.Ops.DDL {
			txn.DDL = nil
			return txn, nil
		}
		d, err := r.mapper.MapDDL(*txn.DDL, r.flavor)
		if err != nil {
			return nil, fmt.Errorf("pipeline %q at %s: %w", r.cfg.Name, txn.End, err)
		}
		if d.Action == DDLSkip {
			r.log.Debug("ddl not replicated", "reason", d.Reason, "statement", abbreviate(txn.DDL.Statement))
			txn.DDL = nil
			return txn, nil
		}
		mapped := d.DDL
		txn.DDL = &mapped
		return txn, nil
	}
	out := txn.Changes[:0]
	for _, c := range txn.Changes {
		if ts, ok := r.heartbeatOf(&c); ok {
			// The heartbeat goes to the target's table of the same name.
			r.mu.Lock()
			if len(r.heartbeats) < maxPending {
				r.heartbeats = append(r.heartbeats, heartbeatSeen{end: txn.End, ts: ts, read: time.Now()})
			}
			r.mu.Unlock()
			out = append(out, c)
			continue
		}
		if !r.sel.Ops.allows(c.Op) {
			continue
		}
		mp, err := r.mapper.Map(c.Table)
		if err != nil {
			return nil, fmt.Errorf("pipeline %q at %s: %w", r.cfg.Name, txn.End, err)
		}
		if mp == nil {
			continue
		}
		nc := mp.Apply(c)
		if nc.Op == change.Update && mp.Project != nil && rowsEqual(nc.Before, nc.After) {
			continue // only excluded columns changed
		}
		out = append(out, nc)
	}
	clear(txn.Changes[len(out):])
	txn.Changes = out
	return txn, nil
}

func rowsEqual(a, b change.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

func (r *Runner) noteRead(txn *change.Txn) {
	if txn.More {
		return
	}
	r.mu.Lock()
	r.status.ReadPosition = txn.End
	r.lag.read(txn.End, txn.Timestamp)
	r.mu.Unlock()
}

func (r *Runner) onCommit(c apply.Committed) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Position = c.Position
	r.status.TxnsApplied += uint64(c.Txns)
	r.status.RowsApplied += uint64(c.Rows)
	if c.DDL {
		r.status.DDLsApplied++
	}
	r.status.Conflicts += uint64(c.Conflicts)
	r.status.LastCommitAt = now
	r.lag.committed(c.Position, c.Timestamp, now)
	r.heartbeatsApplied(c.Position, now)
}

func (r *Runner) onProgress(p capture.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.CaughtUp {
		r.lag.caughtUp(p.Position, p.Time)
	}
}
