package apply

import (
	"bytes"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// targetRow is a row as read from the target, one canonical text per
// column (nil for NULL), in the form Value.AppendText writes.
type targetRow [][]byte

// conflictCheck is the outcome of checking one group against the target.
type conflictCheck struct {
	n     int         // conflicts found
	log   []statement // rows for the conflicts table
	found bool
}

// checkConflicts locks the target rows the group writes (SELECT ... FOR
// UPDATE), compares each with the state the source had at the start of the
// group, resolves every difference by the policy and drops the changes that
// lose. It runs inside the group's transaction, so the rows cannot change
// between the check and the write. Tables without a key are applied
// without a check.
func (w *worker) checkConflicts(g *Group, tw *TwoWay) (conflictCheck, error) {
	var res conflictCheck
	for _, o := range g.Tables {
		if o.Key == nil || o.serial || len(o.entries) == 0 {
			continue
		}
		rows, err := w.lockRows(o)
		if err != nil {
			return res, err
		}
		var dropped []bool
		policy, tsCol := tw.Conflicts.forTable(o.Table.QualifiedName())
		for i := range o.entries {
			e := &o.entries[i]
			tr := rows[i]
			if !conflicts(e, tr) {
				continue
			}
			apply := decide(policy, tsCol, tw, o.Table, e, tr)
			decision := "applied"
			if !apply {
				decision = "skipped"
				if dropped == nil {
					dropped = make([]bool, len(o.entries))
				}
				dropped[i] = true
			}
			res.n++
			res.log = append(res.log, w.conflictRow(g, tw, o, e, tr, policy, decision))
		}
		if dropped != nil {
			o.build(dropped)
		}
	}
	res.found = res.n > 0
	return res, nil
}

// conflicts reports whether the target row tr (nil when missing) is not
// what the change expected: the row's image at the start of the group, or
// no row for an insert. A target that already holds the outcome is no
// conflict: both sides made the same change.
func conflicts(e *entry, tr targetRow) bool {
	if e.existsAfter && tr != nil && rowMatches(tr, e.after) {
		return false
	}
	if !e.existsAfter && tr == nil {
		return false
	}
	if e.existedBefore {
		return tr == nil || !rowMatches(tr, e.before)
	}
	return tr != nil
}

// rowMatches compares the columns an image carries with a target row.
func rowMatches(tr targetRow, img change.Row) bool {
	var buf []byte
	for i := range img {
		v := img[i]
		switch v.Kind {
		case change.KindAbsent:
			continue
		case change.KindNull:
			if tr[i] != nil {
				return false
			}
			continue
		}
		if tr[i] == nil {
			return false
		}
		buf = canonical(buf[:0], v)
		if !bytes.Equal(buf, tr[i]) {
			return false
		}
	}
	return true
}

// canonical writes a value as the target's select expression returns it
// (see selectExpr).
func canonical(dst []byte, v change.Value) []byte {
	switch v.Kind {
	case change.KindFloat, change.KindDouble:
		return strconv.AppendFloat(dst, v.Float64(), 'g', -1, 64)
	}
	return v.AppendText(dst)
}

// selectExpr reads a column in the form canonical writes: FLOAT widened to
// DOUBLE so that no digit is lost, BIT as its number. Text comes back as
// stored, because the worker's session asks for binary results.
func selectExpr(c *change.Column) string {
	q := sqlbuild.QuoteIdent(c.Name)
	switch c.Type {
	case change.TypeFloat:
		return "CAST(" + q + " AS DOUBLE)"
	case change.TypeBit:
		return q + "+0"
	}
	return q
}

// lockRows reads and locks the target rows of a table's merged entries,
// returned in entry order (nil where the target has no row).
func (w *worker) lockRows(o *TableOps) ([]targetRow, error) {
	t := o.Table
	exprs := make([]string, len(t.Columns))
	for i := range t.Columns {
		exprs[i] = selectExpr(&t.Columns[i])
	}
	keyCols := make([]sqlbuild.Column, len(o.Key))
	for i, k := range o.Key {
		keyCols[i] = sqlbuild.Column{Name: t.Columns[k].Name}
	}
	index := map[string]int{}
	var kb []byte
	keyText := func(get func(k int) []byte) string {
		kb = kb[:0]
		for _, k := range o.Key {
			b := get(k)
			kb = strconv.AppendInt(kb, int64(len(b)), 10)
			kb = append(kb, ':')
			kb = append(kb, b...)
		}
		return string(kb)
	}
	var vb []byte
	for i := range o.entries {
		e := &o.entries[i]
		index[keyText(func(k int) []byte { vb = canonical(vb[:0], e.id[k]); return vb })] = i
	}
	out := make([]targetRow, len(o.entries))
	const per = 500
	for start := 0; start < len(o.entries); start += per {
		end := min(start+per, len(o.entries))
		var q []byte
		q = append(q, "SELECT "...)
		q = append(q, strings.Join(exprs, ",")...)
		q = append(q, " FROM "...)
		q = sqlbuild.AppendTable(q, t.Schema, t.Name)
		q = append(q, " WHERE "...)
		q = sqlbuild.AppendKeyIn(q, keyCols, end-start)
		q = append(q, " FOR UPDATE"...)
		args := make([]any, 0, (end-start)*len(o.Key))
		for i := start; i < end; i++ {
			for _, k := range o.Key {
				args = append(args, w.b.arg(o.entries[i].id[k]))
			}
		}
		rows, err := w.tx.QueryContext(w.r.ctx, string(q), args...)
		if err != nil {
			return nil, fmt.Errorf("read target rows of %s for the conflict check: %w", t.QualifiedName(), err)
		}
		raw := make([]sql.RawBytes, len(t.Columns))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read target rows of %s: %w", t.QualifiedName(), err)
			}
			tr := make(targetRow, len(raw))
			for i, b := range raw {
				if b != nil {
					tr[i] = append([]byte{}, b...)
				}
			}
			if i, ok := index[keyText(func(k int) []byte { return tr[k] })]; ok {
				out[i] = tr
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read target rows of %s: %w", t.QualifiedName(), err)
		}
	}
	return out, nil
}

// decide applies the policy to one conflicting row: true means the
// incoming change is written, false that the target row stays.
func decide(policy Resolution, tsCol string, tw *TwoWay, t *change.Table, e *entry, tr targetRow) bool {
	switch policy {
	case TargetWins:
		return false
	case SitePriority:
		origin := tw.SourceSite
		if e.txn != nil && e.txn.Origin != "" {
			origin = e.txn.Origin
		}
		return tw.Conflicts.priority(origin) <= tw.Conflicts.priority(tw.LocalSite)
	case LastWriterWins:
		i := t.ColumnIndex(tsCol)
		if i < 0 || tr == nil {
			return true // nothing to compare: the row is missing on the target
		}
		if e.existsAfter && e.after[i].Kind != change.KindAbsent && e.after[i].Kind != change.KindNull {
			incoming := canonical(nil, e.after[i])
			switch c := compareCanonical(incoming, tr[i]); {
			case c > 0:
				return true
			case c < 0:
				return false
			}
			// A tie is broken the same way on both sides, so that both
			// keep the same write: by site priority, else by site name.
			origin := tw.SourceSite
			if e.txn != nil && e.txn.Origin != "" {
				origin = e.txn.Origin
			}
			po, pl := tw.Conflicts.priority(origin), tw.Conflicts.priority(tw.LocalSite)
			if po != pl {
				return po < pl
			}
			return origin <= tw.LocalSite
		}
		// A delete that meets a row changed here loses: the update wins on
		// both sides (the other side brings the deleted row back), which
		// is the only outcome both sides reach without tombstones.
		return false
	}
	return true
}

// compareCanonical orders two canonical texts: numerically when both are
// numbers, else as text (dates and times in canonical form order as text).
func compareCanonical(a, b []byte) int {
	if b == nil {
		return 1
	}
	fa, errA := strconv.ParseFloat(string(a), 64)
	fb, errB := strconv.ParseFloat(string(b), 64)
	if errA == nil && errB == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return bytes.Compare(a, b)
}

// conflictRow is the statement that records one conflict.
func (w *worker) conflictRow(g *Group, tw *TwoWay, o *TableOps, e *entry, tr targetRow, policy Resolution, decision string) statement {
	a := w.r.a
	t := o.Table
	var before, after, target any
	if e.existedBefore {
		before = string(imageJSON(t, e.before))
	}
	if e.existsAfter {
		after = string(imageJSON(t, e.after))
	}
	if tr != nil {
		target = string(rawJSON(t, tr))
	}
	origin, pos, gtid := tw.SourceSite, g.End.String(), ""
	if e.txn != nil {
		if e.txn.Origin != "" {
			origin = e.txn.Origin
		}
		if !e.txn.End.IsZero() {
			pos = e.txn.End.String()
		}
		gtid = e.txn.GTID
	}
	q := "INSERT INTO " + sqlbuild.QuoteIdent(a.cfg.StateSchema) + ".`conflicts` " +
		"(`pipeline`,`channel`,`table_name`,`row_key`,`policy`,`decision`,`source_before`,`source_after`,`target_row`,`origin`,`position`,`gtid`) " +
		"VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
	return statement{query: q, table: t, args: []any{a.cfg.Pipeline, tw.Channel, t.QualifiedName(),
		describeKey(t, o.Key, e.id), string(policy), decision, before, after, target, origin, pos, gtid}}
}

// imageJSON renders a row image as a JSON object of column name to value.
func imageJSON(t *change.Table, r change.Row) []byte {
	b := []byte{'{'}
	n := 0
	for i, v := range r {
		if v.Kind == change.KindAbsent {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = change.AppendJSONString(b, []byte(t.Columns[i].Name))
		b = append(b, ':')
		b = v.AppendJSON(b, t.Columns[i].Charset)
	}
	return append(b, '}')
}

// rawJSON renders a target row (canonical texts) as a JSON object.
func rawJSON(t *change.Table, tr targetRow) []byte {
	b := []byte{'{'}
	for i, v := range tr {
		if i > 0 {
			b = append(b, ',')
		}
		b = change.AppendJSONString(b, []byte(t.Columns[i].Name))
		b = append(b, ':')
		if v == nil {
			b = append(b, "null"...)
		} else {
			b = change.AppendJSONString(b, change.ToUTF8(v, t.Columns[i].Charset))
		}
	}
	return append(b, '}')
}
