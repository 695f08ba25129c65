package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// Target tables are created from the source's own SHOW CREATE TABLE, so
// that every column type, default, index and table option carries over,
// with the pipeline's mapping applied: the target name, excluded columns
// left out (with the keys that use them), renamed columns renamed.
// Foreign keys are left out: the tables they name may not be copied, and
// the applier writes merged changes in its own order.

// columnMap says what the mapping does to a table's columns: the target
// name of each kept source column (by lower-cased source name).
type columnMap struct {
	names map[string]string // source (lower) -> target name; absent: excluded
}

func newColumnMap(src *change.Table, target *change.Table, project []int) columnMap {
	m := columnMap{names: map[string]string{}}
	if project == nil {
		for _, c := range src.Columns {
			m.names[strings.ToLower(c.Name)] = c.Name
		}
		return m
	}
	for i, s := range project {
		m.names[strings.ToLower(src.Columns[s].Name)] = target.Columns[i].Name
	}
	return m
}

func (m columnMap) target(source string) (string, bool) {
	n, ok := m.names[strings.ToLower(source)]
	return n, ok
}

// rewriteCreate turns the source's SHOW CREATE TABLE into the target's
// CREATE TABLE. dropped lists what was left out, for the log.
//
// With deferIndexes, plain secondary indexes (KEY) are left out and
// returned in deferred, to be added once the table is copied: building an
// index from sorted rows costs far less than keeping it up to date row by
// row.
func rewriteCreate(create, schema, name string, cols columnMap, deferIndexes bool) (stmt string, dropped, deferred []string, err error) {
	lines := strings.Split(create, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "CREATE TABLE ") || !strings.HasSuffix(lines[0], "(") {
		return "", nil, nil, fmt.Errorf("unexpected SHOW CREATE TABLE output: %.80q", create)
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], ")") {
			end = i
			break
		}
	}
	if end < 0 {
		return "", nil, nil, fmt.Errorf("unexpected SHOW CREATE TABLE output (no closing line): %.80q", create)
	}
	var defs []string
	for _, line := range lines[1:end] {
		def := strings.TrimSuffix(strings.TrimSpace(line), ",")
		if def == "" {
			continue
		}
		out, keep, why := rewriteDefinition(def, cols)
		if !keep {
			dropped = append(dropped, why)
			continue
		}
		if deferIndexes && (strings.HasPrefix(out, "KEY ") || strings.HasPrefix(out, "INDEX ")) {
			deferred = append(deferred, out)
			continue
		}
		defs = append(defs, "  "+out)
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE ")
	b.WriteString(sqlbuild.QuoteTable(schema, name))
	b.WriteString(" (\n")
	b.WriteString(strings.Join(defs, ",\n"))
	b.WriteString("\n")
	b.WriteString(strings.Join(lines[end:], "\n"))
	return b.String(), dropped, deferred, nil
}

// indexName reads the name of a "KEY `name` (...)" definition.
func indexName(def string) string {
	i := strings.IndexByte(def, '`')
	if i < 0 {
		return ""
	}
	n, _, ok := readIdent(def[i:])
	if !ok {
		return ""
	}
	return n
}

// missingIndexes returns the deferred index definitions of a table that
// its target table does not have yet.
func missingIndexes(ctx context.Context, src, tgt *sql.DB, tb *table) ([]string, error) {
	var ignored, create string
	if err := src.QueryRowContext(ctx, "SHOW CREATE TABLE "+sqlbuild.QuoteTable(tb.def.Schema, tb.def.Name)).Scan(&ignored, &create); err != nil {
		return nil, fmt.Errorf("read the definition of source table %s: %w", tb.name(), err)
	}
	_, _, deferred, err := rewriteCreate(create, tb.target.Schema, tb.target.Name, newColumnMap(tb.def, tb.target, tb.project), true)
	if err != nil || len(deferred) == 0 {
		return nil, err
	}
	rows, err := tgt.QueryContext(ctx, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=? AND TABLE_NAME=?", tb.target.Schema, tb.target.Name)
	if err != nil {
		return nil, fmt.Errorf("read the indexes of target table %s.%s: %w", tb.target.Schema, tb.target.Name, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		have[strings.ToLower(n)] = true
	}
	var out []string
	for _, d := range deferred {
		if !have[strings.ToLower(indexName(d))] {
			out = append(out, d)
		}
	}
	return out, rows.Err()
}

// addIndexes adds deferred indexes to a target table, online. The ALTER
// waits for the table's metadata lock at most a couple of seconds and is
// tried again later: while it waits, the applier's next transaction on the
// table waits behind it, and the applier's ordered commits could make that
// a cycle the server does not see.
func addIndexes(ctx context.Context, tgt *sql.DB, schema, name string, defs []string) error {
	q := "ALTER TABLE " + sqlbuild.QuoteTable(schema, name) + " "
	for i, d := range defs {
		if i > 0 {
			q += ", "
		}
		q += "ADD " + d
	}
	for attempt := 1; ; attempt++ {
		err := tryAlter(ctx, tgt, q)
		if err == nil {
			return nil
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1205 {
			return fmt.Errorf("add the indexes of target table %s.%s after the copy: %w (statement: %.300s)", schema, name, err, q)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(attempt, 10)) * 500 * time.Millisecond):
		}
	}
}

func tryAlter(ctx context.Context, tgt *sql.DB, q string) error {
	conn, err := tgt.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout=2"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, q)
	return err
}

// columnInfo is a column as information_schema describes it.
type columnInfo struct {
	name, typ, charset string
}

func readColumns(ctx context.Context, db *sql.DB, schema, name string) ([]columnInfo, error) {
	rows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME,'') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=? AND TABLE_NAME=? ORDER BY ORDINAL_POSITION", schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []columnInfo
	for rows.Next() {
		var c columnInfo
		if err := rows.Scan(&c.name, &c.typ, &c.charset); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

var intWidth = regexp.MustCompile(`^(tinyint|smallint|mediumint|int|bigint)\(\d+\)`)

// normalType compares column types across MySQL and MariaDB versions,
// which differ in integer display widths.
func normalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	return intWidth.ReplaceAllString(t, "$1")
}

// ConflictError says why an existing target table cannot take a source
// table's rows.
type ConflictError struct {
	Source, Target string
	Problems       []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("target table %s cannot take the rows of source table %s: %s; change or drop the target table, or map the columns differently",
		e.Target, e.Source, strings.Join(e.Problems, "; "))
}

// checkTarget compares an existing target table with the source table it
// receives: every mapped column must exist there with the same type.
func checkTarget(src, tgt []columnInfo, cols columnMap, srcName, tgtName string) error {
	have := map[string]columnInfo{}
	for _, c := range tgt {
		have[strings.ToLower(c.name)] = c
	}
	var problems []string
	for _, s := range src {
		tname, keep := cols.target(s.name)
		if !keep {
			continue
		}
		t, ok := have[strings.ToLower(tname)]
		if !ok {
			problems = append(problems, fmt.Sprintf("column %s (%s on the source) is missing", tname, s.typ))
			continue
		}
		if normalType(t.typ) != normalType(s.typ) {
			problems = append(problems, fmt.Sprintf("column %s is %s on the target but %s on the source", tname, t.typ, s.typ))
			continue
		}
		if s.charset != "" && t.charset != "" && !strings.EqualFold(s.charset, t.charset) {
			problems = append(problems, fmt.Sprintf("column %s is %s %s on the target but %s %s on the source", tname, t.typ, t.charset, s.typ, s.charset))
		}
	}
	if len(problems) > 0 {
		return &ConflictError{Source: srcName, Target: tgtName, Problems: problems}
	}
	return nil
}

// ensureTarget creates a table's target table when it is missing, and
// otherwise checks that it can take the rows. It returns whether the table
// existed and, if so, whether it holds rows.
func ensureTarget(ctx context.Context, src, tgt *sql.DB, tb *table, deferIndexes bool) (existed, hasRows bool, dropped []string, err error) {
	ts, tn := tb.target.Schema, tb.target.Name
	srcName := tb.def.Schema + "." + tb.def.Name
	tgtName := ts + "." + tn
	cols := newColumnMap(tb.def, tb.target, tb.project)
	have, err := readColumns(ctx, tgt, ts, tn)
	if err != nil {
		return false, false, nil, fmt.Errorf("read target table %s: %w", tgtName, err)
	}
	if len(have) > 0 {
		srcCols, err := readColumns(ctx, src, tb.def.Schema, tb.def.Name)
		if err != nil {
			return true, false, nil, fmt.Errorf("read source table %s: %w", srcName, err)
		}
		if err := checkTarget(srcCols, have, cols, srcName, tgtName); err != nil {
			return true, false, nil, err
		}
		var one int
		err = tgt.QueryRowContext(ctx, "SELECT 1 FROM "+sqlbuild.QuoteTable(ts, tn)+" LIMIT 1").Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return true, false, nil, fmt.Errorf("read target table %s: %w", tgtName, err)
		}
		return true, err == nil, nil, nil
	}
	var create string
	var ignored string
	if err := src.QueryRowContext(ctx, "SHOW CREATE TABLE "+sqlbuild.QuoteTable(tb.def.Schema, tb.def.Name)).Scan(&ignored, &create); err != nil {
		return false, false, nil, fmt.Errorf("read the definition of source table %s: %w", srcName, err)
	}
	stmt, dropped, _, err := rewriteCreate(create, ts, tn, cols, deferIndexes)
	if err != nil {
		return false, false, nil, fmt.Errorf("create target table %s from source table %s: %w", tgtName, srcName, err)
	}
	var cs, co string
	if err := src.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=?", tb.def.Schema).Scan(&cs, &co); err != nil {
		return false, false, nil, fmt.Errorf("read the character set of source database %s: %w", tb.def.Schema, err)
	}
	createDB := "CREATE DATABASE IF NOT EXISTS " + sqlbuild.QuoteIdent(ts)
	if plainName(cs) && plainName(co) {
		createDB += " DEFAULT CHARACTER SET " + cs + " COLLATE " + co
	}
	if _, err := tgt.ExecContext(ctx, createDB); err != nil {
		return false, false, nil, fmt.Errorf("create target database %s: %w", ts, err)
	}
	if _, err := tgt.ExecContext(ctx, stmt); err != nil {
		return false, false, nil, fmt.Errorf("create target table %s from source table %s: %w (statement: %.300s)", tgtName, srcName, err, stmt)
	}
	return false, false, dropped, nil
}

// rewriteDefinition rewrites one column, key or constraint line.
func rewriteDefinition(def string, cols columnMap) (string, bool, string) {
	if strings.HasPrefix(def, "`") {
		name, rest, ok := readIdent(def)
		if !ok {
			return def, true, ""
		}
		tname, keep := cols.target(name)
		if !keep {
			return "", false, "column " + name
		}
		body, ok := renameRefs(rest, cols)
		if !ok {
			return "", false, "column " + name + " (its expression uses an excluded column)"
		}
		return sqlbuild.QuoteIdent(tname) + body, true, ""
	}
	upper := strings.ToUpper(def)
	if strings.HasPrefix(upper, "CONSTRAINT") && strings.Contains(upper, "FOREIGN KEY") || strings.HasPrefix(upper, "FOREIGN KEY") {
		return "", false, "foreign key " + def
	}
	// A key or check: the identifiers after its first parenthesis are
	// columns.
	i := firstParen(def)
	if i < 0 {
		return def, true, ""
	}
	body, ok := renameRefs(def[i:], cols)
	if !ok {
		return "", false, "index " + def
	}
	return def[:i] + body, true, ""
}

// readIdent reads a backquoted identifier at the start of s.
func readIdent(s string) (name, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '`' {
			if i+1 < len(s) && s[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			return b.String(), s[i+1:], true
		}
		b.WriteByte(s[i])
	}
	return "", s, false
}

// firstParen finds the first '(' outside quotes.
func firstParen(s string) int {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q != '`' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '\'' || c == '"' || c == '`':
			q = c
		case c == '(':
			return i
		}
	}
	return -1
}

// renameRefs rewrites every backquoted identifier in s (outside string
// literals) through the column map; ok is false when one names an
// excluded column.
func renameRefs(s string, cols columnMap) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\'', '"':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				j = len(s) - 1
			}
			b.WriteString(s[i : j+1])
			i = j
		case '`':
			name, rest, ok := readIdent(s[i:])
			if !ok {
				b.WriteString(s[i:])
				return b.String(), true
			}
			t, keep := cols.target(name)
			if !keep {
				return "", false
			}
			b.WriteString(sqlbuild.QuoteIdent(t))
			i = len(s) - len(rest) - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
