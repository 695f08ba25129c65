package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/source"
)

// Mapping is how a source table appears on the target: its definition
// there and, for each target column, the source column it comes from (nil
// when the columns are the same).
type Mapping struct {
	Target  *change.Table
	Project []int
}

// Config configures a Copier.
type Config struct {
	Pipeline    string
	Source      source.Config
	Flavor      change.Flavor
	Target      *sql.DB // the target pool; progress and tables are written there
	StateSchema string  // on the target, and on the source for watermarks
	// Selected says which source tables the pipeline replicates.
	Selected func(schema, table string) bool
	// Map maps a source table to the target; nil Mapping: not replicated.
	// It is called from the copier's goroutines.
	Map func(t *change.Table) (*Mapping, error)
	// Lag reports the pipeline's lag, for the throttle; nil: not used.
	Lag     func() time.Duration
	Options Options
	Logger  *slog.Logger
}

// Enqueue hands a transaction to the pipeline's applier, in stream order.
type Enqueue func(ctx context.Context, txn *change.Txn) error

// Shape selects and maps a source transaction for the target.
type Shape func(txn *change.Txn) (*change.Txn, error)

// Copier copies the existing rows of a pipeline's tables into the stream
// of its changes. Create it with Open, hand it every transaction the
// stream delivers (Deliver) and every heartbeat (Progress), and Run it.
type Copier struct {
	cfg    Config
	opts   Options
	log    *slog.Logger
	src    *sql.DB
	method Method
	state  stateTables
	run    uint64
	resume *State // non-nil: the copy resumes

	// planned is closed when the tables are known; Deliver waits for it.
	planned chan struct{}
	// started is closed when the stream has shown where it is: chunk reads
	// wait for it, so that every read is after the stream's start.
	started     chan struct{}
	startedOnce sync.Once

	mu           sync.Mutex
	tr           tracker
	order        []*table
	err          error // a failure seen by Deliver or Progress
	enqueue      Enqueue
	enqueueCtx   context.Context
	streamTables map[string]*change.Table // target name -> the stream's definition
	retry        []*chunk                 // discarded chunks, to read again
	pending      int                      // rows read and not taken
	wake         chan struct{}            // closed and replaced on every change of the above
	markSeq      uint64
	stats        Progress
	resumed      uint64 // rows copied by an earlier run
	emittedAll   bool   // every table's chunks are handed to the applier
	complete     bool   // and every deferred index is built
	indexPending int
	indexQueue   chan *table
	onComplete   func()
	rateNext     time.Time // rows/s limit: when the next rows may be read

	planMu sync.Mutex
}

// Progress is the copy's progress for the CLI, the API and metrics.
type Progress struct {
	Method        Method
	TablesTotal   int
	TablesDone    int
	RowsCopied    uint64 // rows of applied chunks, including those of an earlier run
	RowsEstimated uint64
	// RowsResumed are the rows an earlier run had copied when this one
	// resumed the copy.
	RowsResumed uint64
	// Rate is the rows copied per second in this run; ETA the time left at
	// that rate.
	Rate      float64
	ETA       time.Duration
	StartedAt time.Time
	Done      bool
}

// ErrWatermarkPrivileges explains what the watermark method needs.
var errWatermark = errors.New("the watermark method writes a row into a table on the source: the source user needs CREATE, INSERT and UPDATE on the pipeline's state schema (or use the snapshot method on MariaDB)")

// Open prepares a copy: it checks the source's binlog settings and reads
// the copy's state from the target. resume is the state LoadState read; a
// State that is not Planned starts a new copy.
func Open(ctx context.Context, cfg Config, resume State) (*Copier, error) {
	opts := cfg.Options
	if err := opts.Fill(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	src, err := sql.Open("mysql", cfg.Source.DSN("interpolateParams=false", "parseTime=false"))
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: copy: open source %s: %w", cfg.Pipeline, cfg.Source, err)
	}
	src.SetMaxOpenConns(opts.Workers + 4)
	src.SetMaxIdleConns(opts.Workers + 4)
	c := &Copier{
		cfg: cfg, opts: opts, src: src,
		log:          cfg.Logger.With("copy", true),
		state:        newStateTables(cfg.StateSchema),
		run:          rand.Uint64(),
		planned:      make(chan struct{}),
		started:      make(chan struct{}),
		wake:         make(chan struct{}),
		streamTables: map[string]*change.Table{},
	}
	if resume.Planned {
		c.resume = &resume
	}
	if err := c.checkSource(ctx); err != nil {
		src.Close()
		return nil, err
	}
	c.method = opts.Method
	if c.method == MethodAuto {
		c.method = MethodSnapshot
		if cfg.Flavor != change.MariaDB {
			c.method = MethodWatermark
		}
	}
	if c.method == MethodSnapshot && cfg.Flavor != change.MariaDB {
		src.Close()
		return nil, fmt.Errorf("pipeline %q: copy: the snapshot method needs MariaDB (binlog_snapshot_position); use the watermark method on MySQL", cfg.Pipeline)
	}
	c.tr = tracker{
		method: c.method,
		flavor: cfg.Flavor,
		mark:   markID{schema: cfg.StateSchema, table: "watermark", pipeline: cfg.Pipeline, run: c.run},
		tables: map[string]*table{},
	}
	c.stats.Method = c.method
	return c, nil
}

// checkSource fails when the source's binlog cannot carry a copy: the
// interleaving needs full row images, so that a change to a row not
// copied yet writes the whole row.
func (c *Copier) checkSource(ctx context.Context) error {
	var format, image sql.NullString
	if err := c.src.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image").Scan(&format, &image); err != nil {
		return fmt.Errorf("pipeline %q: copy: read the binlog settings of source %s: %w", c.cfg.Pipeline, c.cfg.Source, err)
	}
	if !strings.EqualFold(format.String, "ROW") {
		return fmt.Errorf("pipeline %q: copy: source %s has binlog_format=%s; the copy needs binlog_format=ROW", c.cfg.Pipeline, c.cfg.Source, format.String)
	}
	if !strings.EqualFold(image.String, "FULL") {
		return fmt.Errorf("pipeline %q: copy: source %s has binlog_row_image=%s; the initial copy needs binlog_row_image=FULL (a change to a row not copied yet must carry the whole row); set it, or start with --snapshot=none",
			c.cfg.Pipeline, c.cfg.Source, image.String)
	}
	return nil
}

// Method is the method the copy uses.
func (c *Copier) Method() Method { return c.method }

// WatermarkTable names the source table the watermark method writes, so
// that capture decodes its rows; ok is false for the snapshot method.
func (c *Copier) WatermarkTable() (schema, table string, ok bool) {
	return c.tr.mark.schema, c.tr.mark.table, c.method == MethodWatermark
}

// Close releases the source connections.
func (c *Copier) Close() error { return c.src.Close() }

// Status returns the copy's progress.
func (c *Copier) Status() Progress {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.stats
	p.RowsResumed = c.resumed
	if !p.StartedAt.IsZero() {
		if secs := time.Since(p.StartedAt).Seconds(); secs > 0 {
			p.Rate = float64(p.RowsCopied-c.resumedRows()) / secs
		}
	}
	if p.Rate > 0 && p.RowsEstimated > p.RowsCopied {
		p.ETA = time.Duration(float64(p.RowsEstimated-p.RowsCopied) / p.Rate * float64(time.Second)).Round(time.Second)
	}
	return p
}

func (c *Copier) resumedRows() uint64 { return c.resumed }

// Complete reports whether every table is copied and handed to the
// applier.
func (c *Copier) Complete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.complete
}

// SetEnqueue sets how emitted transactions reach the applier, and what to
// call once the copy is complete. The runner calls it before Deliver.
func (c *Copier) SetEnqueue(ctx context.Context, enqueue Enqueue, onComplete func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.enqueueCtx, c.enqueue, c.onComplete = ctx, enqueue, onComplete
}

func (c *Copier) signalStarted() {
	c.startedOnce.Do(func() { close(c.started) })
}

func (c *Copier) notify() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// Deliver takes a transaction from the stream: it records what the open
// windows need, shapes it, hands it on, and hands on after it every chunk
// whose window it closes. It waits until the copy is planned.
func (c *Copier) Deliver(ctx context.Context, txn *change.Txn, shape Shape) error {
	c.signalStarted()
	select {
	case <-c.planned:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.tr.observe(txn)
	out, err := shape(txn)
	if err != nil {
		return err
	}
	for i := range out.Changes {
		t := out.Changes[i].Table
		c.streamTables[t.Schema+"."+t.Name] = t
	}
	if err := c.enqueue(ctx, out); err != nil {
		return err
	}
	if txn.More {
		return nil // never between the fragments of one transaction
	}
	c.tr.advance(txn.End, txn.Timestamp)
	return c.emitLocked(ctx)
}

// Progress takes a heartbeat of the stream (on the stream's goroutine,
// between transactions): when the source is idle it is how chunks read by
// the snapshot method learn that the stream has passed them.
func (c *Copier) Progress(pos, sourceEnd change.Position, caughtUp bool) {
	if !caughtUp {
		return
	}
	c.signalStarted()
	select {
	case <-c.planned:
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.enqueue == nil {
		return
	}
	c.tr.progress(pos, sourceEnd, caughtUp)
	if err := c.emitLocked(c.enqueueCtx); err != nil && c.err == nil {
		c.err = err
	}
}

// emitLocked hands on the chunks whose window has closed, each as a
// transaction at the stream's current position, together with the rows
// that record the progress.
func (c *Copier) emitLocked(ctx context.Context) error {
	if c.tr.last.IsZero() {
		return nil // no position to give a chunk yet
	}
	emit, retry := c.tr.take()
	for _, ch := range retry {
		c.pending -= ch.readRows
		ch.readRows = 0
		c.log.Info("chunk read again: "+ch.redoWhy, "table", ch.table.name(), "chunk", ch.seq)
		c.retry = append(c.retry, ch)
	}
	var queued []*table
	for _, tb := range c.order {
		if tb.queued {
			tb.queued = false
			queued = append(queued, tb)
		}
	}
	if len(emit) == 0 && len(retry) == 0 && len(queued) == 0 {
		return nil
	}
	defer c.notify()
	now := time.Now()
	for _, ch := range emit {
		txn, err := c.chunkTxn(ch, now)
		if err != nil {
			return err
		}
		c.pending -= ch.readRows
		if err := c.enqueue(ctx, txn); err != nil {
			return err
		}
	}
	for _, tb := range queued {
		txn := c.newTxn()
		c.finishTable(tb, txn, now)
		if err := c.enqueue(ctx, txn); err != nil {
			return err
		}
	}
	if c.stats.TablesDone == c.stats.TablesTotal {
		c.emittedAll = true
		c.maybeCompleteLocked()
	}
	return nil
}

// maybeCompleteLocked declares the copy complete once every chunk is
// handed on and every deferred index is built.
func (c *Copier) maybeCompleteLocked() {
	if c.complete || !c.emittedAll || c.indexPending > 0 {
		return
	}
	c.complete = true
	c.stats.Done = true
	c.log.Info("initial copy complete", "tables", c.stats.TablesTotal, "rows", c.stats.RowsCopied)
	if c.onComplete != nil {
		c.onComplete()
	}
}

func (c *Copier) newTxn() *change.Txn {
	return &change.Txn{Begin: c.tr.last, End: c.tr.last, Timestamp: c.tr.lastTS}
}

// chunkTxn turns an emitted chunk into the transaction that applies it.
// Rows of a keyed table are written as updates whose before image is the
// row itself: the applier writes them as upserts, and merges a later
// change of the row in the same group correctly whether or not the row was
// on the target before. Rows of a keyless table are inserts.
func (c *Copier) chunkTxn(ch *chunk, now time.Time) (*change.Txn, error) {
	tb := ch.table
	target := tb.target
	if st := c.streamTables[target.Schema+"."+target.Name]; st != nil && st != target && sameShape(st, target) {
		// One definition per target table in a group, so that the applier
		// merges the chunk's rows with the stream's changes to them.
		target = st
	}
	txn := c.newTxn()
	txn.Changes = make([]change.RowChange, 0, len(ch.rows)+2)
	for _, r := range ch.rows {
		r = projectRow(r, tb.project)
		if tb.keyless() {
			txn.Changes = append(txn.Changes, change.RowChange{Table: target, Op: change.Insert, After: r})
		} else {
			txn.Changes = append(txn.Changes, change.RowChange{Table: target, Op: change.Update, Before: r, After: r, Copied: true})
		}
	}
	rc, err := c.state.chunkDone(c.cfg.Pipeline, ch, ch.readRows)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: copy of %s: %w", c.cfg.Pipeline, tb.name(), err)
	}
	txn.Changes = append(txn.Changes, rc)
	tb.handed--
	tb.copied += uint64(ch.readRows)
	c.stats.RowsCopied += uint64(ch.readRows)
	if tb.keyless() {
		tb.emitted = true
	}
	ch.rows = nil
	if tb.planned && tb.handed == 0 && !tb.done {
		c.finishTable(tb, txn, now)
	}
	return txn, nil
}

// finishTable marks a table copied, in txn.
func (c *Copier) finishTable(tb *table, txn *change.Txn, now time.Time) {
	if tb.done {
		return
	}
	tb.done = true
	tb.emitted = true
	c.stats.TablesDone++
	txn.Changes = append(txn.Changes, c.state.tableDone(c.cfg.Pipeline, tb, now))
	c.log.Info("table copied", "table", tb.name(), "rows", tb.copied)
	if len(tb.indexes) > 0 {
		if tb.gone {
			c.indexPending--
		} else {
			c.indexQueue <- tb
		}
	}
}

// fail records an error for Deliver to return.
func (c *Copier) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}
