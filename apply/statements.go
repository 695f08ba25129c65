package apply

import (
	"strings"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// statement is one SQL statement with its bound arguments, ready to run.
type statement struct {
	query string
	args  []any
	// table and rows say what it writes, for error messages.
	table *change.Table
	rows  []change.Row
	key   []int
	// upsertOnDuplicate marks a plain INSERT of rows believed new: if one
	// exists after all (error 1062), the statement, rolled back alone by
	// the server, runs again as an upsert.
	upsertOnDuplicate bool
	present           []int
}

// maxStatementRows and maxStatementBytes bound one statement: large enough
// that a catch-up runs few statements, small enough to stay far below
// max_allowed_packet and to keep the server's parse cheap.
const (
	maxStatementRows  = 1000
	maxStatementBytes = 2 << 20
)

// builder turns TableOps into statements. It caches statement text by shape
// so that a busy table's statements are built once.
type builder struct {
	aliases bool // MySQL 8.0.19+ row alias form for upserts
	cache   map[shapeKey]string
	args    []any
	scratch []byte
}

type shapeKey struct {
	table *change.Table
	kind  byte // 'd' delete, 'u' upsert
	cols  string
	rows  int
}

func newBuilder(aliases bool) *builder {
	return &builder{aliases: aliases, cache: map[shapeKey]string{}}
}

// reset drops argument storage between transactions; the statement text
// cache survives.
func (b *builder) reset() {
	for i := range b.args {
		b.args[i] = nil
	}
	b.args = b.args[:0]
	b.scratch = b.scratch[:0]
	if len(b.cache) > 4096 {
		clear(b.cache)
	}
}

// build appends the statements for one table's merged operations: deletes
// first, then the serial changes, then the upserts.
func (b *builder) build(out []statement, o *TableOps) []statement {
	if len(o.Deletes) > 0 {
		out = b.deletes(out, o)
	}
	for i := range o.Serial {
		out = append(out, b.serial(&o.Serial[i], o.Key))
	}
	if len(o.Upserts) > 0 {
		out = b.upserts(out, o, o.Upserts, true)
	}
	if len(o.Inserts) > 0 {
		out = b.upserts(out, o, o.Inserts, false)
	}
	return out
}

func (b *builder) columns(t *change.Table, idx []int) []sqlbuild.Column {
	cols := make([]sqlbuild.Column, len(idx))
	for i, c := range idx {
		cols[i] = sqlbuild.Column{Name: t.Columns[c].Name, JSON: t.Columns[c].Type == change.TypeJSON}
	}
	return cols
}

func (b *builder) deletes(out []statement, o *TableOps) []statement {
	t := o.Table
	// Deletes go as single-row statements in multi-statement calls (see
	// sqlbuild.AppendDeleteRows).
	per := sqlbuild.MaxRowsPerStatement(len(o.Key), maxStatementRows)
	for start := 0; start < len(o.Deletes); {
		end, size := start, 0
		for end < len(o.Deletes) && end-start < per && size < maxStatementBytes {
			size += rowSize(o.Deletes[end], o.Key)
			end++
		}
		rows := o.Deletes[start:end]
		k := shapeKey{table: t, kind: 'd', rows: len(rows)}
		q, ok := b.cache[k]
		if !ok {
			q = string(sqlbuild.AppendDeleteRows(nil, t.Schema, t.Name, b.columns(t, o.Key), len(rows)))
			b.cache[k] = q
		}
		first := len(b.args)
		for _, r := range rows {
			for _, c := range o.Key {
				b.args = append(b.args, b.arg(r[c]))
			}
		}
		out = append(out, statement{query: q, args: b.args[first:len(b.args):len(b.args)], table: t, rows: rows, key: o.Key})
		start = end
	}
	return out
}

// upserts writes final images, grouped by the set of columns they carry
// (all of them, unless the source logs MINIMAL images): as upserts, or as
// plain inserts that fall back to upserts.
func (b *builder) upserts(out []statement, o *TableOps, rows []change.Row, upsert bool) []statement {
	t := o.Table
	for len(rows) > 0 {
		present := presentColumns(rows[0])
		sig := columnSignature(present)
		// Take the run of rows with the same columns.
		n := 1
		for n < len(rows) && sameColumns(rows[n], present, len(t.Columns)) {
			n++
		}
		out = b.upsertRun(out, o, rows[:n], present, sig, upsert)
		rows = rows[n:]
	}
	return out
}

func (b *builder) upsertRun(out []statement, o *TableOps, rows []change.Row, present []int, sig string, upsert bool) []statement {
	t := o.Table
	keyPos := make([]int, 0, len(o.Key))
	for i, c := range present {
		for _, k := range o.Key {
			if c == k {
				keyPos = append(keyPos, i)
			}
		}
	}
	per := sqlbuild.MaxRowsPerStatement(len(present), maxStatementRows)
	for start := 0; start < len(rows); {
		end, size := start, 0
		for end < len(rows) && end-start < per && size < maxStatementBytes {
			size += rowSize(rows[end], present)
			end++
		}
		chunk := rows[start:end]
		q := b.insertText(t, present, keyPos, sig, len(chunk), upsert)
		first := len(b.args)
		for _, r := range chunk {
			for _, c := range present {
				b.args = append(b.args, b.arg(r[c]))
			}
		}
		out = append(out, statement{query: q, args: b.args[first:len(b.args):len(b.args)], table: t, rows: chunk, key: o.Key,
			upsertOnDuplicate: !upsert, present: present})
		start = end
	}
	return out
}

// insertText is the text of an INSERT (or upsert) of rows rows, cached.
func (b *builder) insertText(t *change.Table, present, keyPos []int, sig string, rows int, upsert bool) string {
	kind := byte('i')
	if upsert {
		kind = 'u'
	}
	k := shapeKey{table: t, kind: kind, cols: sig, rows: rows}
	q, ok := b.cache[k]
	if !ok {
		q = string(sqlbuild.AppendInsert(nil, t.Schema, t.Name, b.columns(t, present), rows, upsert, b.aliases, keyPos))
		b.cache[k] = q
	}
	return q
}

// asUpsert turns a plain INSERT statement into the upsert of the same rows.
func (b *builder) asUpsert(st *statement) statement {
	keyPos := make([]int, 0, len(st.key))
	for i, c := range st.present {
		for _, k := range st.key {
			if c == k {
				keyPos = append(keyPos, i)
			}
		}
	}
	up := *st
	up.query = b.insertText(st.table, st.present, keyPos, columnSignature(st.present), len(st.rows), true)
	up.upsertOnDuplicate = false
	return up
}

// serial writes one change of a table without a usable key, or with partial
// images, as its own statement. Without a key, rows are matched on every
// column they carry, one row at a time.
func (b *builder) serial(c *change.RowChange, key []int) statement {
	t := c.Table
	first := len(b.args)
	var q []byte
	switch c.Op {
	case change.Insert:
		present := presentColumns(c.After)
		q = sqlbuild.AppendInsert(nil, t.Schema, t.Name, b.columns(t, present), 1, false, false, nil)
		for _, i := range present {
			b.args = append(b.args, b.arg(c.After[i]))
		}
	case change.Update:
		set := presentColumns(c.After)
		q = append(q, "UPDATE "...)
		q = sqlbuild.AppendTable(q, t.Schema, t.Name)
		q = append(q, " SET "...)
		q = sqlbuild.AppendSet(q, b.columns(t, set))
		for _, i := range set {
			b.args = append(b.args, b.arg(c.After[i]))
		}
		q = b.where(q, t, key, c.Before)
	case change.Delete:
		q = append(q, "DELETE FROM "...)
		q = sqlbuild.AppendTable(q, t.Schema, t.Name)
		q = b.where(q, t, key, c.Before)
	}
	img := c.Before
	if img == nil {
		img = c.After
	}
	return statement{query: string(q), args: b.args[first:len(b.args):len(b.args)], table: t, rows: []change.Row{img}, key: key}
}

// where appends the condition that finds the row of image img: its key, or
// all its present columns (NULL-safe) and LIMIT 1 when there is no key.
func (b *builder) where(q []byte, t *change.Table, key []int, img change.Row) []byte {
	q = append(q, " WHERE "...)
	cols := key
	if cols == nil {
		cols = presentColumns(img)
	}
	q = sqlbuild.AppendMatch(q, b.columns(t, cols))
	for _, c := range cols {
		b.args = append(b.args, b.arg(img[c]))
	}
	if key == nil {
		q = append(q, " LIMIT 1"...)
	}
	return q
}

func presentColumns(r change.Row) []int {
	out := make([]int, 0, len(r))
	for i := range r {
		if r[i].Kind != change.KindAbsent {
			out = append(out, i)
		}
	}
	return out
}

func sameColumns(r change.Row, present []int, n int) bool {
	j := 0
	for i := 0; i < n; i++ {
		isPresent := r[i].Kind != change.KindAbsent
		inSet := j < len(present) && present[j] == i
		if isPresent != inSet {
			return false
		}
		if inSet {
			j++
		}
	}
	return true
}

func columnSignature(present []int) string {
	var sb strings.Builder
	for _, c := range present {
		sb.WriteString(sqlbuild.Itoa(c))
		sb.WriteByte(',')
	}
	return sb.String()
}

// rowSize estimates the bytes a row adds to a statement.
func rowSize(r change.Row, cols []int) int {
	n := 0
	for _, c := range cols {
		n += 8 + 2*len(r[c].B)
	}
	return n
}

// arg converts a value into what the driver binds. Text and bytes are bound
// as bytes, which the driver sends as binary strings: the server stores them
// without any character set conversion, so every column charset round-trips
// byte-exact. Temporal values are bound as their text in UTC.
func (b *builder) arg(v change.Value) any {
	switch v.Kind {
	case change.KindNull, change.KindAbsent:
		return nil
	case change.KindInt, change.KindYear:
		return v.I
	case change.KindUint, change.KindBit:
		return v.Uint()
	case change.KindFloat, change.KindDouble:
		return v.Float64()
	case change.KindDate, change.KindDateTime, change.KindTimestamp, change.KindTime:
		// When AppendText grows the buffer, earlier slices keep pointing
		// into the old one, which stays valid.
		start := len(b.scratch)
		b.scratch = v.AppendText(b.scratch)
		return b.scratch[start:len(b.scratch):len(b.scratch)]
	}
	// Decimal text, strings, bytes, ENUM and SET text, JSON, geometry.
	if v.B == nil {
		return []byte{}
	}
	return v.B
}
