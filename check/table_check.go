package check

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
)

// tableCheck compares one table pair. A dispatcher cuts the key space into
// chunks; each chunk reads its source checksum (in a consistent snapshot,
// with its binlog position) and, as soon as the target has applied that
// position, the target's checksum, so that without changes in flight both
// servers work on the same chunk at once. Mismatching chunks are narrowed
// and verified on their own goroutine, so that the stream of chunks goes
// on while they wait for the target.
type tableCheck struct {
	ck  *Checker
	p   *pair
	rep *TableReport

	// progress: chunks finish out of order; the resume point advances over
	// the finished prefix only.
	mu      sync.Mutex
	next    int64 // seq of the first unfinished chunk
	done    map[int64]chunkDone
	after   []string // Hi of the finished prefix
	saveErr error
}

type chunkDone struct {
	r         keyRange
	rows      int64
	diffs     []Difference
	unsettled int
}

// chunkSum is a side's count and hash sum of one range.
type chunkSum struct {
	count int64
	sum   string
}

func (t *tableCheck) live() bool {
	_, none := t.ck.waiter.(noWaiter)
	return !none
}

func (t *tableCheck) run(ctx context.Context, after []string) error {
	t.done = map[int64]chunkDone{}
	t.after = after
	if t.p.key == nil {
		return t.runWhole(ctx)
	}
	var ch chunker
	var ic *intChunker
	if t.p.intKey {
		c, err := newIntChunker(ctx, t.ck.src.db, t.p.src, after)
		if err != nil {
			return err
		}
		ch, ic = c, c
	} else {
		ch = &walkChunker{db: t.ck.src.db, s: t.p.src, lo: after}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sz := t.ck.takeSizer()
	defer t.ck.putSizer(sz)
	var wg sync.WaitGroup
	for seq := int64(0); ctx.Err() == nil; seq++ {
		if err := acquire(ctx, t.ck.inflight); err != nil {
			break
		}
		rows := sz.size()
		// The throttle runs before the source slot is taken: while it holds
		// the check back, the slots held are queries running on the source.
		err := t.ck.throttle.wait(ctx, rows)
		if err == nil {
			err = acquire(ctx, t.ck.srcSlots)
		}
		if err != nil {
			release(t.ck.inflight)
			break
		}
		r, ok, err := ch.next(ctx, rows)
		if err != nil || !ok {
			release(t.ck.srcSlots)
			release(t.ck.inflight)
			t.ck.throttle.correct(rows, 0)
			if err != nil {
				cancel(err)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release(t.ck.inflight)
			if err := t.checkChunk(ctx, seq, r, rows, sz, ic); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.saveErr
}

// checkChunk compares one chunk. It is called holding a source slot, which
// it gives back once the source side is read.
func (t *tableCheck) checkChunk(ctx context.Context, seq int64, r keyRange, planned int64, sz *sizer, ic *intChunker) error {
	start := time.Now()
	q := queryer(t.ck.src.db)
	var pos change.Position
	var sn *snapshot
	if t.live() {
		var err error
		if sn, err = t.ck.src.beginSnapshot(ctx); err != nil {
			release(t.ck.srcSlots)
			return err
		}
		q, pos = sn.conn, sn.pos
	}
	tgt := make(chan sumResult, 1)
	go func() { tgt <- t.targetSum(ctx, r, pos) }()
	ssum, err := sideSum(ctx, q, t.p.src, r)
	if sn != nil {
		sn.close()
	}
	release(t.ck.srcSlots)
	if err != nil {
		return err
	}
	sz.observe(ssum.count, time.Since(start))
	t.ck.throttle.correct(planned, ssum.count)
	if ic != nil {
		ic.observe(r, ssum.count)
	}
	srcDone := time.Since(start)
	tr := <-tgt
	if tr.err != nil {
		return tr.err
	}
	t.ck.opts.Logger.Debug("chunk", "table", t.p.srcName.Name, "seq", seq, "rows", ssum.count, "source", srcDone.Round(time.Millisecond),
		"wait", tr.waited.Round(time.Millisecond), "target", tr.took.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
	if tr.sum == ssum {
		t.finish(seq, chunkDone{r: r, rows: ssum.count})
		return nil
	}
	nstart := time.Now()
	cands, err := t.narrow(ctx, r, ssum.count, tr.sum.count)
	if err != nil {
		return err
	}
	vstart := time.Now()
	diffs, unsettled, err := t.verify(ctx, cands)
	if err != nil {
		return err
	}
	t.ck.opts.Logger.Debug("mismatching chunk", "table", t.p.srcName.Name, "seq", seq, "candidates", len(cands), "narrow", vstart.Sub(nstart).Round(time.Millisecond),
		"verify", time.Since(vstart).Round(time.Millisecond), "differences", len(diffs), "unsettled", len(unsettled))
	t.finish(seq, chunkDone{r: r, rows: ssum.count, diffs: diffs, unsettled: len(unsettled)})
	return nil
}

type sumResult struct {
	sum          chunkSum
	err          error
	waited, took time.Duration
}

// targetSum reads the target's checksum of r once the target has applied
// source position pos.
func (t *tableCheck) targetSum(ctx context.Context, r keyRange, pos change.Position) sumResult {
	start := time.Now()
	if err := t.ck.waiter.wait(ctx, pos); err != nil {
		return sumResult{err: fmt.Errorf("table %s: %w", t.p.srcName, err)}
	}
	if err := acquire(ctx, t.ck.tgtSlots); err != nil {
		return sumResult{err: err}
	}
	defer release(t.ck.tgtSlots)
	waited := time.Since(start)
	s, err := sideSum(ctx, t.ck.tgt.db, t.p.tgt, r)
	return sumResult{sum: s, err: err, waited: waited, took: time.Since(start) - waited}
}

// finish records a finished chunk and advances the finished prefix, saving
// the progress when it moves.
func (t *tableCheck) finish(seq int64, d chunkDone) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[seq] = d
	moved := false
	for {
		d, ok := t.done[t.next]
		if !ok {
			break
		}
		delete(t.done, t.next)
		t.next++
		t.rep.Rows += d.rows
		t.rep.Chunks++
		t.rep.Unsettled += d.unsettled
		for _, df := range d.diffs {
			t.rep.add(df)
		}
		t.after = d.r.Hi
		moved = true
	}
	if !moved {
		return
	}
	if t.after != nil {
		// The context of the run may end at any moment; the save of a
		// finished prefix is still worth making.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := t.ck.saveProgress(ctx, t.rep, t.after, false)
		cancel()
		if err != nil && t.saveErr == nil {
			t.saveErr = err
		}
	}
	if h := t.ck.opts.hooks.afterChunk; h != nil {
		h(t.rep.Source, t.rep.Chunks)
	}
}

func sideSum(ctx context.Context, q queryer, s *sideSQL, r keyRange) (chunkSum, error) {
	query, args := s.checksumQuery(r)
	var cs chunkSum
	if err := q.QueryRowContext(ctx, query, args...).Scan(&cs.count, &cs.sum); err != nil {
		return cs, fmt.Errorf("checksum %s: %w", s.table, err)
	}
	return cs, nil
}

// runWhole compares a table without a key as one multiset of rows: the
// count and hash sum first, and on a mismatch every row's hash, so that
// the rows present more often on one side are reported.
func (t *tableCheck) runWhole(ctx context.Context) error {
	q := queryer(t.ck.src.db)
	var pos change.Position
	if t.live() {
		sn, err := t.ck.src.beginSnapshot(ctx)
		if err != nil {
			return err
		}
		defer sn.close()
		q, pos = sn.conn, sn.pos
	}
	sum, err := sideSum(ctx, q, t.p.src, keyRange{})
	if err != nil {
		return err
	}
	tr := t.targetSum(ctx, keyRange{}, pos)
	if tr.err != nil {
		return tr.err
	}
	d := chunkDone{rows: sum.count}
	if tr.sum != sum {
		// The same snapshot again: the target has applied its position.
		srcRows, err := wholeRows(ctx, q, t.p.src)
		if err != nil {
			return err
		}
		tgtRows, err := wholeRows(ctx, t.ck.tgt.db, t.p.tgt)
		if err != nil {
			return err
		}
		for h, rs := range srcRows {
			for i := len(tgtRows[h]); i < len(rs); i++ {
				d.diffs = append(d.diffs, Difference{Type: Missing, Source: rs[i]})
			}
		}
		for h, rs := range tgtRows {
			for i := len(srcRows[h]); i < len(rs); i++ {
				d.diffs = append(d.diffs, Difference{Type: Extra, Target: rs[i]})
			}
		}
	}
	t.finish(0, d)
	return nil
}

// wholeRows reads every row of a table grouped by row hash.
func wholeRows(ctx context.Context, q queryer, s *sideSQL) (map[string][]row, error) {
	rows, err := q.QueryContext(ctx, s.wholeTableRowsQuery())
	if err != nil {
		return nil, fmt.Errorf("read rows of %s: %w", s.table, err)
	}
	defer rows.Close()
	n := len(s.exprs)
	dest := make([][]byte, n+1)
	ptrs := make([]any, n+1)
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	out := map[string][]row{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read rows of %s: %w", s.table, err)
		}
		r := make(row, n)
		for i := range r {
			if dest[i] != nil {
				r[i] = append([]byte{}, dest[i]...)
			}
		}
		h := string(dest[n])
		out[h] = append(out[h], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows of %s: %w", s.table, err)
	}
	return out, nil
}

var _ queryer = (*sql.DB)(nil)

// takeSizer starts a table's chunk sizes where the last table left them.
func (ck *Checker) takeSizer() *sizer {
	ck.sizerMu.Lock()
	defer ck.sizerMu.Unlock()
	if ck.sizer == nil {
		return newSizer(ck.opts)
	}
	return ck.sizer.clone()
}

func (ck *Checker) putSizer(s *sizer) {
	ck.sizerMu.Lock()
	defer ck.sizerMu.Unlock()
	ck.sizer = s.clone()
}
