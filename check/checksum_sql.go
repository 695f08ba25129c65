package check

import (
	"strconv"
	"strings"
)

// rowSeparator separates the fields of a row's canonical text: the byte
// 0xFF, which no UTF-8 text holds. Every text field is compared as utf8mb4
// (canonicalExpr), and numbers, times, BIT and NULL flags print as ASCII,
// so only byte strings (BINARY, VARBINARY, BLOB, geometry) can contain it;
// those also have their lengths hashed, so a row text never reads two ways.
// (pt-table-checksum's '#' needs a length for every string column, which
// costs a second read of the column per row.) A binary separator makes the
// whole text binary, so that no field is converted on the way. UNHEX of a
// literal is folded into a constant once per statement; a CAST of one is
// evaluated again for every row (2% of the row hash, measured).
const rowSeparator = "UNHEX('FF')"

// features are what both servers support; the check uses an expression only
// when both sides have it, so that the two compute the same function.
type features struct {
	crc32c        bool // CRC32C(), MariaDB 10.8+
	jsonNormalize bool // JSON_NORMALIZE(), MariaDB 10.7+
}

// sideSQL builds the statements one side (source or target) runs for one
// table. Both sides hash the same columns in the same order with the same
// canonical text, so equal rows hash equal whatever the sides' charsets.
type sideSQL struct {
	table     string   // `schema`.`table`
	force     string   // " FORCE INDEX (`k`)" or ""
	key       []string // quoted key columns, index order
	keyBinary []bool   // key columns bound as bytes, not text
	cols      []column // compared columns, in comparison order
	exprs     []string // canonical text expression of each compared column
	hash      string   // the 64-bit row hash expression
	agg       string   // how a range's row hashes combine: BIT_XOR or SUM
}

// mixFactor multiplies the first CRC of a keyed row (see newSideSQL): a
// 32-bit prime, so that the product of a 32-bit CRC stays within 64 bits.
const mixFactor = "4294967291"

func newSideSQL(def *tableDef, compared []string, key []string, f features, unsized string) *sideSQL {
	s := &sideSQL{table: def.Name.quoted()}
	if len(key) > 0 && def.KeyIndex != "" {
		s.force = " FORCE INDEX (" + quoteIdent(def.KeyIndex) + ")"
	}
	for _, k := range key {
		c, _ := def.column(k)
		s.key = append(s.key, quoteIdent(c.Name))
		s.keyBinary = append(s.keyBinary, c.isBinaryString())
	}
	var lengths, nulls []string
	for _, name := range compared {
		c, _ := def.column(name)
		s.cols = append(s.cols, c)
		e := canonicalExpr(c, f)
		s.exprs = append(s.exprs, e)
		// The fields that can hold the separator have their lengths hashed,
		// all but one: the others, which never contain it, and those lengths
		// pin that one's boundaries too.
		if c.mayHoldSeparator() && !strings.EqualFold(name, unsized) {
			lengths = append(lengths, "LENGTH("+e+")")
		}
		if c.Nullable {
			nulls = append(nulls, "ISNULL("+quoteIdent(c.Name)+")")
		}
	}
	fields := append(append([]string{}, s.exprs...), lengths...)
	if len(nulls) > 0 {
		fields = append(fields, "CONCAT("+strings.Join(nulls, ", ")+")")
	}
	text := "CONCAT_WS(" + rowSeparator + ", " + strings.Join(fields, ", ") + ")"
	// A range's rows combine by BIT_XOR, which the server runs for a
	// fraction of SUM's cost (SUM adds in DECIMAL), when the source has a
	// key: its key is part of every row text, so no two rows hash alike and
	// none cancel out. Without a key, duplicate rows must not cancel, and
	// SUM combines them.
	keyed := len(key) > 0
	s.agg = "SUM"
	if keyed {
		s.agg = "BIT_XOR"
	}
	switch {
	case f.crc32c && keyed:
		// Two independent 32-bit CRCs of the text make a 64-bit hash. CRCs
		// are linear: the same bit flip in two rows would change both
		// rows' CRCs by the same amount, and XOR would cancel the two
		// changes. Multiplying one CRC by a prime (with its carries) breaks
		// that. The text is built once and kept in a user variable for the
		// second CRC; the server evaluates operands left to right, which
		// openServer's probe confirms.
		s.hash = "(CRC32(@sluice_row := " + text + ") * " + mixFactor + " + CRC32C(@sluice_row))"
	case f.crc32c:
		// SUM, with its carries, does not let the linear CRCs cancel.
		s.hash = "(CRC32(@sluice_row := " + text + ") << 32 | CRC32C(@sluice_row))"
	default:
		s.hash = "CAST(CONV(LEFT(MD5(" + text + "), 16), 16, 10) AS UNSIGNED)"
	}
	return s
}

// unsizedColumn picks the byte-string column whose length the row text
// leaves out (one may be, see newSideSQL): the one whose text costs the
// server most to produce a second time, a BINARY(n) column being n bytes
// each time it is read while VARBINARY and BLOB hand out what they hold.
// Both sides must pick the same column, so the choice is made once, from
// the source's definitions.
func unsizedColumn(cols []column) string {
	best, bestCost := "", int64(-1)
	for _, c := range cols {
		if !c.mayHoldSeparator() {
			continue
		}
		var cost int64 = 1
		if c.DataType == "binary" {
			cost = charLength(c.ColumnType)
		}
		if cost >= bestCost {
			best, bestCost = c.Name, cost
		}
	}
	return best
}

// charLength reads n from a COLUMN_TYPE such as "binary(16)".
func charLength(columnType string) int64 {
	open := strings.IndexByte(columnType, '(')
	end := strings.IndexByte(columnType, ')')
	if open < 0 || end < open {
		return 1
	}
	n, err := strconv.ParseInt(columnType[open+1:end], 10, 64)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// canonicalExpr is the text of a column that both sides agree on: bytes in
// utf8mb4 for text (so collations and charsets do not matter), digits for
// BIT, normalised JSON, and the server's own text for numbers and times
// (TIMESTAMP in the session time zone, which the check sets to UTC).
func canonicalExpr(c column, f features) string {
	q := quoteIdent(c.Name)
	switch {
	case c.JSON && c.DataType != "json":
		if f.jsonNormalize {
			return "JSON_NORMALIZE(" + q + ")"
		}
		return q
	case c.DataType == "bit":
		return "CAST(" + q + " AS UNSIGNED)"
	case c.Charset != "" && c.Charset != "utf8mb4" && c.Charset != "binary":
		return "CONVERT(" + q + " USING utf8mb4)"
	}
	return q
}

// rangeWhere is the predicate of key range r, with its arguments.
func (s *sideSQL) rangeWhere(r keyRange) (string, []any) {
	var parts []string
	var args []any
	if r.Lo != nil {
		p, a := s.lexCompare(r.Lo, ">", ">")
		parts, args = append(parts, p), append(args, a...)
	}
	if r.Hi != nil {
		p, a := s.lexCompare(r.Hi, "<", "<=")
		parts, args = append(parts, p), append(args, a...)
	}
	if len(parts) == 0 {
		return "1", nil
	}
	return strings.Join(parts, " AND "), args
}

// lexCompare compares the key with tuple v in key order: strict for every
// prefix, last for the full key. It is spelled out as ORs of ANDs because
// the range optimiser handles that form on every server version.
func (s *sideSQL) lexCompare(v []string, strict, last string) (string, []any) {
	if len(s.key) == 1 {
		return s.key[0] + " " + last + " ?", []any{s.keyArg(0, v[0])}
	}
	var ors []string
	var args []any
	for i := range s.key {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, s.key[j]+" = ?")
			args = append(args, s.keyArg(j, v[j]))
		}
		op := strict
		if i == len(s.key)-1 {
			op = last
		}
		ands = append(ands, s.key[i]+" "+op+" ?")
		args = append(args, s.keyArg(i, v[i]))
		ors = append(ors, strings.Join(ands, " AND "))
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// keyArg binds a key value: text columns as strings, so that the column's
// collation compares them as ORDER BY orders them, binary ones as bytes.
func (s *sideSQL) keyArg(i int, v string) any {
	if s.keyBinary[i] {
		return []byte(v)
	}
	return v
}

func (s *sideSQL) keyList() string { return strings.Join(s.key, ", ") }

// checksumQuery returns the row count and the combined row hashes of r.
func (s *sideSQL) checksumQuery(r keyRange) (string, []any) {
	w, args := s.rangeWhere(r)
	return "SELECT COUNT(*), CAST(COALESCE(" + s.agg + "(" + s.hash + "), 0) AS CHAR) FROM " + s.table + s.force + " WHERE " + w, args
}

// rowHashesQuery returns each row's key and hash in r, in key order.
func (s *sideSQL) rowHashesQuery(r keyRange) (string, []any) {
	w, args := s.rangeWhere(r)
	return "SELECT " + s.keyList() + ", " + s.hash + " FROM " + s.table + s.force + " WHERE " + w + " ORDER BY " + s.keyList(), args
}

// boundaryQuery returns the key offset rows after the start of r.
func (s *sideSQL) boundaryQuery(r keyRange, offset int64) (string, []any) {
	w, args := s.rangeWhere(r)
	return "SELECT " + s.keyList() + " FROM " + s.table + s.force + " WHERE " + w + " ORDER BY " + s.keyList() +
		" LIMIT 1 OFFSET ?", append(args, offset)
}

// minMaxQuery returns the smallest and largest key (single-column keys).
func (s *sideSQL) minMaxQuery() string {
	return "SELECT CAST(MIN(" + s.key[0] + ") AS CHAR), CAST(MAX(" + s.key[0] + ") AS CHAR) FROM " + s.table
}

// nextKeyQuery returns the smallest key above a value (single-column keys).
func (s *sideSQL) nextKeyQuery() string {
	return "SELECT CAST(MIN(" + s.key[0] + ") AS CHAR) FROM " + s.table + " WHERE " + s.key[0] + " > ?"
}

// rowsQuery returns the key and the canonical columns of the rows with the
// given keys.
func (s *sideSQL) rowsQuery(keys [][]string, lock bool) (string, []any) {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(s.keyList())
	for _, e := range s.exprs {
		b.WriteString(", ")
		b.WriteString(e)
	}
	b.WriteString(" FROM ")
	b.WriteString(s.table)
	b.WriteString(" WHERE ")
	var args []any
	if len(s.key) == 1 {
		b.WriteString(s.key[0])
		b.WriteString(" IN (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
			args = append(args, s.keyArg(0, k[0]))
		}
		b.WriteByte(')')
	} else {
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteByte('(')
			for j := range s.key {
				if j > 0 {
					b.WriteString(" AND ")
				}
				b.WriteString(s.key[j])
				b.WriteString(" = ?")
				args = append(args, s.keyArg(j, k[j]))
			}
			b.WriteByte(')')
		}
	}
	if lock {
		b.WriteString(" FOR UPDATE")
	}
	return b.String(), args
}

// wholeTableRowsQuery returns every row's canonical columns and hash, for
// tables without a key.
func (s *sideSQL) wholeTableRowsQuery() string {
	return "SELECT " + strings.Join(s.exprs, ", ") + ", " + s.hash + " FROM " + s.table
}
