package check

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-db/sluice/change"
)

// splitParts is how many parts a mismatching range is cut into per level.
const splitParts = 8

// narrow finds the keys whose rows may differ in a mismatching range: it
// splits the range, compares the parts' checksums and recurses into the
// parts that still mismatch; below LeafRows it compares per-row hashes.
// Rows in flight show up here too; verify sorts them out.
func (t *tableCheck) narrow(ctx context.Context, r keyRange, srcCount, tgtCount int64) ([][]string, error) {
	if max(srcCount, tgtCount) <= t.ck.opts.LeafRows {
		return t.leaf(ctx, r)
	}
	// Cut where the side with more rows has its row-count boundaries, so
	// that rows present only on the target are split too.
	cutter, cutSide := t.ck.src.db, t.p.src
	if tgtCount > srcCount {
		cutter, cutSide = t.ck.tgt.db, t.p.tgt
	}
	step := max(srcCount, tgtCount)/splitParts + 1
	bounds, err := splitPoints(ctx, cutter, cutSide, r, step)
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

	srcSums, pos, err := t.sourceSums(ctx, parts)
	if err != nil {
		return nil, err
	}
	if err := t.ck.waiter.wait(ctx, pos); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.p.srcName, err)
	}
	var out [][]string
	for i, part := range parts {
		ts, err := sideSum(ctx, t.ck.tgt.db, t.p.tgt, part)
		if err != nil {
			return nil, err
		}
		if ts == srcSums[i] {
			continue
		}
		keys, err := t.narrow(ctx, part, srcSums[i].count, ts.count)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
	}
	return out, nil
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

// sourceSums reads the checksums of several ranges in one snapshot.
func (t *tableCheck) sourceSums(ctx context.Context, parts []keyRange) ([]chunkSum, change.Position, error) {
	q := queryer(t.ck.src.db)
	var pos change.Position
	if t.live() {
		sn, err := t.ck.src.beginSnapshot(ctx)
		if err != nil {
			return nil, pos, err
		}
		defer sn.close()
		q, pos = sn.conn, sn.pos
	}
	out := make([]chunkSum, len(parts))
	for i, part := range parts {
		s, err := sideSum(ctx, q, t.p.src, part)
		if err != nil {
			return nil, pos, err
		}
		out[i] = s
	}
	return out, pos, nil
}

// leaf compares the per-row hashes of a small range and returns the keys
// whose hash differs or that one side lacks.
func (t *tableCheck) leaf(ctx context.Context, r keyRange) ([][]string, error) {
	var src []rowHash
	var pos change.Position
	var err error
	if t.live() {
		sn, err := t.ck.src.beginSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		src, err = fetchRowHashes(ctx, sn.conn, t.p.src, r)
		pos = sn.pos
		sn.close()
		if err != nil {
			return nil, err
		}
	} else if src, err = fetchRowHashes(ctx, t.ck.src.db, t.p.src, r); err != nil {
		return nil, err
	}
	if err := t.ck.waiter.wait(ctx, pos); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.p.srcName, err)
	}
	tgt, err := fetchRowHashes(ctx, t.ck.tgt.db, t.p.tgt, r)
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
