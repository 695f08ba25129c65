// Package sqlbuild writes the SQL statements sluice sends to a MySQL or
// MariaDB target: quoted identifiers and multi-row INSERT, upsert and DELETE
// statements with placeholders. Values are never written into the text; they
// are bound by the driver. It owns statement text only, no connections.
package sqlbuild

import (
	"strconv"
	"strings"
)

// QuoteIdent quotes a MySQL identifier with backticks, doubling any backtick
// inside it.
func QuoteIdent(name string) string {
	return string(AppendIdent(make([]byte, 0, len(name)+2), name))
}

// AppendIdent appends name quoted with backticks.
func AppendIdent(b []byte, name string) []byte {
	b = append(b, '`')
	for i := 0; i < len(name); i++ {
		if name[i] == '`' {
			b = append(b, '`')
		}
		b = append(b, name[i])
	}
	return append(b, '`')
}

// AppendTable appends `schema`.`table` (or just `table` when schema is "").
func AppendTable(b []byte, schema, table string) []byte {
	if schema != "" {
		b = AppendIdent(b, schema)
		b = append(b, '.')
	}
	return AppendIdent(b, table)
}

// QuoteTable returns `schema`.`table`.
func QuoteTable(schema, table string) string {
	return string(AppendTable(nil, schema, table))
}

// Column is a column as a statement writes it: its name, and whether its
// placeholder must be wrapped to turn the bound bytes into text the column
// accepts (MySQL's JSON type refuses binary strings).
type Column struct {
	Name string
	JSON bool
}

func appendPlaceholder(b []byte, c Column) []byte {
	if c.JSON {
		return append(b, "CONVERT(? USING utf8mb4)"...)
	}
	return append(b, '?')
}

// AppendInsert appends a multi-row INSERT of rows rows into cols. With
// upsert, rows whose key exists are overwritten in place (INSERT ... ON
// DUPLICATE KEY UPDATE every non-key column); aliases selects the MySQL
// 8.0.19+ row alias form instead of VALUES(), which MySQL deprecates and
// MariaDB requires. keyCols are the indexes into cols of the key, skipped in
// the update list.
func AppendInsert(b []byte, schema, table string, cols []Column, rows int, upsert, aliases bool, keyCols []int) []byte {
	b = append(b, "INSERT INTO "...)
	b = AppendTable(b, schema, table)
	b = append(b, " ("...)
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendIdent(b, c.Name)
	}
	b = append(b, ") VALUES "...)
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		for i, c := range cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPlaceholder(b, c)
		}
		b = append(b, ')')
	}
	if !upsert {
		return b
	}
	if aliases {
		b = append(b, " AS `new`"...)
	}
	b = append(b, " ON DUPLICATE KEY UPDATE "...)
	n := 0
	for i, c := range cols {
		if contains(keyCols, i) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = AppendIdent(b, c.Name)
		b = append(b, '=')
		if aliases {
			b = append(b, "`new`."...)
			b = AppendIdent(b, c.Name)
		} else {
			b = append(b, "VALUES("...)
			b = AppendIdent(b, c.Name)
			b = append(b, ')')
		}
	}
	if n == 0 {
		// Every column is part of the key: a duplicate is already the row.
		b = AppendIdent(b, cols[keyCols[0]].Name)
		b = append(b, '=')
		b = AppendIdent(b, cols[keyCols[0]].Name)
	}
	return b
}

// AppendDeleteByKey appends a DELETE of rows rows identified by their key
// columns: WHERE k IN (?,?) for one column, WHERE (a,b) IN ((?,?),(?,?)) for
// several.
func AppendDeleteByKey(b []byte, schema, table string, key []Column, rows int) []byte {
	b = append(b, "DELETE FROM "...)
	b = AppendTable(b, schema, table)
	b = append(b, " WHERE "...)
	return AppendKeyIn(b, key, rows)
}

// AppendDeleteRows appends one single-row DELETE per row, separated by
// semicolons, to run as one multi-statement call: "DELETE FROM t WHERE
// k=?;DELETE FROM t WHERE k=?". Each finds its row through the key, where a
// DELETE with a long IN list may scan a small table instead, and a
// scanning DELETE waits on every row another transaction holds.
func AppendDeleteRows(b []byte, schema, table string, key []Column, rows int) []byte {
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ';')
		}
		b = append(b, "DELETE FROM "...)
		b = AppendTable(b, schema, table)
		b = append(b, " WHERE "...)
		for i, c := range key {
			if i > 0 {
				b = append(b, " AND "...)
			}
			b = AppendIdent(b, c.Name)
			b = append(b, '=')
			b = appendPlaceholder(b, c)
		}
	}
	return b
}

// AppendKeyIn appends "k IN (?,...)" or "(a,b) IN ((?,?),...)".
func AppendKeyIn(b []byte, key []Column, rows int) []byte {
	if len(key) == 1 {
		b = AppendIdent(b, key[0].Name)
		b = append(b, " IN ("...)
		for r := 0; r < rows; r++ {
			if r > 0 {
				b = append(b, ',')
			}
			b = appendPlaceholder(b, key[0])
		}
		return append(b, ')')
	}
	b = append(b, '(')
	for i, c := range key {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendIdent(b, c.Name)
	}
	b = append(b, ") IN ("...)
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '(')
		for i, c := range key {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPlaceholder(b, c)
		}
		b = append(b, ')')
	}
	return append(b, ')')
}

// AppendMatch appends "a <=> ? AND b <=> ?": a NULL-safe match on every
// listed column, for tables without a key.
func AppendMatch(b []byte, cols []Column) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, " AND "...)
		}
		b = AppendIdent(b, c.Name)
		b = append(b, " <=> "...)
		b = appendPlaceholder(b, c)
	}
	return b
}

// AppendSet appends "a = ?, b = ?".
func AppendSet(b []byte, cols []Column) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendIdent(b, c.Name)
		b = append(b, '=')
		b = appendPlaceholder(b, c)
	}
	return b
}

// Placeholders returns "?,?,...,?" with n marks.
func Placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// MaxRowsPerStatement is how many rows of ncols placeholders one statement
// may carry, under the protocol's limit of 65535 placeholders and a
// practical cap that keeps statements around a megabyte.
func MaxRowsPerStatement(ncols, capRows int) int {
	if ncols <= 0 {
		return capRows
	}
	n := 65535 / ncols
	if n > capRows {
		n = capRows
	}
	if n < 1 {
		n = 1
	}
	return n
}

// Itoa is strconv.Itoa, here so callers building statements need one import.
func Itoa(i int) string { return strconv.Itoa(i) }
