package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
	"github.com/sluice-db/sluice/mysql/schema"
	"github.com/sluice-db/sluice/mysql/source"

	_ "github.com/go-sql-driver/mysql" // the schema history reads the live schema through database/sql
)

// Config says what to capture from where.
type Config struct {
	Source source.Config
	// Name is the pipeline's name. It appears in logs and derives a stable
	// server id when ServerID is 0.
	Name string
	// ServerID is the server id capture registers with on the source; 0
	// picks one from Name that no other replica of the source uses.
	ServerID uint32
	// From is where capture starts.
	From Start
	// StopAtEnd makes Run return nil once it has delivered everything up to
	// the source's end of binlog as it was when Run started.
	StopAtEnd bool
	// Heartbeat is the period at which the source sends a heartbeat when it
	// has nothing else to send; default 1s, negative for none.
	Heartbeat time.Duration
	// ReadTimeout is how long a silent connection is trusted before it is
	// dropped and made again; default 30s, and at least 3 heartbeats. With
	// heartbeats off it defaults to none (a quiet source sends nothing).
	ReadTimeout time.Duration
	// History gives rows events their table definitions and takes the DDL
	// capture reads. Nil uses the TABLE_MAP metadata alone, which needs
	// binlog_row_metadata=FULL for column names.
	History History
	// TableFilter, when set, says which tables' rows to deliver. Rows of
	// other tables are not decoded; their transactions still advance the
	// position (see Run).
	TableFilter func(schema, table string) bool
	// FragmentRows splits a transaction with more row changes than this
	// into fragments (see change.Txn); default 20000, negative never.
	FragmentRows int
	// MaxPayloadSize bounds the memory a compressed transaction may
	// decompress to (MySQL TRANSACTION_PAYLOAD); 0 is the decoder's default.
	MaxPayloadSize int64
	// OnProgress, when set, is called on the Run goroutine, never during a
	// deliver, with every heartbeat: see Progress.
	OnProgress func(Progress)
	// OnStart, when set, is called once Run has resolved where it starts
	// (a "now", a timestamp or the oldest binlog made concrete), before it
	// reads anything; an error stops Run. A consumer without a checkpoint
	// records it there, so that a restart resumes here and not at a later
	// "now".
	OnStart func(ctx context.Context, pos change.Position) error
	// MaxBackoff caps the wait between reconnect attempts; default 30s.
	MaxBackoff time.Duration
	Logger     *slog.Logger
}

// History is the schema history capture uses: it resolves the tables of
// rows events at their positions and takes each DDL statement.
type History interface {
	binlog.TableResolver
	DDLApplier
}

// Bootstrapper is a History that can load the live schema of the source
// (*schema.History is one). A start "now" calls it with the position
// capture starts at, read just before.
type Bootstrapper interface {
	Bootstrap(ctx context.Context, db *sql.DB, pos change.Position, bo schema.BootstrapOptions) error
}

// Progress reports that the source is idle or caught up: it sends a
// heartbeat only when it has sent every event it has. Lag is then zero.
type Progress struct {
	// Position is where capture resumes: the end of the last transaction
	// read completely (delivered, or coalesced into a position-only Txn).
	Position change.Position
	// SourceEnd is the source's binlog file and offset the heartbeat
	// names: how far it has sent.
	SourceEnd change.Position
	// CaughtUp is true when no transaction is half read.
	CaughtUp bool
	// Time is when the heartbeat arrived, by the local clock; the source's
	// heartbeats carry no time.
	Time time.Time
}

// Capture reads one source's binlog. Create it with New and call Run once.
type Capture struct {
	cfg      Config
	log      *slog.Logger
	serverID uint32
	stats    Stats
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Capture, error) {
	if cfg.Source.Host == "" {
		return nil, errors.New("capture: no source")
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.ReadTimeout == 0 && cfg.Heartbeat > 0 {
		// Without heartbeats a quiet source is indistinguishable from a
		// dead connection; then only TCP keepalives notice.
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.Heartbeat > 0 && cfg.ReadTimeout < 3*cfg.Heartbeat {
		cfg.ReadTimeout = 3 * cfg.Heartbeat
	}
	if cfg.FragmentRows == 0 {
		cfg.FragmentRows = 20000
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.From.Kind == StartPosition && cfg.From.Position.IsZero() {
		return nil, errors.New("capture: start position is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("source", cfg.Source.String())
	if cfg.Name != "" {
		log = log.With("pipeline", cfg.Name)
	}
	return &Capture{cfg: cfg, log: log}, nil
}

func (c *Capture) readTimeout() time.Duration { return c.cfg.ReadTimeout }

// Stats returns counters of what Run has read and delivered so far. It is
// only safe to call after Run returns, or from deliver or OnProgress.
func (c *Capture) Stats() Stats { return c.stats }

// errReachedEnd stops a stream once StopAtEnd is satisfied.
var errReachedEnd = errors.New("reached the end of the binlog")

// deliverError marks an error returned by the consumer.
type deliverError struct{ err error }

func (e *deliverError) Error() string { return e.err.Error() }
func (e *deliverError) Unwrap() error { return e.err }

func unwrapDeliver(err error) error {
	var de *deliverError
	if errors.As(err, &de) {
		return de.err
	}
	return err
}

// fatalError marks an error a reconnect cannot cure.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Run reads the binlog and calls deliver with each transaction, in binlog
// order, on the calling goroutine. It returns when ctx ends (with ctx's
// error), when deliver fails (with that error, wrapped), when StopAtEnd is
// satisfied (nil), or on an error a reconnect cannot cure: a position the
// source no longer has, a corrupt event, a DDL the schema history rejects.
// A dropped connection is made again, with capped, jittered backoff, at the
// end of the last transaction read completely (by GTID when the start was a
// GTID position, by file position otherwise); fragments of a transaction
// that were delivered before the drop are not delivered again. Only the
// first connection's errors (a wrong address or password) end Run at once.
//
// What deliver receives:
//   - A transaction with Changes, or one DDL (already applied to History).
//   - A transaction larger than FragmentRows as several fragments (see
//     change.Txn), split at rows-event boundaries in the same places every
//     time it is read.
//   - A position-only Txn, with no Changes and no DDL, standing for
//     transactions that had nothing to deliver (all their rows filtered
//     out, XA COMMIT) and for a move to a new binlog file. Its Begin is the
//     position before the first of them, its End the position after the
//     last; GTID is empty. At most 1000 transactions or 500ms are folded
//     into one, and the pending one is delivered as soon as the stream
//     goes quiet, so consumers can checkpoint progress through unrelated
//     traffic.
//
// The Txn, its Changes and their Values are the consumer's: capture never
// reuses their memory.
func (c *Capture) Run(ctx context.Context, deliver func(ctx context.Context, txn *change.Txn) error) error {
	sc, err := dialSource(ctx, c.cfg.Source)
	if err != nil {
		return err
	}
	asm, plan, stopAt, err := c.prepare(ctx, sc)
	if err != nil {
		sc.Close()
		return err
	}
	if c.cfg.OnStart != nil {
		if err := c.cfg.OnStart(ctx, plan.done); err != nil {
			sc.Close()
			return fmt.Errorf("record the start position %s: %w", plan.done, err)
		}
	}
	asm.deliver = func(t *change.Txn) error {
		if err := deliver(ctx, t); err != nil {
			return &deliverError{fmt.Errorf("deliver transaction ending at %s: %w", t.End, err)}
		}
		return nil
	}
	c.log.Info("capture starting", "flavor", sc.flavor.String(), "version", sc.version, "server_id", c.serverID,
		"from", c.cfg.From.String(), "position", plan.done.String())

	failures := 0
	for {
		connected := false
		if sc != nil {
			req := dumpRequest{serverID: c.serverID, heartbeat: c.cfg.Heartbeat, hostname: localHostname()}
			// Every dump starts at the end of the last complete transaction
			// (for the first one, the resolved start).
			if plan.byGTID {
				req.byGTID, req.gtid = true, asm.done.GTID
			} else {
				req.file, req.pos = asm.done.File, asm.done.Offset
			}
			err = c.stream(ctx, sc, req, asm, stopAt, &connected)
			sc.Close()
			sc = nil
			switch {
			case errors.Is(err, errReachedEnd):
				c.stats = asm.stats
				if err := asm.flushPending(); err != nil {
					return unwrapDeliver(err)
				}
				return nil
			case ctx.Err() != nil:
				c.stats = asm.stats
				return ctx.Err()
			}
			var de *deliverError
			if errors.As(err, &de) {
				c.stats = asm.stats
				return de.err
			}
			if code := serverErrorCode(err); code == erMasterFatalReadingBinlog {
				c.stats = asm.stats
				return c.unavailableFromServer(ctx, asm.done, err)
			}
			if !retryable(err) {
				c.stats = asm.stats
				return err
			}
			if connected {
				failures = 0
			}
			asm.beginResume()
		}
		failures++
		wait := backoff(failures, c.cfg.MaxBackoff)
		c.log.Warn("binlog connection lost; reconnecting", "error", err, "position", asm.done.String(),
			"attempt", failures, "wait", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			c.stats = asm.stats
			return ctx.Err()
		case <-time.After(wait):
		}
		sc, err = dialSource(ctx, c.cfg.Source)
		if err != nil {
			sc = nil
			continue
		}
		if sc.flavor != asm.flavor && asm.flavor != 0 {
			sc.Close()
			return fmt.Errorf("%s is now %s, was %s", c.cfg.Source, sc.flavor, asm.flavor)
		}
	}
}

// prepare resolves the start, picks the server id, bootstraps the schema
// history when starting now, and builds the assembler.
func (c *Capture) prepare(ctx context.Context, sc *sourceConn) (*assembler, startPlan, change.Position, error) {
	var stopAt change.Position
	id, err := c.chooseServerID(sc)
	if err != nil {
		return nil, startPlan{}, stopAt, err
	}
	c.serverID = id
	plan, err := c.resolveStart(ctx, sc)
	if err != nil {
		return nil, plan, stopAt, err
	}
	if c.cfg.StopAtEnd {
		stopAt, err = sc.binlogEnd()
		if err != nil {
			return nil, plan, stopAt, err
		}
	}
	if plan.bootstrap && c.cfg.History != nil {
		if b, ok := c.cfg.History.(Bootstrapper); ok {
			if err := c.bootstrap(ctx, b, plan.done); err != nil {
				return nil, plan, stopAt, err
			}
		}
	}
	asm := c.newAssembler()
	asm.ctx = ctx
	asm.flavor = sc.flavor
	asm.file, asm.pos = plan.file, plan.pos
	asm.done = plan.done
	asm.notBefore, asm.skipThrough = plan.notBefore, plan.skipThrough
	if plan.gtidKnown {
		if err := asm.setGTIDState(sc.flavor, plan.gtid); err != nil {
			return nil, plan, stopAt, fmt.Errorf("start gtids: %w", err)
		}
	}
	return asm, plan, stopAt, nil
}

// bootstrap loads the live schema into the history at pos.
func (c *Capture) bootstrap(ctx context.Context, b Bootstrapper, pos change.Position) error {
	db, err := sql.Open("mysql", c.cfg.Source.DSN())
	if err != nil {
		return fmt.Errorf("bootstrap the schema history from %s: %w", c.cfg.Source, err)
	}
	defer db.Close()
	if err := b.Bootstrap(ctx, db, pos, schema.BootstrapOptions{}); err != nil {
		return fmt.Errorf("bootstrap the schema history from %s at %s: %w", c.cfg.Source, pos, err)
	}
	return nil
}

func (c *Capture) newAssembler() *assembler {
	frag := c.cfg.FragmentRows
	if frag < 0 {
		frag = 0
	}
	return &assembler{
		log:          c.log,
		history:      c.cfg.History,
		fragmentRows: frag,
		coalesceTxns: defaultCoalesceTxns,
		coalesceWait: defaultCoalesceWait,
		now:          time.Now,
	}
}

// stream runs one dump on sc until it fails or the end is reached.
func (c *Capture) stream(ctx context.Context, sc *sourceConn, req dumpRequest, asm *assembler, stopAt change.Position, connected *bool) error {
	if err := sc.startDump(req); err != nil {
		return err
	}
	dec := c.newDecoder(asm)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr := newPacketReader(sc.netConn, c.cfg.ReadTimeout)
	batches, recycle := streamEvents(sctx, pr, 8)
	stop := endCheck{at: stopAt}
	defer func() {
		// Unblock and drain the reader goroutine.
		sc.interrupt()
		for range batches {
		}
	}()
	for {
		var b eventBatch
		var ok bool
		select {
		case b, ok = <-batches:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return io.ErrUnexpectedEOF
		}
		for i, raw := range b.events {
			*connected = true
			asm.atHead = i == len(b.events)-1 && len(batches) == 0
			asm.stats.Bytes += int64(len(raw))
			if err := c.handleRaw(dec, asm, raw); err != nil {
				return err
			}
			if stop.reached(asm) {
				return errReachedEnd
			}
		}
		recycle(&b)
		if b.err != nil {
			return b.err
		}
		if len(batches) == 0 {
			// The stream is quiet: hand over the coalesced position.
			if err := asm.flushPending(); err != nil {
				return err
			}
		}
	}
}

// endCheck tells when the assembler has reached the end of binlog that
// StopAtEnd read. It compares file names only when the file changes.
type endCheck struct {
	at       change.Position
	file     string
	fileCmp  int
	fileSeen bool
}

func (e *endCheck) reached(asm *assembler) bool {
	if e.at.File == "" || asm.state != outside || asm.file == "" {
		return false
	}
	if !e.fileSeen || asm.file != e.file {
		e.file, e.fileSeen = asm.file, true
		e.fileCmp = (change.Position{File: asm.file}).Compare(change.Position{File: e.at.File})
	}
	return e.fileCmp > 0 || e.fileCmp == 0 && asm.pos >= e.at.Offset
}

// handleRaw decodes one event of the stream and feeds it to the assembler.
func (c *Capture) handleRaw(dec eventDecoder, asm *assembler, raw []byte) error {
	h, err := binlog.ParseHeader(raw)
	if err != nil {
		return &fatalError{fmt.Errorf("read event at %s:%d: %w", asm.file, asm.pos, err)}
	}
	offset, end := asm.pos, uint64(0)
	if h.LogPos != 0 && h.Flags&binlog.FlagArtificial == 0 && h.LogPos >= h.EventSize {
		offset, end = uint64(h.LogPos-h.EventSize), uint64(h.LogPos)
	} else if h.LogPos == 0 && h.Flags&binlog.FlagArtificial == 0 && h.Timestamp != 0 &&
		h.Type != binlog.FormatDescriptionType && h.Type != binlog.RotateEventType {
		// Some servers (MariaDB 11.4+) leave the position of some events 0.
		end = asm.pos + uint64(h.EventSize)
	}
	ev, err := dec.Decode(raw, offset)
	if err != nil {
		return &fatalError{fmt.Errorf("decode binlog of %s: %w", c.cfg.Source, err)}
	}
	if hb, ok := ev.(*binlog.HeartbeatEvent); ok {
		return c.heartbeat(asm, hb)
	}
	if h.Flags&binlog.FlagArtificial == 0 {
		asm.stats.Events++
	}
	err = asm.event(ev, end)
	var de *deliverError
	if err != nil && !errors.As(err, &de) {
		err = &fatalError{err}
	}
	return err
}

func (c *Capture) heartbeat(asm *assembler, hb *binlog.HeartbeatEvent) error {
	if err := asm.flushPending(); err != nil {
		return err
	}
	if c.cfg.OnProgress == nil {
		return nil
	}
	end := change.Position{File: hb.File, Offset: uint64(hb.LogPos)}
	if hb.Position != 0 {
		end.Offset = hb.Position
	}
	c.cfg.OnProgress(Progress{Position: asm.done, SourceEnd: end, CaughtUp: asm.state == outside, Time: time.Now()})
	return nil
}

// retryable reports whether a reconnect may cure err.
func retryable(err error) bool {
	var fe *fatalError
	if errors.As(err, &fe) {
		return false
	}
	var pe *PositionUnavailableError
	if errors.As(err, &pe) {
		return false
	}
	if errors.Is(err, errStreamEnd) {
		// The source ended the dump (it does so when shutting down).
		return true
	}
	switch serverErrorCode(err) {
	case 0:
		// Network errors, timeouts, EOF: the connection dropped.
		var ne net.Error
		return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, net.ErrClosed) || isConnError(err)
	case erServerShutdown, erConnectionKilled, erQueryInterrupted, 1040 /* too many connections */, 1205 /* lock wait */, 2006, 2013:
		return true
	}
	return false
}

// isConnError recognises the connection errors go-mysql reports as text.
func isConnError(err error) bool {
	s := err.Error()
	for _, m := range []string{"connection reset", "broken pipe", "connection refused", "bad connection", "EOF", "use of closed network connection"} {
		if containsFold(s, m) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// backoff is the wait before reconnect attempt n (1-based): 100ms doubling
// up to max, with ±25% jitter so that many pipelines do not reconnect in
// step.
func backoff(n int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + jitter
}
