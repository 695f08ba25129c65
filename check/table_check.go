package check

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
)

// tableCheck compares one table pair: a producer reads source chunk
// checksums (each in a consistent snapshot, with its binlog position) while a
// consumer waits for the target to apply each chunk's position and reads the
// target's checksum. Mismatching chunks are narrowed and verified on their
// own goroutines so that the stream of chunks goes on.
type tableCheck struct {
	ck  *Checker
	p   *pair
	rep *TableReport

	// progress: chunks finish out of order (narrowing takes a while); the
	// resume point advances over the finished prefix only.
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

type sourceChunk struct {
	seq int64
	r   keyRange
	sum chunkSum
	pos change.Position
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
	chunks := make(chan sourceChunk, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(chunks)
		sz := t.ck.takeSizer()
		defer t.ck.putSizer(sz)
		for seq := int64(0); ; seq++ {
			if err := t.ck.throttle.wait(ctx, sz.rows); err != nil {
				cancel(err)
				return
			}
			r, ok, err := ch.next(ctx, sz.rows)
			if err != nil {
				cancel(err)
				return
			}
			if !ok {
				return
			}
			start := time.Now()
			sum, pos, err := t.sourceSum(ctx, r)
			if err != nil {
				cancel(err)
				return
			}
			sz.observe(sum.count, time.Since(start))
			if ic != nil {
				ic.observe(r, sum.count)
			}
			select {
			case chunks <- sourceChunk{seq: seq, r: r, sum: sum, pos: pos}:
			case <-ctx.Done():
				return
			}
		}
	}()
	sem := make(chan struct{}, 4)
	for sc := range chunks {
		if err := t.ck.waiter.wait(ctx, sc.pos); err != nil {
			cancel(fmt.Errorf("table %s: %w", t.p.srcName, err))
			break
		}
		tsum, err := sideSum(ctx, t.ck.tgt.db, t.p.tgt, sc.r)
		if err != nil {
			cancel(err)
			break
		}
		if tsum == sc.sum {
			t.finish(sc.seq, chunkDone{r: sc.r, rows: sc.sum.count})
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(sc sourceChunk, tsum chunkSum) {
			defer wg.Done()
			defer func() { <-sem }()
			cands, err := t.narrow(ctx, sc.r, sc.sum.count, tsum.count)
			if err != nil {
				cancel(err)
				return
			}
			diffs, unsettled, err := t.verify(ctx, cands)
			if err != nil {
				cancel(err)
				return
			}
			t.finish(sc.seq, chunkDone{r: sc.r, rows: sc.sum.count, diffs: diffs, unsettled: len(unsettled)})
		}(sc, tsum)
	}
	// Drain so the producer can stop.
	for range chunks {
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

// finish records a finished chunk and advances the finished prefix, saving
// the resume state when it moves.
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
	if moved && t.ck.state != nil && t.after != nil {
		if err := t.ck.state.saveTable(t.rep, t.after, false); err != nil && t.saveErr == nil {
			t.saveErr = err
		}
	}
}

// sourceSum reads a source range's checksum; when the target's position
// matters it reads it in a consistent snapshot and returns its position.
func (t *tableCheck) sourceSum(ctx context.Context, r keyRange) (chunkSum, change.Position, error) {
	if !t.live() {
		s, err := sideSum(ctx, t.ck.src.db, t.p.src, r)
		return s, change.Position{}, err
	}
	sn, err := t.ck.src.beginSnapshot(ctx)
	if err != nil {
		return chunkSum{}, change.Position{}, err
	}
	defer sn.close()
	s, err := sideSum(ctx, sn.conn, t.p.src, r)
	return s, sn.pos, err
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
	sum, pos, err := t.sourceSum(ctx, keyRange{})
	if err != nil {
		return err
	}
	if err := t.ck.waiter.wait(ctx, pos); err != nil {
		return fmt.Errorf("table %s: %w", t.p.srcName, err)
	}
	tsum, err := sideSum(ctx, t.ck.tgt.db, t.p.tgt, keyRange{})
	if err != nil {
		return err
	}
	d := chunkDone{rows: sum.count}
	if tsum != sum {
		var srcRows, tgtRows map[string][]row
		if t.live() {
			sn, err := t.ck.src.beginSnapshot(ctx)
			if err != nil {
				return err
			}
			srcRows, err = wholeRows(ctx, sn.conn, t.p.src)
			sn.close()
			if err != nil {
				return err
			}
			if err := t.ck.waiter.wait(ctx, sn.pos); err != nil {
				return fmt.Errorf("table %s: %w", t.p.srcName, err)
			}
		} else if srcRows, err = wholeRows(ctx, t.ck.src.db, t.p.src); err != nil {
			return err
		}
		if tgtRows, err = wholeRows(ctx, t.ck.tgt.db, t.p.tgt); err != nil {
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
	s := *ck.sizer
	return &s
}

func (ck *Checker) putSizer(s *sizer) {
	ck.sizerMu.Lock()
	defer ck.sizerMu.Unlock()
	ck.sizer = s
}
