package check

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// repairer turns confirmed differences into statements built from the
// source image: REPLACE (or INSERT ... ON DUPLICATE KEY UPDATE when the
// target has columns the check leaves alone) for missing and different
// rows, DELETE for extra ones. It prints them or applies them guarded.
type repairer struct {
	ck      *Checker
	mu      sync.Mutex // one table's statements at a time on the output
	printed bool
}

// newRepairer prepares the repairs; for --repair=apply with a mark table it
// first checks that the mark table has the configured columns, so that a
// check does not find out after its first repair.
func newRepairer(ctx context.Context, ck *Checker) (*repairer, error) {
	if m := ck.opts.Mark; m != nil && ck.opts.Repair == RepairApply {
		if err := checkMarkTable(ctx, ck.tgt.db, m); err != nil {
			return nil, err
		}
	}
	return &repairer{ck: ck}, nil
}

// checkMarkTable confirms that the mark table exists on the target with the
// configured columns.
func checkMarkTable(ctx context.Context, db queryer, m *Mark) error {
	schema, table, _ := strings.Cut(m.Table, ".")
	rows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, table)
	if err != nil {
		return fmt.Errorf("read the columns of mark table %s: %w", m.Table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("read the columns of mark table %s: %w", m.Table, err)
		}
		have[strings.ToLower(c)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the columns of mark table %s: %w", m.Table, err)
	}
	if len(have) == 0 {
		return fmt.Errorf("mark table %s does not exist on the target (docs/check.md shows its layout)", m.Table)
	}
	for _, c := range m.columns() {
		if !have[strings.ToLower(c)] {
			return fmt.Errorf("mark table %s has no column %s (set the mark columns to its layout)", m.Table, c)
		}
	}
	return nil
}

// repairStmt is one statement, as SQL with placeholders and its arguments,
// and as self-contained SQL with literals for printing.
type repairStmt struct {
	query   string
	args    []any
	literal string
}

func (rp *repairer) repair(ctx context.Context, p *pair, rep *TableReport) error {
	if p.key == nil {
		rep.Warnings = append(rep.Warnings, "not repaired: the table has no key to address rows by")
		return nil
	}
	switch rp.ck.opts.Repair {
	case RepairPrint:
		return rp.print(p, rep)
	case RepairApply:
		return rp.apply(ctx, p, rep)
	}
	return nil
}

func (rp *repairer) print(p *pair, rep *TableReport) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	var b strings.Builder
	o := rp.ck.opts
	if !rp.printed {
		rp.printed = true
		fmt.Fprintf(&b, "-- sluice check repair: make %s match %s (%s)\n", o.Target.String(), o.Source.String(), time.Now().UTC().Format(time.RFC3339))
		b.WriteString("SET NAMES utf8mb4;\nSET SESSION time_zone = '+00:00';\nSET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';\n")
	}
	fmt.Fprintf(&b, "-- %s -> %s: %d missing, %d extra, %d different\n", rep.Source, rep.Target, rep.Missing, rep.Extra, rep.Different)
	for _, d := range rep.Differences {
		st := p.repairStatement(d)
		if o.Mark != nil {
			ms := markStatement(o.Mark)
			fmt.Fprintf(&b, "START TRANSACTION;\n%s;\n%s;\nCOMMIT;\n", ms.literal, st.literal)
			continue
		}
		b.WriteString(st.literal)
		b.WriteString(";\n")
	}
	_, err := o.RepairOutput.Write([]byte(b.String()))
	return err
}

// apply repairs row by row, each in its own target transaction: it locks
// the target row and goes on only if it still holds the image the check
// saw, and only if the source row still holds its image too; otherwise the
// row changed since the check and the repair would overwrite news.
func (rp *repairer) apply(ctx context.Context, p *pair, rep *TableReport) error {
	for _, d := range rep.Differences {
		ok, why, err := rp.applyOne(ctx, p, d)
		if err != nil {
			return err
		}
		if ok {
			rep.Repaired++
			continue
		}
		rep.RepairSkipped++
		rp.ck.opts.Logger.Warn("repair skipped", "table", rep.Target, "key", d.Key, "reason", why)
	}
	return nil
}

func (rp *repairer) applyOne(ctx context.Context, p *pair, d Difference) (bool, string, error) {
	tx, err := rp.ck.tgt.db.BeginTx(ctx, nil)
	if err != nil {
		return false, "", fmt.Errorf("begin repair of %s: %w", p.tgtName, err)
	}
	defer tx.Rollback()
	cur, err := fetchRows(ctx, tx, p.tgt, [][]string{d.Key}, true)
	if err != nil {
		return false, "", err
	}
	ek := encodeKey(d.Key)
	if !rowsEqual(cur[ek], d.Target) {
		return false, "the target row changed since the check", nil
	}
	src, err := fetchRows(ctx, rp.ck.src.db, p.src, [][]string{d.Key}, false)
	if err != nil {
		return false, "", err
	}
	if !rowsEqual(src[ek], d.Source) {
		return false, "the source row changed since the check", nil
	}
	// The mark comes first, as the two-way applier writes it, so that the
	// capture side sees it before any change of the transaction.
	if m := rp.ck.opts.Mark; m != nil {
		ms := markStatement(m)
		if _, err := tx.ExecContext(ctx, ms.query, ms.args...); err != nil {
			return false, "", fmt.Errorf("write mark row in %s for channel %s: %w", m.Table, m.Channel, err)
		}
	}
	st := p.repairStatement(d)
	if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
		return false, "", fmt.Errorf("repair %s key %v: %w", p.tgtName, d.Key, err)
	}
	if err := tx.Commit(); err != nil {
		return false, "", fmt.Errorf("commit repair of %s key %v: %w", p.tgtName, d.Key, err)
	}
	return true, "", nil
}

// columns lists the mark table's configured columns.
func (m *Mark) columns() []string {
	var cols []string
	for _, c := range []string{m.Columns.Channel, m.Columns.Writer, m.Columns.Worker, m.Columns.Origin, m.Columns.Counter} {
		if c != "-" {
			cols = append(cols, c)
		}
	}
	return cols
}

// markStatement writes the check's mark row, the way the two-way applier
// writes its own: the counter goes up on every write, so that the write is
// always a real change and its row event reaches the binlog.
func markStatement(m *Mark) repairStmt {
	schema, table, _ := strings.Cut(m.Table, ".")
	c := m.Columns
	var cols, params, lits []string
	var args []any
	add := func(col string, value any) {
		if col == "-" {
			return
		}
		cols = append(cols, quoteIdent(col))
		switch v := value.(type) {
		case string:
			params, lits, args = append(params, "?"), append(lits, "_utf8mb4 X'"+hex.EncodeToString([]byte(v))+"'"), append(args, v)
		case int:
			params, lits = append(params, strconv.Itoa(v)), append(lits, strconv.Itoa(v))
		}
	}
	add(c.Channel, m.Channel)
	add(c.Writer, m.Writer)
	add(c.Worker, 0)
	add(c.Origin, m.Origin)
	add(c.Counter, 1)
	n, ch := quoteIdent(c.Counter), quoteIdent(c.Channel)
	upd := []string{n + " = " + n + " + 1", ch + " = VALUES(" + ch + ")"}
	if c.Origin != "-" {
		o := quoteIdent(c.Origin)
		upd = append(upd, o+" = VALUES("+o+")")
	}
	head := "INSERT INTO " + quoteIdent(schema) + "." + quoteIdent(table) + " (" + strings.Join(cols, ", ") + ") VALUES ("
	tail := ") ON DUPLICATE KEY UPDATE " + strings.Join(upd, ", ")
	return repairStmt{
		query:   head + strings.Join(params, ", ") + tail,
		args:    args,
		literal: head + strings.Join(lits, ", ") + tail,
	}
}

// repairStatement builds the statement that makes the target row match d's
// source image.
func (p *pair) repairStatement(d Difference) repairStmt {
	t := p.tgtName.quoted()
	if d.Type == Extra {
		var conds, lits []string
		var args []any
		for i, k := range p.key {
			c := p.keyColumn(i)
			q, a := valueSQL(c, []byte(d.Key[i]), false)
			l, _ := valueSQL(c, []byte(d.Key[i]), true)
			conds = append(conds, quoteIdent(k)+" = "+q)
			lits = append(lits, quoteIdent(k)+" = "+l)
			args = append(args, a...)
		}
		return repairStmt{
			query:   "DELETE FROM " + t + " WHERE " + strings.Join(conds, " AND "),
			args:    args,
			literal: "DELETE FROM " + t + " WHERE " + strings.Join(lits, " AND "),
		}
	}
	var cols, vals, lits, upd []string
	var args []any
	for i, c := range p.cols {
		q := quoteIdent(c.Name)
		cols = append(cols, q)
		v, a := valueSQL(c, d.Source[i], false)
		l, _ := valueSQL(c, d.Source[i], true)
		vals, lits, args = append(vals, v), append(lits, l), append(args, a...)
		upd = append(upd, q+" = VALUES("+q+")")
	}
	verb, tail := "REPLACE INTO ", ""
	if p.keepOthers {
		verb, tail = "INSERT INTO ", " ON DUPLICATE KEY UPDATE "+strings.Join(upd, ", ")
	}
	head := verb + t + " (" + strings.Join(cols, ", ") + ") VALUES ("
	return repairStmt{
		query:   head + strings.Join(vals, ", ") + ")" + tail,
		args:    args,
		literal: head + strings.Join(lits, ", ") + ")" + tail,
	}
}

func (p *pair) keyColumn(i int) column {
	for _, c := range p.cols {
		if strings.EqualFold(c.Name, p.key[i]) {
			return c
		}
	}
	return column{Name: p.key[i]}
}

// valueSQL renders a canonical value for column c: as a placeholder with
// its argument, or as a literal that is safe in any client charset (text
// as hex with an explicit utf8mb4 introducer, bytes as hex, numbers and
// times only when they are made of the characters those may hold).
func valueSQL(c column, v []byte, literal bool) (string, []any) {
	if v == nil {
		return "NULL", nil
	}
	switch {
	case c.isGeometry():
		srid, wkb := uint32(0), v
		if len(v) >= 4 {
			srid, wkb = binary.LittleEndian.Uint32(v[:4]), v[4:]
		}
		if literal {
			return "ST_GeomFromWKB(X'" + hex.EncodeToString(wkb) + "', " + strconv.FormatUint(uint64(srid), 10) + ")", nil
		}
		return "ST_GeomFromWKB(?, ?)", []any{append([]byte{}, wkb...), srid}
	case c.isBinaryString():
		if literal {
			return "X'" + hex.EncodeToString(v) + "'", nil
		}
		return "?", []any{append([]byte{}, v...)}
	case c.DataType == "bit":
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return "X'" + hex.EncodeToString(v) + "'", nil
		}
		if literal {
			return strconv.FormatUint(n, 10), nil
		}
		return "?", []any{n}
	case c.Charset != "" || c.JSON:
		if literal {
			return "_utf8mb4 X'" + hex.EncodeToString(v) + "'", nil
		}
		return "?", []any{string(v)}
	}
	// Numbers, dates and times: the server's own text.
	if literal {
		if plainValue(v) {
			return "'" + string(v) + "'", nil
		}
		return "_utf8mb4 X'" + hex.EncodeToString(v) + "'", nil
	}
	return "?", []any{string(v)}
}

// plainValue reports whether v holds only what numbers and times print.
func plainValue(v []byte) bool {
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == ':' || c == ' ' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}
