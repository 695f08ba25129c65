package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// worker applies groups on one target connection.
type worker struct {
	r     *run
	id    int
	conn  *sql.Conn
	tasks chan *task
	b     *builder
	stmts []statement
	// tx is the open target transaction of a large source transaction
	// whose fragments are still arriving; nil otherwise.
	tx *sql.Tx
	// load writes rows believed new with LOAD DATA LOCAL; nil when the
	// target does not allow it.
	load *loader
	// h hashes row keys when a group is split (split.go).
	h maphash.Hash
}

// sessionSetup makes the target session behave the same whatever the
// server's defaults: UTC for TIMESTAMP text, a SQL mode that accepts every
// value the source could have stored but rejects values the target column
// cannot hold, READ COMMITTED to keep gap locks from making unrelated groups
// wait for each other (one-way), and a short lock wait so that a rare wait
// cycle between ordered commits ends quickly (the group is then retried).
//
// A two-way applier also reads target rows for its conflict check; it asks
// for them as stored (binary results), to compare them byte for byte with
// the source's images.
func sessionSetup(foreignKeyChecks, twoWay bool) []string {
	fk := "0"
	if foreignKeyChecks {
		fk = "1"
	}
	isolation := "READ COMMITTED"
	if twoWay {
		// The conflict check's SELECT ... FOR UPDATE must also lock the
		// gap of a row it found missing, so that a local insert cannot
		// slip in between the check and the write.
		isolation = "REPEATABLE READ"
	}
	s := []string{
		"SET SESSION time_zone='+00:00'",
		"SET SESSION sql_mode='STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES,NO_ENGINE_SUBSTITUTION'",
		"SET SESSION foreign_key_checks=" + fk,
		"SET SESSION TRANSACTION ISOLATION LEVEL " + isolation,
		"SET SESSION innodb_lock_wait_timeout=10",
	}
	if twoWay {
		s = append(s, "SET SESSION character_set_results=binary")
	}
	return s
}

func (r *run) newWorker(id int) (*worker, error) {
	a := r.a
	conn, err := a.db.Conn(r.ctx)
	if err != nil {
		return nil, r.wrap(&Error{Transient: true, Err: fmt.Errorf("connect to target %s: %w", a.cfg.Target, err)})
	}
	for _, q := range sessionSetup(a.cfg.ForeignKeyChecks, a.cfg.TwoWay != nil) {
		if _, err := conn.ExecContext(r.ctx, q); err != nil {
			conn.Close()
			return nil, r.wrap(&Error{Transient: IsTransient(err), Err: fmt.Errorf("set up target session (%s): %w", q, err)})
		}
	}
	w := &worker{r: r, id: id, conn: conn, tasks: make(chan *task, 1), b: newBuilder(a.aliases)}
	w.h.SetSeed(a.seed)
	// Two-way appliers insert with the INSERT path: they run at REPEATABLE
	// READ beside the site's own writers, where a load's gap locks make
	// deadlocks routine (see docs/sync.md).
	var localInfile int
	if a.cfg.TwoWay == nil {
		if err := conn.QueryRowContext(r.ctx, "SELECT @@local_infile").Scan(&localInfile); err == nil && localInfile == 1 {
			w.load = newLoader()
		}
	}
	return w, nil
}

// wrap fills in the pipeline name.
func (r *run) wrap(e *Error) *Error {
	e.Pipeline = r.a.cfg.Pipeline
	return e
}

func (w *worker) close() {
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
	}
	if w.load != nil {
		w.load.close()
	}
	w.conn.Close()
}

func (w *worker) loop() {
	for t := range w.tasks {
		if w.r.failed() {
			w.rollback()
			continue
		}
		if err := w.apply(t); err != nil {
			w.rollback()
			if !errors.Is(err, errStopping) {
				w.r.fail(err)
			}
		}
		w.r.idle <- w
	}
}

func (w *worker) rollback() {
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
	}
}

// apply runs one group: its statements (for a one-way group that conflicts
// with earlier ones, the rows it shares with them last, once those have
// executed), then, once every earlier group has committed, the checkpoint
// and the commit.
func (w *worker) apply(t *task) error {
	r, g := w.r, t.g
	tw := r.a.cfg.TwoWay
	waitStart := time.Now()
	// A group dispatch found splittable (one-way, conflicts over rows
	// only: t.earlier) writes the rows it shares with earlier groups last
	// (split.go); any other starts once the group it conflicts with has
	// committed (a two-way group reads target rows for its conflict check).
	var free, shared []*TableOps
	split := int64(0)
	if len(t.earlier) == 0 {
		if !r.wait(t.dep) {
			return errStopping
		}
		t.dep = nil
		free = g.Tables
	} else {
		free, shared = splitShared(g, t.earlier, &w.h)
		if len(free) > 0 {
			split = 1
		}
	}
	// Forget the groups waited for: otherwise every task would keep the
	// one before it, and with it every transaction ever applied.
	t.earlier = nil
	waited := time.Since(waitStart)
	if g.DDL != nil {
		return w.applyDDL(t)
	}
	if w.tx == nil {
		tx, err := w.conn.BeginTx(r.ctx, nil)
		if err != nil {
			return w.fail(t, err, nil)
		}
		w.tx = tx
		if tw != nil {
			// The mark comes first, so that even the first fragment of a
			// large transaction carries it.
			if _, err := w.tx.ExecContext(r.ctx, markStatement(r.a.cfg.StateSchema), tw.Channel, r.a.cfg.Pipeline, w.id, groupOrigin(g, tw)); err != nil {
				return w.fail(t, fmt.Errorf("write two-way mark: %w", err), nil)
			}
		}
	}
	w.b.reset()
	var cc conflictCheck
	if tw != nil {
		var err error
		if cc, err = w.checkConflicts(g, tw); err != nil {
			return w.fail(t, err, nil)
		}
	}
	execStart := time.Now()
	nStmts, loadedRows := 0, 0
	run := func(ops []*TableOps, extra []statement) error {
		w.stmts = w.stmts[:0]
		for _, o := range ops {
			w.stmts = w.b.build(w.stmts, o)
		}
		w.stmts = append(w.stmts, extra...)
		nStmts += len(w.stmts)
		n, err := w.exec(t)
		loadedRows += n
		return err
	}
	if err := run(free, cc.log); err != nil {
		return err
	}
	if t.dep != nil {
		depStart := time.Now()
		if !r.waitExecuted(t.dep) {
			return errStopping
		}
		t.dep = nil
		waited += time.Since(depStart)
		if err := run(shared, nil); err != nil {
			return err
		}
	}
	g.conflicts += cc.n
	execd := time.Since(execStart)
	r.a.count(func(st *Stats) {
		st.Groups++
		st.Statements += int64(nStmts)
		st.Rows += int64(g.Rows)
		st.Txns += int64(len(g.Txns))
		st.Loaded += int64(loadedRows)
		st.Split += split
		st.Exec += execd
	})
	if g.Open {
		// More fragments of this source transaction follow on this
		// connection; nothing commits until the last one. Everything
		// before the first fragment has committed (it ran alone).
		t.prev = nil
		t.done()
		return nil
	}
	prevStart := time.Now()
	if !r.waitExecuted(t.prev) {
		return errStopping
	}
	t.markExecuted()
	if !r.wait(t.prev) {
		return errStopping
	}
	t.prev = nil
	commitStart := time.Now()
	waited += commitStart.Sub(prevStart)
	if err := w.writeCheckpoint(w.tx, g.End, g, ""); err != nil {
		return err
	}
	err := w.tx.Commit()
	r.a.count(func(st *Stats) { st.Commit += time.Since(commitStart); st.Wait += waited })
	if err != nil {
		w.tx = nil
		// The commit may or may not have happened; the checkpoint in the
		// target tells, and a restart reads it.
		return r.wrap(&Error{Position: g.End, Transient: true, Err: fmt.Errorf("commit: %w", err)})
	}
	w.tx = nil
	r.noteCommitted(g.End)
	t.done()
	w.committed(g)
	return nil
}

// exec runs w.stmts in t's open target transaction and returns how many rows
// went in by LOAD DATA.
func (w *worker) exec(t *task) (loaded int, err error) {
	ctx := w.r.ctx
	for i := range w.stmts {
		st := &w.stmts[i]
		if st.upsertOnDuplicate && w.load != nil {
			ok, err := w.load.load(ctx, w.tx, st)
			if err != nil {
				return loaded, w.fail(t, err, st)
			}
			if ok {
				loaded += len(st.rows)
				continue
			}
		}
		_, err := w.tx.ExecContext(ctx, st.query, st.args...)
		if err != nil && st.upsertOnDuplicate && isDuplicate(err) {
			up := w.b.asUpsert(st)
			_, err = w.tx.ExecContext(ctx, up.query, up.args...)
		}
		if err != nil {
			return loaded, w.fail(t, err, st)
		}
	}
	return loaded, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// writeCheckpoint records that the target holds everything up to pos. It
// fails with ErrFenced when another owner has claimed the pipeline.
func (w *worker) writeCheckpoint(x execer, pos change.Position, g *Group, pendingDDL string) error {
	a := w.r.a
	res, err := x.ExecContext(w.r.ctx, checkpointUpdate(a.cfg.StateSchema),
		checkpointArgs(a.cfg.Pipeline, a.epoch, pos, g.Timestamp, pendingDDL)...)
	if err != nil {
		return w.r.wrap(&Error{Position: pos, Transient: IsTransient(err), Err: fmt.Errorf("write checkpoint: %w", err)})
	}
	if n, err := res.RowsAffected(); err == nil && n != 1 {
		return w.r.wrap(&Error{Position: pos, Err: ErrFenced})
	}
	return nil
}

func (w *worker) committed(g *Group) {
	if f := w.r.a.cfg.OnCommit; f != nil {
		f(Committed{Position: g.End, Timestamp: g.Timestamp, Txns: len(g.Txns), Rows: g.Rows, DDL: g.DDL != nil, Conflicts: g.conflicts})
	}
}

// fail turns a statement error into an Error. A permanent error is narrowed
// down to the source transaction and the row that cause it, so the operator
// reads which change the target refused.
func (w *worker) fail(t *task, err error, st *statement) error {
	r, g := w.r, t.g
	if r.ctx.Err() != nil {
		return errStopping
	}
	e := &Error{Position: g.End, Transient: IsTransient(err), Err: err}
	if st != nil {
		e.Table = st.table.QualifiedName()
	}
	if e.Transient || st == nil || g.Open || g.Continues {
		return r.wrap(e)
	}
	w.rollback()
	// The replay must see what the group saw: everything before it
	// committed. If an earlier group fails instead, its error is reported.
	if !r.wait(t.prev) {
		return errStopping
	}
	if d := w.diagnose(g); d != nil {
		return r.wrap(d)
	}
	return r.wrap(e)
}

// diagnose replays g one transaction and one row at a time in a transaction
// it always rolls back, and reports the first change the target refuses.
func (w *worker) diagnose(g *Group) *Error {
	r := w.r
	tx, err := w.conn.BeginTx(r.ctx, nil)
	if err != nil {
		return nil
	}
	defer tx.Rollback()
	b := newBuilder(w.b.aliases)
	for _, txn := range g.Txns {
		gr := newGrouper(GroupLimits{}, r.a.seed)
		gr.Add(txn)
		sub := gr.Take()
		var stmts []statement
		for _, o := range sub.Tables {
			stmts = b.buildOneByOne(stmts, o)
		}
		for i := range stmts {
			st := &stmts[i]
			_, err := tx.ExecContext(r.ctx, st.query, st.args...)
			if err != nil && st.upsertOnDuplicate && isDuplicate(err) {
				up := b.asUpsert(st)
				_, err = tx.ExecContext(r.ctx, up.query, up.args...)
			}
			if err != nil {
				e := &Error{Position: txn.End, GTID: txn.GTID, Transient: IsTransient(err), Err: err, Table: st.table.QualifiedName()}
				if len(st.rows) == 1 {
					e.Key = describeKey(st.table, st.key, st.rows[0])
				}
				return e
			}
		}
	}
	return nil
}

// buildOneByOne is build with one row per statement.
func (b *builder) buildOneByOne(out []statement, o *TableOps) []statement {
	one := *o
	for _, d := range o.Deletes {
		one.Deletes, one.Upserts, one.Inserts, one.Serial = []change.Row{d}, nil, nil, nil
		out = b.build(out, &one)
	}
	for i := range o.Serial {
		out = append(out, b.serial(&o.Serial[i], o.Key))
	}
	for _, u := range o.Upserts {
		one.Deletes, one.Upserts, one.Inserts, one.Serial = nil, []change.Row{u}, nil, nil
		out = b.build(out, &one)
	}
	for _, u := range o.Inserts {
		one.Deletes, one.Upserts, one.Inserts, one.Serial = nil, nil, []change.Row{u}, nil
		out = b.build(out, &one)
	}
	return out
}

// describeKey renders the key of a row for messages: "id=5",
// "(a,b)=(1,'x')", or the whole row when the table has no key.
func describeKey(t *change.Table, key []int, r change.Row) string {
	cols := key
	if cols == nil {
		for i := range r {
			if r[i].Kind != change.KindAbsent {
				cols = append(cols, i)
			}
		}
	}
	names := make([]string, len(cols))
	vals := make([]string, len(cols))
	for i, c := range cols {
		names[i] = t.Columns[c].Name
		v := r[c].String()
		if r[c].Kind == change.KindString || r[c].Kind == change.KindBytes {
			v = "'" + v + "'"
		}
		if len(v) > 64 {
			v = v[:61] + "..."
		}
		vals[i] = v
	}
	if len(cols) == 1 {
		return names[0] + "=" + vals[0]
	}
	return "(" + strings.Join(names, ",") + ")=(" + strings.Join(vals, ",") + ")"
}

// applyDDL runs a DDL statement. DDL commits on its own in MySQL, so it
// cannot share a transaction with the checkpoint: the checkpoint first
// records the DDL as pending, then the DDL runs, then the checkpoint moves
// past it. After a crash in between, the restarted pipeline finds the
// marker and treats "already exists"/"does not exist" errors of that one
// statement as done.
func (w *worker) applyDDL(t *task) error {
	r, g := w.r, t.g
	a := r.a
	txn := g.DDL
	marker := txn.End.String()
	crashedHere := a.cp.PendingDDL == marker
	if !r.wait(t.prev) {
		return errStopping
	}
	t.prev = nil
	prev := a.cp.Position
	if p := r.lastCommitted(); !p.IsZero() {
		prev = p
	}
	if err := w.writeCheckpoint(w.conn, prev, g, marker); err != nil {
		return err
	}
	if txn.DDL.Schema != "" {
		if _, err := w.conn.ExecContext(r.ctx, "USE "+sqlbuild.QuoteIdent(txn.DDL.Schema)); err != nil {
			return r.wrap(&Error{Position: txn.End, GTID: txn.GTID, Transient: IsTransient(err),
				Err: fmt.Errorf("ddl %q: use database: %w", abbreviate(txn.DDL.Statement), err)})
		}
	}
	if _, err := w.conn.ExecContext(r.ctx, txn.DDL.Statement); err != nil {
		if !(crashedHere && alreadyApplied(err)) {
			return r.wrap(&Error{Position: txn.End, GTID: txn.GTID, Transient: IsTransient(err),
				Err: fmt.Errorf("ddl %q: %w", abbreviate(txn.DDL.Statement), err)})
		}
		a.log.Warn("ddl already applied before a restart; continuing",
			"pipeline", a.cfg.Pipeline, "position", marker, "error", err)
	}
	if err := w.writeCheckpoint(w.conn, g.End, g, ""); err != nil {
		return err
	}
	r.noteCommitted(g.End)
	t.done()
	w.committed(g)
	return nil
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		return s[:197] + "..."
	}
	return s
}

// groupOrigin is the site a group's changes come from, for the mark: the
// origin its first transaction learnt from an upstream mark, else the
// source's site.
func groupOrigin(g *Group, tw *TwoWay) string {
	if len(g.Txns) > 0 && g.Txns[0].Origin != "" {
		return g.Txns[0].Origin
	}
	return tw.SourceSite
}
