package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/source"
)

// Config configures an Applier.
type Config struct {
	// Pipeline names the pipeline; it keys the checkpoint row.
	Pipeline string
	Target   source.Config
	// StateSchema is the target database that holds the checkpoint;
	// default "sluice".
	StateSchema string
	// Workers is how many connections apply non-conflicting groups in
	// parallel; default 4. Commits stay in source order.
	Workers int
	Limits  GroupLimits
	// ForeignKeyChecks keeps foreign_key_checks on in the applier's
	// sessions. Off by default: the source already checked them, and merged
	// groups write in table order, not statement order.
	ForeignKeyChecks bool
	// IdleCheckpoint is how often a checkpoint that only moves the position
	// (transactions the pipeline filtered out) is written; default 1s.
	IdleCheckpoint time.Duration
	// QuietPositions writes a position-only checkpoint only when it reaches
	// a new binlog file. A two-way pipeline needs it: each side's
	// checkpoint write lands in its binlog, and answering every one of them
	// with a write on the other side would never end.
	QuietPositions bool
	// TwoWay, when set, marks every transaction for loop prevention and
	// checks every change for conflicts (see TwoWay).
	TwoWay *TwoWay
	// OnCommit, when set, is called after each group commits, in commit
	// order, from a worker goroutine. It must be quick.
	OnCommit func(Committed)
	Logger   *slog.Logger
}

// Committed describes a group the target has committed.
type Committed struct {
	Position  change.Position
	Timestamp time.Time // source commit time of its last transaction
	Txns      int
	Rows      int
	DDL       bool
	// Conflicts is how many rows of the group conflicted (two-way only).
	Conflicts int
}

// Stats count what an applier did, for metrics and benchmarks.
type Stats struct {
	Groups, Statements, Rows, Txns int64
	// Loaded is how many of the rows went in with LOAD DATA LOCAL.
	Loaded int64
	// Split counts groups that wrote rows before earlier groups they
	// conflict with had executed, leaving the shared rows for last.
	Split int64
	// Exec is time spent running data statements, Commit time spent in
	// checkpoint writes and commits, Wait time workers waited for earlier
	// groups (conflicts and commit order).
	Exec, Commit, Wait time.Duration
}

// Applier applies transactions to one target. Open it, Run it with a channel
// of transactions, Close it.
type Applier struct {
	statsMu sync.Mutex
	stats   Stats

	cfg     Config
	db      *sql.DB
	epoch   uint64
	cp      Checkpoint
	aliases bool
	log     *slog.Logger
	seed    maphash.Seed
}

// Open connects to the target, creates the state schema when missing and
// claims the pipeline's checkpoint (raising its epoch, which fences any
// older owner). The returned checkpoint says where the source must be read
// from; a new pipeline has a zero Position.
func Open(ctx context.Context, cfg Config) (*Applier, Checkpoint, error) {
	if cfg.StateSchema == "" {
		cfg.StateSchema = "sluice"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.IdleCheckpoint <= 0 {
		cfg.IdleCheckpoint = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// clientFoundRows makes an UPDATE report the rows it matched, so a
	// checkpoint write that changes nothing still proves the epoch matched.
	db, err := sql.Open("mysql", cfg.Target.DSN("interpolateParams=true", "maxAllowedPacket=0", "parseTime=false", "clientFoundRows=true", "multiStatements=true"))
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("pipeline %q: open target %s: %w", cfg.Pipeline, cfg.Target, err)
	}
	db.SetMaxOpenConns(cfg.Workers + 2)
	db.SetMaxIdleConns(cfg.Workers + 2)
	a := &Applier{cfg: cfg, db: db, log: cfg.Logger, seed: maphash.MakeSeed()}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		db.Close()
		return nil, Checkpoint{}, fmt.Errorf("pipeline %q: connect to target %s: %w", cfg.Pipeline, cfg.Target, err)
	}
	a.aliases = supportsRowAlias(version)
	if cfg.TwoWay != nil {
		if err := cfg.TwoWay.Validate(); err != nil {
			db.Close()
			return nil, Checkpoint{}, fmt.Errorf("pipeline %q: %w", cfg.Pipeline, err)
		}
	}
	if err := EnsureStateSchema(ctx, db, cfg.StateSchema); err != nil {
		db.Close()
		return nil, Checkpoint{}, fmt.Errorf("pipeline %q: target %s: %w", cfg.Pipeline, cfg.Target, err)
	}
	if cfg.TwoWay != nil {
		for _, q := range twoWayDDL(cfg.StateSchema) {
			if _, err := db.ExecContext(ctx, q); err != nil {
				db.Close()
				return nil, Checkpoint{}, fmt.Errorf("pipeline %q: target %s: create two-way tables: %w", cfg.Pipeline, cfg.Target, err)
			}
		}
	}
	cp, err := ClaimCheckpoint(ctx, db, cfg.StateSchema, cfg.Pipeline)
	if err != nil {
		db.Close()
		return nil, Checkpoint{}, fmt.Errorf("target %s: %w", cfg.Target, err)
	}
	a.epoch, a.cp = cp.Epoch, cp
	return a, cp, nil
}

// supportsRowAlias reports whether the server is MySQL 8.0.19 or newer,
// where INSERT ... AS new replaces the deprecated VALUES() in upserts.
// MariaDB only knows VALUES().
func supportsRowAlias(version string) bool {
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return false
	}
	var major, minor, patch int
	fmt.Sscanf(version, "%d.%d.%d", &major, &minor, &patch)
	return major > 8 || major == 8 && (minor > 0 || patch >= 19)
}

// DB is the target connection pool, for callers that need to read it
// (tests, the lag probe).
func (a *Applier) DB() *sql.DB { return a.db }

// Epoch is the owner epoch this applier claimed.
func (a *Applier) Epoch() uint64 { return a.epoch }

// Close closes the target connections.
func (a *Applier) Close() error { return a.db.Close() }

// task is a group on its way through a worker.
type task struct {
	g *Group
	// dep is the latest earlier group that writes a row g writes. prev is
	// the group dispatched just before g: g commits only after it, so the
	// checkpoint only ever moves forward over a complete prefix of the
	// source.
	//
	// A one-way group starts once dep has executed its statements, not once
	// it has committed: dep then holds the row locks of every row the two
	// share, so g's statements on those rows wait in the server until dep
	// commits, and apply in source order, while the rest of g runs at once.
	// (Two-way groups read target rows for their conflict check, so they
	// wait for dep's commit.) executed closes only after prev's has, so
	// waiting for dep's covers every earlier group that conflicts with g.
	dep, prev *task
	// earlier are the groups in flight that g conflicts with (one-way):
	// the rows g shares with them are written after the rest (split.go).
	earlier   []*Group
	executed  chan struct{}
	committed chan struct{}
	execDone  bool // executed is closed (only the task's worker sets it)
}

// markExecuted closes executed once.
func (t *task) markExecuted() {
	if !t.execDone {
		t.execDone = true
		close(t.executed)
	}
}

// done marks t executed and committed.
func (t *task) done() {
	t.markExecuted()
	close(t.committed)
}

// Run applies the transactions read from in until in is closed (it then
// returns nil once everything is committed), ctx is cancelled, or an error
// stops it. Nothing after the last committed group is applied: a caller
// that restarts reads the source again from the checkpoint.
func (a *Applier) Run(ctx context.Context, in <-chan *change.Txn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{
		a:     a,
		ctx:   ctx,
		abort: make(chan struct{}),
		idle:  make(chan *worker, a.cfg.Workers),
	}
	var wg sync.WaitGroup
	for i := 0; i < a.cfg.Workers; i++ {
		w, err := r.newWorker(i)
		if err != nil {
			r.fail(err)
			break
		}
		r.workers = append(r.workers, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop()
		}()
		r.idle <- w
	}
	if r.err == nil {
		r.coordinate(in)
	}
	for _, w := range r.workers {
		close(w.tasks)
	}
	wg.Wait()
	for _, w := range r.workers {
		w.close()
	}
	if r.err != nil {
		return r.err
	}
	return ctx.Err()
}

// run is the state of one Run call.
type run struct {
	a       *Applier
	ctx     context.Context
	workers []*worker
	idle    chan *worker

	mu        sync.Mutex
	err       error
	abort     chan struct{}
	abortOnce sync.Once

	inflight []*task
	last     *lastDispatch

	posMu     sync.Mutex
	committed change.Position // the position of the last committed group
}

func (r *run) noteCommitted(p change.Position) {
	r.posMu.Lock()
	r.committed = p
	r.posMu.Unlock()
}

func (r *run) lastCommitted() change.Position {
	r.posMu.Lock()
	defer r.posMu.Unlock()
	return r.committed
}

// fail records the first error and stops everything.
func (r *run) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.abortOnce.Do(func() { close(r.abort) })
}

func (r *run) failed() bool {
	select {
	case <-r.abort:
		return true
	default:
		return false
	}
}

// coordinate reads transactions, forms groups and hands them to workers.
// A group closes when it is full or when no more input is waiting: under a
// backlog groups grow large (few statements, few commits), and when the
// source is quiet each transaction goes out at once (low lag).
func (r *run) coordinate(in <-chan *change.Txn) {
	gr := newGrouper(r.a.cfg.Limits, r.a.seed)
	tick := time.NewTicker(r.a.cfg.IdleCheckpoint)
	defer tick.Stop()
	var (
		flow     flowRate
		pending  *change.Txn
		idleOnly *Group // a position-only group waiting to be written
		lastSent = time.Now()
		lastFile = r.a.cp.Position.File
	)
	flush := func() bool {
		g := gr.Take()
		if g == nil {
			return true
		}
		if g.Empty() && r.a.cfg.QuietPositions && g.End.File == lastFile {
			return true
		}
		lastFile = g.End.File
		if g.Empty() {
			// Only the position moved. Write it now and then, not for
			// every filtered-out transaction.
			idleOnly = g
			if time.Since(lastSent) < r.a.cfg.IdleCheckpoint {
				return true
			}
		}
		idleOnly = nil
		lastSent = time.Now()
		return r.dispatch(g)
	}
	// finish writes what is left once the input is closed.
	finish := func() {
		if flush() && idleOnly != nil {
			r.dispatch(idleOnly)
		}
		r.drain()
	}
	for {
		if pending == nil {
			select {
			case t, ok := <-in:
				if !ok {
					finish()
					return
				}
				pending = t
			case <-tick.C:
				if idleOnly != nil && time.Since(lastSent) >= r.a.cfg.IdleCheckpoint {
					g := idleOnly
					idleOnly = nil
					lastSent = time.Now()
					if !r.dispatch(g) {
						return
					}
				}
				continue
			case <-r.abort:
				return
			case <-r.ctx.Done():
				return
			}
		}
		if !gr.Fits(pending) && !flush() {
			return
		}
		flow.add(len(pending.Changes), time.Now())
		gr.Add(pending)
		pending = nil
		if gr.Full() || gr.Rows() >= flow.groupRows() {
			if !flush() {
				return
			}
			continue
		}
		select {
		case t, ok := <-in:
			if !ok {
				finish()
				return
			}
			pending = t
			continue
		default:
		}
		// Nothing is waiting this instant. The group goes out as soon as a
		// worker is free; until then it keeps taking transactions, so that
		// under a backlog groups grow while every worker is busy, and on a
		// quiet source each transaction goes out at once. (Checking only
		// "is input waiting now" is not enough: the producer hands over
		// one transaction at a time and is rarely caught mid-send.)
		select {
		case t, ok := <-in:
			if !ok {
				finish()
				return
			}
			pending = t
		case w := <-r.idle:
			// Only the coordinator takes from idle, so the worker handed
			// back is there for dispatch (which may need another one).
			r.idle <- w
			if !flush() {
				return
			}
		case <-r.abort:
			return
		case <-r.ctx.Done():
			return
		}
	}
}

// groupSpan is about how much of the source's flow one group holds when
// the applier falls behind. A group otherwise grows for as long as every
// worker is busy: after a stall, the first worker free would take the whole
// backlog while the others, with the scraps, wait for its commit. Groups
// of a few tens of milliseconds of flow spread a backlog over all workers;
// during a catch-up, when the flow is the stream's full speed, groups are
// bounded by GroupLimits instead.
const groupSpan = 50 * time.Millisecond

// minSpanRows is the smallest group size groupSpan asks for.
const minSpanRows = 100

// flowRate measures the rows per second coming in, over windows of one
// second.
type flowRate struct {
	start time.Time
	rows  int
	rate  int // rows per second in the last complete window; 0 at first
}

func (f *flowRate) add(rows int, now time.Time) {
	if f.start.IsZero() {
		f.start = now
	}
	f.rows += max(1, rows)
	if d := now.Sub(f.start); d >= time.Second {
		f.rate = int(float64(f.rows) / d.Seconds())
		f.start, f.rows = now, 0
	}
}

// groupRows is the group size that holds about groupSpan of the flow (no
// bound until the first window is measured).
func (f *flowRate) groupRows() int {
	if f.rate == 0 {
		return math.MaxInt
	}
	return max(minSpanRows, int(float64(f.rate)*groupSpan.Seconds()))
}

// dispatch hands g to a worker once one is free. Groups that must run alone
// (DDL, fragments of a large transaction) wait for everything before them.
// It returns false when the run is stopping.
func (r *run) dispatch(g *Group) bool {
	barrier := g.DDL != nil || g.Open || g.Continues
	if barrier && !r.drain() {
		return false
	}
	var w *worker
	if g.Continues && r.last != nil {
		// The rest of a large transaction goes to the connection that holds
		// its open target transaction.
		w = r.last.worker
		if !r.take(w) {
			return false
		}
	} else {
		select {
		case w = <-r.idle:
		case <-r.abort:
			return false
		case <-r.ctx.Done():
			return false
		}
	}
	t := &task{g: g, prev: r.lastTask(), executed: make(chan struct{}), committed: make(chan struct{})}
	r.prune()
	split := r.a.cfg.TwoWay == nil && !r.a.cfg.ForeignKeyChecks && !barrier
	for i := len(r.inflight) - 1; i >= 0; i-- {
		h := r.inflight[i].g
		if !g.ConflictsWith(h) {
			continue
		}
		if t.dep == nil {
			t.dep = r.inflight[i]
		}
		if h.DDL != nil || h.Open {
			// Not a conflict over rows: g waits for the whole group.
			split = false
		}
		if !split {
			t.earlier = nil
			break
		}
		t.earlier = append(t.earlier, h)
	}
	r.inflight = append(r.inflight, t)
	r.last = &lastDispatch{task: t, worker: w}
	w.tasks <- t
	return true
}

// lastDispatch remembers the most recent task and the worker that has it.
type lastDispatch struct {
	task   *task
	worker *worker
}

func (r *run) lastTask() *task {
	if r.last == nil {
		return nil
	}
	return r.last.task
}

// take waits until worker w is idle and removes it from the idle pool.
func (r *run) take(w *worker) bool {
	var others []*worker
	defer func() {
		for _, o := range others {
			r.idle <- o
		}
	}()
	for {
		select {
		case x := <-r.idle:
			if x == w {
				return true
			}
			others = append(others, x)
		case <-r.abort:
			return false
		case <-r.ctx.Done():
			return false
		}
	}
}

// prune forgets committed tasks.
func (r *run) prune() {
	n := 0
	for _, t := range r.inflight {
		select {
		case <-t.committed:
		default:
			r.inflight[n] = t
			n++
		}
	}
	clear(r.inflight[n:])
	r.inflight = r.inflight[:n]
}

// drain waits until every dispatched group has committed.
func (r *run) drain() bool {
	for _, t := range r.inflight {
		select {
		case <-t.committed:
		case <-r.abort:
			return false
		case <-r.ctx.Done():
			return false
		}
	}
	clear(r.inflight)
	r.inflight = r.inflight[:0]
	return true
}

// wait blocks until t has committed (nil t: at once). It returns false when
// the run is stopping.
func (r *run) wait(t *task) bool {
	if t == nil {
		return true
	}
	return r.waitFor(t.committed)
}

// waitExecuted blocks until t, and every group before it, has executed its
// statements (nil t: at once).
func (r *run) waitExecuted(t *task) bool {
	if t == nil {
		return true
	}
	return r.waitFor(t.executed)
}

func (r *run) waitFor(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-r.abort:
		return false
	case <-r.ctx.Done():
		return false
	}
}

// errStopping ends a worker's task when the run is stopping for another
// reason (an error elsewhere, or cancellation); it is never the run's error.
var errStopping = errors.New("applier stopping")

// Stats returns the counters so far.
func (a *Applier) Stats() Stats {
	a.statsMu.Lock()
	defer a.statsMu.Unlock()
	return a.stats
}

func (a *Applier) count(f func(*Stats)) {
	a.statsMu.Lock()
	f(&a.stats)
	a.statsMu.Unlock()
}
