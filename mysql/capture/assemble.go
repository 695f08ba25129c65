package capture

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
	"github.com/sluice-db/sluice/mysql/schema"
)

// groupState is where the assembler is relative to a transaction.
type groupState uint8

const (
	outside groupState = iota
	// afterGTID: a GTID event opened a group that a BEGIN (a transaction)
	// or a single statement (DDL) follows.
	afterGTID
	// inBody: between BEGIN (or MariaDB's non-standalone GTID) and the
	// commit.
	inBody
)

// Defaults for coalescing transactions that carry nothing for the consumer.
const (
	defaultCoalesceTxns = 1000
	defaultCoalesceWait = 500 * time.Millisecond
)

// DDLApplier is the part of the schema history capture feeds: each DDL
// statement at the position right after it, before the events that follow
// are decoded. The history must treat a statement it has already applied
// at that position as a no-op (schema.Applied.Repeated): after a reconnect
// capture reads it again.
type DDLApplier interface {
	ApplyDDL(ctx context.Context, q schema.DDL) (schema.Applied, error)
}

// assembler turns the event sequence into whole transactions. It does no
// I/O: events come in, transactions go out through deliver, so every rule
// here is testable without a server.
type assembler struct {
	// ctx is passed to the schema history.
	ctx          context.Context
	log          *slog.Logger
	flavor       change.Flavor
	history      DDLApplier
	fragmentRows int
	deliver      func(*change.Txn) error
	// coalesceTxns and coalesceWait bound how many transactions with
	// nothing to deliver, and for how long, are folded into one
	// position-only Txn.
	coalesceTxns int
	coalesceWait time.Duration
	now          func() time.Time

	// file and pos are where the next event starts.
	file string
	pos  uint64
	// The executed GTIDs after the last complete transaction. gtidKnown is
	// false until a start position or a file's GTID_LIST/PREVIOUS_GTIDS
	// says what they are.
	maria     *MariaDBGTIDList
	mysql     *MySQLGTIDSet
	gtidKnown bool

	// done is the end of the last complete transaction: where a reconnect
	// resumes.
	done change.Position

	// resumeBegin and resumeFragments skip the fragments of a transaction
	// that were delivered before a reconnect.
	resumeBegin     change.Position
	resumeFragments int

	// notBefore skips transactions committed before it (a start by time);
	// skipThrough skips transactions that end at or before it (a start at a
	// file position read from the file's start to learn its GTIDs).
	notBefore   time.Time
	skipThrough change.Position

	// The transaction being assembled.
	state       groupState
	txn         change.Txn
	fragments   int // fragments of txn already emitted
	txnMaria    MariaDBGTID
	txnSID      [16]byte
	txnTag      string
	txnGNO      int64
	txnHasGTID  bool
	txnIsMaria  bool
	txnMicros   int64 // commit time from the GTID event, 0 if none
	txnSkipping bool  // nothing of this transaction is delivered
	changes     changeRun

	// pending is a position-only Txn standing for transactions that had
	// nothing to deliver; it is emitted when enough pile up, when they are
	// old, or when the stream goes quiet.
	pending      *change.Txn
	pendingCount int
	pendingSince time.Time

	// atHead is set by the reader while the current event is the last one
	// the source has sent: the schema history may then compare a DDL with
	// the live server.
	atHead bool

	// ddlEvent is the QUERY event of the DDL being committed.
	ddlEvent *binlog.QueryEvent

	stats Stats
}

// Stats counts what capture delivered.
type Stats struct {
	// Events counts the events read, without heartbeats and the artificial
	// events a source sends at the start of a stream.
	Events    int64
	Txns      int64 // transactions delivered with changes or DDL
	Fragments int64 // of those, extra fragments of split transactions
	Skipped   int64 // transactions with nothing to deliver
	Rows      int64
	Bytes     int64 // binlog bytes read
}

// eventPos is the position right after the current event, with the GTIDs
// of complete transactions.
func (a *assembler) position() change.Position {
	return change.Position{File: a.file, Offset: a.pos, GTID: a.gtidString()}
}

func (a *assembler) gtidString() string {
	if !a.gtidKnown {
		return ""
	}
	switch a.flavor {
	case change.MariaDB:
		if a.maria != nil {
			return a.maria.String()
		}
	case change.MySQL:
		if a.mysql != nil {
			return a.mysql.String()
		}
	}
	return ""
}

// setGTIDState sets the executed GTIDs from a start position or a file's
// first events.
func (a *assembler) setGTIDState(flavor change.Flavor, s string) error {
	switch flavor {
	case change.MariaDB:
		l, err := ParseMariaDBGTIDList(s)
		if err != nil {
			return err
		}
		a.maria, a.mysql = l, nil
	case change.MySQL:
		set, err := ParseMySQLGTIDSet(s)
		if err != nil {
			return err
		}
		a.mysql, a.maria = set, nil
	default:
		return fmt.Errorf("gtid state %q for unknown flavor", s)
	}
	a.flavor = flavor
	a.gtidKnown = true
	return nil
}

// where names the current position for errors.
func (a *assembler) where(offset uint64) string {
	if a.file == "" {
		return fmt.Sprintf("offset %d", offset)
	}
	return fmt.Sprintf("%s:%d", a.file, offset)
}

// event advances the assembler by one decoded event. offset is where the
// event starts and end where the next one does.
func (a *assembler) event(ev binlog.Event, end uint64) error {
	h := ev.Header()
	switch e := ev.(type) {
	case *binlog.RotateEvent:
		return a.rotate(e)
	case *binlog.FormatDescriptionEvent:
		if a.flavor == 0 {
			a.flavor = e.Flavor
		}
		// A FORMAT_DESCRIPTION sent at the start of a stream that starts
		// inside a file does not move the position.
		if end > a.pos {
			a.pos = end
		}
		if a.state != outside {
			a.log.Warn("binlog file started inside a transaction; dropping the incomplete transaction",
				"begin", a.txn.Begin.String(), "at", a.where(h.Offset))
			a.resetTxn()
		}
		return nil
	case *binlog.HeartbeatEvent:
		return nil // the caller reports progress
	}

	if h.Flags&binlog.FlagArtificial == 0 && end != 0 {
		a.pos = end
	}

	switch e := ev.(type) {
	case *binlog.MariaGTIDEvent:
		a.openGroup(h)
		a.txnHasGTID, a.txnIsMaria = true, true
		a.txnMaria = MariaDBGTID{Domain: e.Domain, Server: e.ServerID, Seq: e.Sequence}
		a.txn.GTID = a.txnMaria.String()
		if e.Standalone() {
			a.state = afterGTID
		} else {
			// MariaDB writes no BEGIN after the GTID of a transaction.
			a.state = inBody
		}
		a.decideSkip()
	case *binlog.GTIDEvent:
		a.openGroup(h)
		if !e.Anonymous {
			a.txnHasGTID = true
			a.txnSID, a.txnTag, a.txnGNO = e.SID, e.Tag, e.GNO
			a.txn.GTID = e.GTID()
		}
		switch {
		case e.OriginalCommitTimestamp != 0:
			a.txnMicros = int64(e.OriginalCommitTimestamp)
		case e.ImmediateCommitTimestamp != 0:
			a.txnMicros = int64(e.ImmediateCommitTimestamp)
		}
		a.state = afterGTID
		a.decideSkip()
	case *binlog.QueryEvent:
		return a.query(e)
	case *binlog.XIDEvent:
		if a.state != inBody {
			return a.outOfPlace(h)
		}
		return a.commit()
	case *binlog.XAPrepareEvent:
		if a.state != inBody {
			return a.outOfPlace(h)
		}
		return a.commit()
	case *binlog.TableMapEvent:
		if a.state != inBody {
			return a.outOfPlace(h)
		}
	case *binlog.RowsEvent:
		if a.state != inBody {
			return a.outOfPlace(h)
		}
		return a.rows(e)
	case *binlog.TransactionPayloadEvent:
		// The inner events are one whole transaction; they do not have
		// positions of their own, the payload event's end is theirs.
		for _, inner := range e.Events {
			if err := a.event(inner, 0); err != nil {
				return err
			}
		}
	case *binlog.MariaGTIDListEvent:
		if !a.gtidKnown && h.Flags&binlog.FlagArtificial == 0 {
			l := &MariaDBGTIDList{}
			// The list holds every domain-server pair; each domain's latest
			// GTID comes last.
			for _, g := range e.GTIDs {
				l.Update(MariaDBGTID{Domain: g.Domain, Server: g.ServerID, Seq: g.Sequence})
			}
			a.maria, a.flavor, a.gtidKnown = l, change.MariaDB, true
			a.setDoneGTID()
		}
	case *binlog.PreviousGTIDsEvent:
		if !a.gtidKnown {
			set, err := ParseMySQLGTIDSet(e.GTIDSet())
			if err != nil {
				return fmt.Errorf("previous gtids at %s: %w", a.where(h.Offset), err)
			}
			a.mysql, a.flavor, a.gtidKnown = set, change.MySQL, true
			a.setDoneGTID()
		}
	case *binlog.IncidentEvent:
		return fmt.Errorf("incident event at %s (incident %d: %s): the source lost changes here and its replicas may differ from it; check the data, then start after this event with --from %s:%d",
			a.where(h.Offset), e.Incident, e.Message, a.file, a.pos)
	}
	return nil
}

// setDoneGTID fills in the GTIDs of the resume position once a file's first
// event says what they are.
func (a *assembler) setDoneGTID() {
	if a.done.GTID == "" && a.state == outside {
		a.done.GTID = a.gtidString()
	}
}

func (a *assembler) rotate(e *binlog.RotateEvent) error {
	a.file, a.pos = e.NextFile, e.Position
	if a.state != outside {
		// A transaction never spans files; the stream restarted.
		a.log.Warn("binlog rotated inside a transaction; dropping the incomplete transaction",
			"begin", a.txn.Begin.String(), "next_file", e.NextFile)
		a.resetTxn()
	}
	// Move the resume point to the new file when nothing is left in the
	// old one, so that a checkpoint does not pin a file that may be purged.
	// Not before the first transaction of a start by GTID: the file the
	// source names first is where it begins looking for the GTID, not a
	// position that could be resumed from.
	next := change.Position{File: a.file, Offset: a.pos, GTID: a.done.GTID}
	if a.done.File != "" && next.Compare(a.done) > 0 {
		prev := a.done
		a.done = next
		if a.beforeStart() {
			return nil
		}
		return a.coalesce(&change.Txn{Begin: prev, End: next})
	}
	return nil
}

func (a *assembler) outOfPlace(h *binlog.EventHeader) error {
	return fmt.Errorf("%s event at %s outside a transaction: the start position is not a transaction boundary (start at the position of a GTID or BEGIN event, or after a commit)",
		h.Type, a.where(h.Offset))
}

func (a *assembler) openGroup(h *binlog.EventHeader) {
	if a.state != outside {
		a.log.Warn("transaction without commit; dropping it",
			"begin", a.txn.Begin.String(), "next_begin", a.where(h.Offset))
	}
	a.resetTxn()
	a.txn.Begin = change.Position{File: a.file, Offset: h.Offset, GTID: a.done.GTID}
	a.txn.ServerID = h.ServerID
	// MySQL 8 GTID events carry the commit time in microseconds
	// (decideSkip takes it); otherwise the GTID event's header has it in
	// seconds: MariaDB writes its GTID event at commit, with the commit's
	// time, while the rows events keep their statements' times.
	a.txn.Timestamp = time.Unix(int64(h.Timestamp), 0)
}

func (a *assembler) resetTxn() {
	a.state = outside
	a.txn = change.Txn{}
	a.fragments = 0
	a.txnHasGTID, a.txnIsMaria, a.txnMicros, a.txnSkipping = false, false, 0, false
	a.txnTag = ""
	a.ddlEvent = nil
	a.changes.drop()
}

// decideSkip settles at the start of a transaction whether it is to be
// delivered, so that the rows of one that is not are never decoded.
func (a *assembler) decideSkip() {
	if a.txnMicros != 0 {
		a.txn.Timestamp = time.UnixMicro(a.txnMicros)
	}
	if !a.notBefore.IsZero() {
		if a.txn.Timestamp.Before(a.notBefore) {
			a.txnSkipping = true
		} else {
			a.log.Info("found the first transaction at or after the start time",
				"start_time", a.notBefore.Format(time.RFC3339), "begin", a.txn.Begin.String(), "gtid", a.txn.GTID)
			a.notBefore = time.Time{}
		}
	}
	if a.skipThrough.File != "" {
		if a.txn.Begin.Compare(a.skipThrough) < 0 {
			a.txnSkipping = true
		} else {
			a.skipThrough = change.Position{}
		}
	}
}

// beforeStart reports whether the assembler is still looking for the first
// transaction to deliver (a start by time, or a file position read from
// the file's start). Nothing before it reaches the consumer, not even a
// position: a consumer must not checkpoint before the start it asked for.
func (a *assembler) beforeStart() bool {
	return !a.notBefore.IsZero() || a.skipThrough.File != ""
}

// queryKind sorts the statements that frame transactions from the others.
type queryKind uint8

const (
	qOther queryKind = iota
	qBegin
	qCommit
	qRollback
	qXAStart
	qXAEnd
	qXAPrepare
	qXACommit
	qXARollback
	qSavepoint
	qDummy
)

func classifyQuery(q string) queryKind {
	q = strings.TrimLeft(q, " \t\r\n")
	word := func(w string) bool {
		if len(q) < len(w) || !strings.EqualFold(q[:len(w)], w) {
			return false
		}
		return len(q) == len(w) || !isIdentByte(q[len(w)])
	}
	switch {
	case word("BEGIN"):
		return qBegin
	case word("COMMIT"):
		return qCommit
	case word("SAVEPOINT"), word("RELEASE"):
		return qSavepoint
	case word("ROLLBACK"):
		rest := strings.TrimLeft(q[len("ROLLBACK"):], " \t\r\n")
		if len(rest) >= 2 && strings.EqualFold(rest[:2], "TO") {
			return qSavepoint
		}
		return qRollback
	case word("XA"):
		rest := strings.TrimLeft(q[2:], " \t\r\n")
		up := strings.ToUpper(rest)
		switch {
		case strings.HasPrefix(up, "START"), strings.HasPrefix(up, "BEGIN"):
			return qXAStart
		case strings.HasPrefix(up, "END"):
			return qXAEnd
		case strings.HasPrefix(up, "PREPARE"):
			return qXAPrepare
		case strings.HasPrefix(up, "COMMIT"):
			return qXACommit
		case strings.HasPrefix(up, "ROLLBACK"):
			return qXARollback
		}
	case strings.HasPrefix(q, "# Dummy"):
		// MariaDB's stand-in for an event an old replica cannot read.
		return qDummy
	}
	return qOther
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (a *assembler) query(e *binlog.QueryEvent) error {
	h := &e.EventHeader
	kind := classifyQuery(e.Query)
	switch a.state {
	case outside:
		switch kind {
		case qBegin, qXAStart:
			// A server without GTID events (MySQL before 5.7 or with
			// gtid_mode off and no anonymous GTIDs) opens with BEGIN.
			a.openGroup(h)
			a.decideSkip()
			a.state = inBody
			return nil
		case qCommit, qRollback, qXAEnd, qXAPrepare, qSavepoint:
			return a.outOfPlace(h)
		case qDummy:
			return nil
		}
		// A statement of its own, without a GTID event.
		a.openGroup(h)
		a.decideSkip()
		return a.statement(e, kind)
	case afterGTID:
		switch kind {
		case qBegin, qXAStart:
			a.state = inBody
			return nil
		case qDummy:
			return nil
		}
		return a.statement(e, kind)
	}
	// inBody
	switch kind {
	case qCommit, qXAPrepare:
		return a.commit()
	case qRollback:
		// Only changes to non-transactional tables reach the binlog in a
		// transaction that rolls back, and they did happen.
		return a.commit()
	case qXAEnd, qSavepoint, qDummy, qBegin, qXAStart:
		return nil
	case qXACommit, qXARollback:
		return a.commit()
	}
	a.log.Warn("statement inside a row-based transaction ignored (is binlog_format ROW?)",
		"at", a.where(h.Offset), "statement", abbreviate(e.Query, 200))
	return nil
}

// statement ends a group that is one statement: DDL (applied to the schema
// history and delivered), or the second phase of an XA transaction.
func (a *assembler) statement(e *binlog.QueryEvent, kind queryKind) error {
	h := &e.EventHeader
	switch kind {
	case qXACommit:
		// The changes were delivered at XA PREPARE.
		return a.commit()
	case qXARollback:
		a.log.Warn("XA ROLLBACK of a transaction whose changes were delivered at its XA PREPARE",
			"at", a.where(h.Offset), "statement", abbreviate(e.Query, 200))
		return a.commit()
	case qCommit, qRollback, qXAEnd, qXAPrepare, qSavepoint:
		return a.outOfPlace(h)
	}
	a.txn.DDL = &change.DDL{Schema: e.Schema, Statement: e.Query}
	a.ddlEvent = e
	return a.commit()
}

// rows adds a rows event's changes, emitting a fragment when the
// transaction has grown past fragmentRows.
func (a *assembler) rows(e *binlog.RowsEvent) error {
	if a.txnSkipping || e.Skipped || len(e.Changes) == 0 {
		return nil
	}
	a.changes.add(e.Changes)
	if a.fragmentRows > 0 && a.changes.len() >= a.fragmentRows {
		f := a.txn
		f.Changes = a.changes.take()
		f.End = a.position()
		f.Fragment = a.fragments
		f.More = true
		a.fragments++
		return a.emit(&f)
	}
	return nil
}

// commit ends the current group: it records its GTID, applies a DDL to the
// schema history and delivers the transaction.
func (a *assembler) commit() error {
	if a.txnHasGTID {
		switch {
		case a.txnIsMaria:
			if a.maria == nil {
				a.maria = &MariaDBGTIDList{}
			}
			a.maria.Update(a.txnMaria)
		default:
			if a.mysql == nil {
				a.mysql = &MySQLGTIDSet{}
			}
			a.mysql.Add(a.txnSID, a.txnTag, a.txnGNO)
		}
	}
	end := change.Position{File: a.file, Offset: a.pos}
	if a.gtidKnown && a.txnIsMaria && a.maria != nil && len(a.maria.gtids) == 1 {
		// The usual single-domain list is the transaction's own GTID.
		end.GTID = a.txn.GTID
	} else {
		end.GTID = a.gtidString()
	}
	t := a.txn
	t.Changes = a.changes.take()
	t.End = end
	if t.Begin.File == end.File && end.Offset >= t.Begin.Offset {
		t.Size = end.Offset - t.Begin.Offset
	}
	t.Fragment = a.fragments
	skipping, ddlEvent := a.txnSkipping, a.ddlEvent
	a.resetTxn()
	a.done = end

	if t.DDL != nil && a.history != nil {
		// DDL before the start of the capture still shapes the schema.
		q := schema.DDL{Schema: t.DDL.Schema, SQL: t.DDL.Statement, Pos: end, AtHead: a.atHead}
		if e := ddlEvent; e != nil {
			q.CollationServer = e.ServerCollation
			if e.HasSQLMode {
				q.SQLMode = e.SQLMode
			}
		}
		ctx := a.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if _, err := a.history.ApplyDDL(ctx, q); err != nil {
			if !skipping {
				return fmt.Errorf("apply DDL at %s to the schema history: %w", end, err)
			}
			// Before the start the history may already hold a later state
			// (it was opened at the start); the DDL is then not its to take.
			a.log.Warn("DDL before the start position not applied to the schema history",
				"at", end.String(), "error", err, "statement", abbreviate(t.DDL.Statement, 200))
		}
	}
	if skipping {
		// Before the start: the consumer hears nothing of it.
		a.stats.Skipped++
		return nil
	}
	if t.DDL == nil && len(t.Changes) == 0 && t.Fragment == 0 {
		t.Changes, t.DDL = nil, nil
		return a.coalesce(&t)
	}
	return a.emit(&t)
}

// emit delivers a transaction or fragment, unless it is one delivered
// before a reconnect.
func (a *assembler) emit(t *change.Txn) error {
	if a.resumeFragments > 0 {
		if t.Begin.Compare(a.resumeBegin) != 0 {
			return fmt.Errorf("resumed at %s expecting to re-read the transaction that began at %s (%d fragments delivered), but read one beginning at %s",
				a.done, a.resumeBegin, a.resumeFragments, t.Begin)
		}
		if t.Fragment < a.resumeFragments {
			return nil
		}
		a.resumeFragments = 0
	}
	// A delivered transaction moves the position past the coalesced ones.
	a.pending, a.pendingCount = nil, 0
	if t.Fragment > 0 {
		a.stats.Fragments++
	}
	if !t.More {
		a.stats.Txns++
	}
	a.stats.Rows += int64(len(t.Changes))
	return a.deliver(t)
}

// coalesce folds a transaction with nothing to deliver into the pending
// position-only Txn.
func (a *assembler) coalesce(t *change.Txn) error {
	a.stats.Skipped++
	if a.pending == nil {
		a.pending = &change.Txn{Begin: t.Begin}
		a.pendingSince = a.now()
	}
	a.pending.End = t.End
	a.pending.Timestamp = t.Timestamp
	a.pending.ServerID = t.ServerID
	a.pending.Size += t.Size
	a.pendingCount++
	if a.pendingCount >= a.coalesceTxns || a.now().Sub(a.pendingSince) >= a.coalesceWait {
		return a.flushPending()
	}
	return nil
}

// flushPending delivers the pending position-only Txn, if any. The stream
// calls it when it goes quiet.
func (a *assembler) flushPending() error {
	if a.pending == nil {
		return nil
	}
	p := a.pending
	a.pending, a.pendingCount = nil, 0
	return a.deliver(p)
}

// beginResume prepares the assembler for a new connection that starts at
// a.done: the transaction in progress is dropped, and if fragments of it
// were delivered they are skipped when it is read again.
func (a *assembler) beginResume() {
	if a.state != outside && a.fragments > 0 {
		a.resumeBegin = a.txn.Begin
		a.resumeFragments = a.fragments
	}
	a.resetTxn()
	a.file, a.pos = a.done.File, a.done.Offset
}

func abbreviate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
