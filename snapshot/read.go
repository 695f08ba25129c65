package snapshot

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// sessionSetup makes a source session read values as the binlog carries
// them: text without conversion, TIMESTAMP in UTC, and consistent-snapshot
// reads under REPEATABLE READ.
var sessionSetup = []string{
	"SET SESSION time_zone='+00:00', character_set_results=NULL",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
}

// selectColumns lists a table's columns for a chunk read, in definition
// order.
func selectColumns(t *change.Table) string {
	var b []byte
	for i := range t.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = sqlbuild.AppendIdent(b, t.Columns[i].Name)
	}
	return string(b)
}

// keyRange appends the condition "key > lower AND key <= upper" over the
// key columns, written out column by column (a > x OR a = x AND b > y) so
// that every server turns it into an index range. It returns the args.
func keyRange(b []byte, t *change.Table, key []int, lower, upper []change.Value) ([]byte, []any) {
	var args []any
	b = append(b, " WHERE 1=1"...)
	if lower != nil {
		b = append(b, " AND "...)
		b, args = compareTuple(b, args, t, key, lower, '>', false)
	}
	if upper != nil {
		b = append(b, " AND "...)
		b, args = compareTuple(b, args, t, key, upper, '<', true)
	}
	return b, args
}

// compareTuple appends (k1 op v1 OR k1 = v1 AND k2 op v2 ...), with the
// last comparison inclusive when orEqual.
func compareTuple(b []byte, args []any, t *change.Table, key []int, vals []change.Value, op byte, orEqual bool) ([]byte, []any) {
	b = append(b, '(')
	for i := range key {
		if i > 0 {
			b = append(b, " OR "...)
		}
		b = append(b, '(')
		for j := 0; j <= i; j++ {
			col := &t.Columns[key[j]]
			arg, ph := keyArg(col, vals[j])
			if j > 0 {
				b = append(b, " AND "...)
			}
			b = sqlbuild.AppendIdent(b, col.Name)
			switch {
			case j < i:
				b = append(b, '=')
			case orEqual && i == len(key)-1:
				b = append(b, op, '=')
			default:
				b = append(b, op)
			}
			b = append(b, ph...)
			args = append(args, arg)
		}
		b = append(b, ')')
	}
	return append(b, ')'), args
}

func orderBy(b []byte, t *change.Table, key []int) []byte {
	b = append(b, " ORDER BY "...)
	for i, k := range key {
		if i > 0 {
			b = append(b, ',')
		}
		b = sqlbuild.AppendIdent(b, t.Columns[k].Name)
	}
	return b
}

type queryer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// queryRows runs a query through a prepared statement (the binary
// protocol) and converts every row with the columns cols of t.
func queryRows(ctx context.Context, q queryer, query string, args []any, t *change.Table, cols []int, cv *converter) ([]change.Row, error) {
	stmt, err := q.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	rs, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var out []change.Row
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		row := make(change.Row, len(cols))
		for i, c := range cols {
			col := &t.Columns[c]
			v, err := cv.value(col, raw[i], raw[i] == nil)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", col.Name, err)
			}
			row[i] = v
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

// readChunk reads a chunk's rows: every column of the table, in the key
// range. Generated columns are read but left absent, so that the applier
// does not write them.
func readChunk(ctx context.Context, q queryer, t *change.Table, key []int, ch *chunk, cv *converter) ([]change.Row, error) {
	b := []byte("SELECT ")
	b = append(b, selectColumns(t)...)
	b = append(b, " FROM "...)
	b = sqlbuild.AppendTable(b, t.Schema, t.Name)
	var args []any
	if key != nil {
		b, args = keyRange(b, t, key, ch.lower, ch.upper)
	}
	all := make([]int, len(t.Columns))
	for i := range all {
		all[i] = i
	}
	rows, err := queryRows(ctx, q, string(b), args, t, all, cv)
	if err != nil {
		return nil, err
	}
	for i := range t.Columns {
		if t.Columns[i].Generated {
			for _, r := range rows {
				r[i] = change.Absent()
			}
		}
	}
	return rows, nil
}

// probeUpper finds the key of the n-th row after lower: the inclusive
// upper bound of a chunk of n rows. nil means fewer rows are left.
func probeUpper(ctx context.Context, q queryer, t *change.Table, key []int, lower []change.Value, n int) ([]change.Value, error) {
	b := []byte("SELECT ")
	for i, k := range key {
		if i > 0 {
			b = append(b, ',')
		}
		b = sqlbuild.AppendIdent(b, t.Columns[k].Name)
	}
	b = append(b, " FROM "...)
	b = sqlbuild.AppendTable(b, t.Schema, t.Name)
	b, args := keyRange(b, t, key, lower, nil)
	b = orderBy(b, t, key)
	b = append(b, " LIMIT 1 OFFSET "...)
	b = strconv.AppendInt(b, int64(max(n-1, 0)), 10)
	rows, err := queryRows(ctx, q, string(b), args, t, key, &converter{})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// intBounds reads MIN and MAX of a single integer key column; ok is false
// for an empty table.
func intBounds(ctx context.Context, q queryer, t *change.Table, k int) (lo, hi change.Value, ok bool, err error) {
	name := sqlbuild.QuoteIdent(t.Columns[k].Name)
	query := "SELECT MIN(" + name + "),MAX(" + name + ") FROM " + sqlbuild.QuoteTable(t.Schema, t.Name)
	// Read the aggregate as the column itself so it converts alike.
	one := &change.Table{Columns: []change.Column{t.Columns[k], t.Columns[k]}}
	one.Columns[0].Nullable, one.Columns[1].Nullable = true, true
	rows, err := queryRows(ctx, q, query, nil, one, []int{0, 1}, &converter{})
	if err != nil || len(rows) == 0 || rows[0][0].IsNull() {
		return lo, hi, false, err
	}
	return rows[0][0], rows[0][1], true, nil
}

// snapshotPosition reads, inside a transaction started WITH CONSISTENT
// SNAPSHOT, the binlog position of that snapshot (MariaDB).
func snapshotPosition(ctx context.Context, conn *sql.Conn) (change.Position, error) {
	var pos change.Position
	rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return pos, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return pos, err
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			pos.File = v
		case "binlog_snapshot_position":
			pos.Offset, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if err := rows.Err(); err != nil {
		return pos, err
	}
	if pos.File == "" {
		return pos, fmt.Errorf("the server reports no binlog_snapshot_file: is the binlog on?")
	}
	return pos, nil
}
