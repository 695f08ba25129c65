package check

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
)

// splitParts is how many parts a mismatching range is cut into per level.
const splitParts = 8

// narrow finds the keys whose rows may differ in a mismatching range: it
// splits the range, compares the parts' checksums and recurses into the
// parts that still mismatch; at LeafRows it compares per-row hashes.
//
// Narrowing never waits for the target. A row that differs for good holds
// its images on both sides whenever they are read, so it shows in every
// comparison, at whatever positions the two sides are; rows in flight may
// show too, and verify, which does wait, sorts them out. While the source
// is being written (a known target position), almost every part of a
// mismatching chunk holds some row in flight, so a checksum level would
// only cost a pass over the rows: the range is cut straight into leaves.
func (t *tableCheck) narrow(ctx context.Context, r keyRange, srcCount, tgtCount int64) ([][]string, error) {
	n := max(srcCount, tgtCount)
	if n <= t.ck.opts.LeafRows {
		return t.leaf(ctx, r)
	}
	// Cut where the side with more rows has its row-count boundaries, so
	// that rows present only on the target are split too.
	cutter, cutSide, slots := t.ck.src.db, t.p.src, t.ck.srcSlots
	if tgtCount > srcCount {
		cutter, cutSide, slots = t.ck.tgt.db, t.p.tgt, t.ck.tgtSlots
	}
	step := n/splitParts + 1
	if t.live() {
		step = t.ck.opts.LeafRows
	}
	if err := acquire(ctx, slots); err != nil {
		return nil, err
	}
	bounds, err := splitPoints(ctx, cutter, cutSide, r, step)
	release(slots)
	if err != nil {
		return nil, err
	}
	if len(bounds) == 0 {
		return t.leaf(ctx, r)
	}
	parts := make([]keyRange, 0, len(bounds)+1)
	lo := r.Lo
	for _, b := range bounds {
		parts = append(parts, keyRange{Lo: lo, Hi: b})
		lo = b
	}
	parts = append(parts, keyRange{Lo: lo, Hi: r.Hi})
	if h := t.ck.opts.hooks.onSplit; h != nil {
		h(len(parts))
	}
	// A few parts go on at once: the slots bound what runs on each server,
	// and this bounds the row hashes a narrowing holds in memory.
	keys := make([][][]string, len(parts))
	errs := make([]error, len(parts))
	sem := make(chan struct{}, 2*t.ck.opts.Parallel)
	var wg sync.WaitGroup
	for i, part := range parts {
		if errs[i] = acquire(ctx, sem); errs[i] != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release(sem)
			keys[i], errs[i] = t.narrowPart(ctx, part)
		}()
	}
	wg.Wait()
	var out [][]string
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, keys[i]...)
	}
	return out, nil
}

// narrowPart compares one part of a split range: straight by row hashes
// while the source is being written, else by checksums first.
func (t *tableCheck) narrowPart(ctx context.Context, part keyRange) ([][]string, error) {
	if t.live() {
		return t.leaf(ctx, part)
	}
	var ss, ts chunkSum
	err := bothSides(ctx, t.ck, func(ctx context.Context) (err error) {
		ss, err = sideSum(ctx, t.ck.src.db, t.p.src, part)
		return err
	}, func(ctx context.Context) (err error) {
		ts, err = sideSum(ctx, t.ck.tgt.db, t.p.tgt, part)
		return err
	})
	if err != nil || ts == ss {
		return nil, err
	}
	return t.narrow(ctx, part, ss.count, ts.count)
}

// bothSides runs a source read and a target read at once, each holding a
// slot of its server.
func bothSides(ctx context.Context, ck *Checker, src, tgt func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() {
		if err := acquire(ctx, ck.tgtSlots); err != nil {
			errc <- err
			return
		}
		defer release(ck.tgtSlots)
		errc <- tgt(ctx)
	}()
	err := acquire(ctx, ck.srcSlots)
	if err == nil {
		err = src(ctx)
		release(ck.srcSlots)
	}
	if terr := <-errc; err == nil {
		err = terr
	}
	return err
}

// splitPoints returns every step-th key of r in one pass.
func splitPoints(ctx context.Context, q queryer, s *sideSQL, r keyRange, step int64) ([][]string, error) {
	w, args := s.rangeWhere(r)
	query := "SELECT " + s.keyList() + " FROM (SELECT " + s.keyList() + ", ROW_NUMBER() OVER (ORDER BY " + s.keyList() +
		") AS sluice_rn FROM " + s.table + s.force + " WHERE " + w + ") AS sluice_split WHERE sluice_rn % ? = 0 ORDER BY " + s.keyList()
	rows, err := q.QueryContext(ctx, query, append(args, step)...)
	if err != nil {
		return nil, fmt.Errorf("split a range of %s: %w", s.table, err)
	}
	defer rows.Close()
	n := len(s.key)
	dest := make([][]byte, n)
	ptrs := make([]any, n)
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	var out [][]string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("split a range of %s: %w", s.table, err)
		}
		k := make([]string, n)
		for i := range k {
			k[i] = string(dest[i])
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// leaf compares the per-row hashes of a range, read on both sides at
// once, and returns the keys whose hash differs or that one side lacks.
func (t *tableCheck) leaf(ctx context.Context, r keyRange) ([][]string, error) {
	var src, tgt []rowHash
	err := bothSides(ctx, t.ck, func(ctx context.Context) (err error) {
		src, err = fetchRowHashes(ctx, t.ck.src.db, t.p.src, r)
		return err
	}, func(ctx context.Context) (err error) {
		tgt, err = fetchRowHashes(ctx, t.ck.tgt.db, t.p.tgt, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	srcHash := make(map[string]string, len(src))
	for _, h := range src {
		srcHash[encodeKey(h.key)] = h.hash
	}
	var out [][]string
	for _, h := range tgt {
		k := encodeKey(h.key)
		sh, ok := srcHash[k]
		delete(srcHash, k)
		if !ok || sh != h.hash {
			out = append(out, h.key)
		}
	}
	for _, h := range src {
		if _, ok := srcHash[encodeKey(h.key)]; ok {
			out = append(out, h.key)
		}
	}
	return out, nil
}

// verify decides which candidate rows really differ. Each round reads the
// rows from the source in a snapshot at position P, waits until the target
// has applied P, reads them from the target, then reads the source again.
// A row whose source image is the same before and after holds that image at
// every position in between, the target's included; so if the target's
// image differs, the difference is real and not in flight. Rows whose source
// image moved are read again next round. Without a known target position a
// difference must show in two rounds RecheckDelay apart.
func (t *tableCheck) verify(ctx context.Context, keys [][]string) ([]Difference, [][]string, error) {
	var out []Difference
	need, delay := 1, 50*time.Millisecond
	if !t.live() {
		need, delay = 2, t.ck.opts.RecheckDelay
	}
	seen := map[string]int{}
	pending := keys
	for round := 0; round < t.ck.opts.VerifyRounds && len(pending) > 0; round++ {
		if round > 0 {
			if err := sleep(ctx, delay); err != nil {
				return nil, nil, err
			}
		}
		var before map[string]row
		var pos change.Position
		var err error
		if t.live() {
			sn, err := t.ck.src.beginSnapshot(ctx)
			if err != nil {
				return nil, nil, err
			}
			before, err = fetchRows(ctx, sn.conn, t.p.src, pending, false)
			pos = sn.pos
			sn.close()
			if err != nil {
				return nil, nil, err
			}
		} else if before, err = fetchRows(ctx, t.ck.src.db, t.p.src, pending, false); err != nil {
			return nil, nil, err
		}
		if err := t.ck.waiter.wait(ctx, pos); err != nil {
			return nil, nil, fmt.Errorf("table %s: %w", t.p.srcName, err)
		}
		target, err := fetchRows(ctx, t.ck.tgt.db, t.p.tgt, pending, false)
		if err != nil {
			return nil, nil, err
		}
		after, err := fetchRows(ctx, t.ck.src.db, t.p.src, pending, false)
		if err != nil {
			return nil, nil, err
		}
		var next [][]string
		for _, k := range pending {
			ek := encodeKey(k)
			a, b, tg := before[ek], after[ek], target[ek]
			if !rowsEqual(a, b) {
				// The row changed while it was checked. If the target
				// already holds the newer image, nothing is left to
				// differ; if it holds the older one, the change may just
				// not have reached it: look again next round.
				if rowsEqual(b, tg) {
					continue
				}
				seen[ek] = 0
				next = append(next, k)
				continue
			}
			if rowsEqual(a, tg) {
				continue
			}
			seen[ek]++
			if seen[ek] < need {
				next = append(next, k)
				continue
			}
			d := Difference{Key: k, Source: a, Target: tg}
			switch {
			case tg == nil:
				d.Type = Missing
			case a == nil:
				d.Type = Extra
			default:
				d.Type = Different
				d.Columns = differingColumns(a, tg, t.p.cols)
			}
			out = append(out, d)
		}
		pending = next
	}
	return out, pending, nil
}
