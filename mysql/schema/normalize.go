package schema

import (
	"encoding/hex"
	"strings"
)

// The TiDB grammar is MySQL's, not MariaDB's. normalize rewrites the MariaDB
// (and a few MySQL 8) forms it rejects into forms it accepts, and carries
// what the rewrite would lose to the DDL code: as a marker comment on a
// column (COMMENT '__sluice__:...'; column options may repeat, so a real
// comment survives next to it) or as a flag on the statement.
//
// What it rewrites, learnt by feeding the parser real MariaDB 10.11 output:
//   - CREATE OR REPLACE TABLE            -> CREATE TABLE, replace flag
//   - SET STATEMENT x=1 FOR <stmt>       -> <stmt>
//   - ALTER ONLINE TABLE, WAIT n, NOWAIT -> dropped
//   - ALGORITHM=NOCOPY                   -> ALGORITHM=INPLACE
//   - column INVISIBLE, COMPRESSED       -> marker
//   - GENERATED ALWAYS AS ROW START/END  -> marker
//   - AS (expr) PERSISTENT               -> STORED
//   - DEFAULT (expr), DEFAULT f(x)       -> DEFAULT NULL + marker with the text
//   - types GEOMETRY/POINT/..., UUID, INET4, INET6 -> LONGBLOB/BINARY(n) + marker
//   - SPATIAL KEY, index IGNORED         -> KEY, dropped
//   - PERIOD FOR ..., WITH(OUT) SYSTEM VERSIONING, ADD/DROP SYSTEM VERSIONING
//     -> dropped, versioning flag; MariaDB's hidden row_start/row_end columns
//     (they are in the binlog) are added when the statement has none
//   - `UNKNOWN_OPTION`='x', ENCRYPTED=YES, ENCRYPTION_KEY_ID=n -> dropped
//   - CREATE TABLE ... START TRANSACTION (MySQL 8 atomic CTAS) -> dropped

const markerPrefix = "__sluice__:"

// normalized is a statement ready for the parser.
type normalized struct {
	sql         string
	replace     bool // CREATE OR REPLACE TABLE
	addVersion  bool // WITH SYSTEM VERSIONING / ADD SYSTEM VERSIONING
	dropVersion bool // DROP SYSTEM VERSIONING
	// visibility holds MySQL 8's ALTER COLUMN c SET [IN]VISIBLE, which the
	// parser lacks, in statement order.
	visibility []columnVisibility
}

type columnVisibility struct {
	column    string
	invisible bool
}

// columnMarker is what a marker comment carries for one column.
type columnMarker struct {
	sqlType    string // the type as written when it was replaced (uuid, point, ...)
	invisible  bool
	compressed bool
	rowStart   bool // GENERATED ALWAYS AS ROW START
	rowEnd     bool
	hidden     bool   // MariaDB's implicit system-versioning column (not in SHOW CREATE TABLE)
	defaultSQL string // a DEFAULT expression the parser was spared
	hasDefault bool
}

func (m columnMarker) empty() bool { return m == columnMarker{} }

func (m columnMarker) comment() string {
	var parts []string
	if m.sqlType != "" {
		parts = append(parts, "type="+m.sqlType)
	}
	if m.invisible {
		parts = append(parts, "invisible")
	}
	if m.compressed {
		parts = append(parts, "compressed")
	}
	if m.rowStart {
		parts = append(parts, "rowstart")
	}
	if m.rowEnd {
		parts = append(parts, "rowend")
	}
	if m.hidden {
		parts = append(parts, "hidden")
	}
	if m.hasDefault {
		parts = append(parts, "default="+hex.EncodeToString([]byte(m.defaultSQL)))
	}
	return " COMMENT '" + markerPrefix + strings.Join(parts, ";") + "'"
}

// parseMarker reads a marker comment; ok is false for an ordinary comment.
func parseMarker(s string) (m columnMarker, ok bool) {
	if !strings.HasPrefix(s, markerPrefix) {
		return m, false
	}
	for _, p := range strings.Split(s[len(markerPrefix):], ";") {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "type":
			m.sqlType = v
		case "invisible":
			m.invisible = true
		case "compressed":
			m.compressed = true
		case "rowstart":
			m.rowStart = true
		case "rowend":
			m.rowEnd = true
		case "hidden":
			m.hidden = true
		case "default":
			b, err := hex.DecodeString(v)
			if err == nil {
				m.defaultSQL, m.hasDefault = string(b), true
			}
		}
	}
	return m, true
}

// replacedTypes are column types the parser lacks, with what stands in for
// them: the same bytes in the binlog.
var replacedTypes = map[string]string{
	"GEOMETRY": "LONGBLOB", "POINT": "LONGBLOB", "LINESTRING": "LONGBLOB", "POLYGON": "LONGBLOB",
	"MULTIPOINT": "LONGBLOB", "MULTILINESTRING": "LONGBLOB", "MULTIPOLYGON": "LONGBLOB",
	"GEOMETRYCOLLECTION": "LONGBLOB", "GEOMCOLLECTION": "LONGBLOB",
	"UUID": "BINARY(16)", "INET6": "BINARY(16)", "INET4": "BINARY(4)",
}

// elementKeywords start a CREATE TABLE element that is not a column.
var elementKeywords = map[string]bool{
	"CONSTRAINT": true, "PRIMARY": true, "UNIQUE": true, "KEY": true, "INDEX": true,
	"FULLTEXT": true, "SPATIAL": true, "FOREIGN": true, "CHECK": true, "LIKE": true,
}

// droppedTableOptions are MariaDB table options the parser does not know.
var droppedTableOptions = map[string]bool{"ENCRYPTED": true, "ENCRYPTION_KEY_ID": true}

// normalize rewrites one statement of kind info (see classify).
func normalize(w *words, info stmtInfo) normalized {
	var n normalized
	w.del(0, info.start) // SET STATEMENT ... FOR
	k := info.start
	switch {
	case w.is(k, "CREATE"):
		n.normalizeCreate(w, k+1)
	case w.is(k, "ALTER"):
		n.normalizeAlter(w, k+1)
	case w.is(k, "DROP") || w.is(k, "RENAME") || w.is(k, "TRUNCATE"):
		dropWaits(w, k+1, w.n())
	}
	n.sql = join(w.toks)
	return n
}

// dropWaits deletes MariaDB's WAIT n and NOWAIT at depth 0 of [from, to).
func dropWaits(w *words, from, to int) {
	depth := 0
	for j := from; j < to; j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
		case depth == 0 && w.is(j, "NOWAIT"):
			w.del(j, j+1)
		case depth == 0 && w.is(j, "WAIT") && w.at(j+1).kind == tkNumber:
			w.del(j, j+2)
		}
	}
}

func (n *normalized) normalizeCreate(w *words, k int) {
	if w.is(k, "OR") && w.is(k+1, "REPLACE") {
		if w.is(k+2, "TABLE") || w.is(k+2, "SEQUENCE") {
			w.del(k, k+2)
			n.replace = true
		}
		k += 2
	}
	switch {
	case w.is(k, "TABLE"):
		n.normalizeCreateTable(w, k+1)
	case w.is(k, "SPATIAL") && w.is(k+1, "INDEX"):
		w.del(k, k+1)
		normalizeIndexTail(w, k+1, w.n())
	case w.is(k, "UNIQUE") || w.is(k, "FULLTEXT") || w.is(k, "INDEX"):
		normalizeIndexTail(w, k, w.n())
	case w.is(k, "DATABASE") || w.is(k, "SCHEMA"):
		dropDatabaseComment(w, k+1)
	}
}

// normalizeIndexTail drops MariaDB's IGNORED / NOT IGNORED and WAIT from an
// index definition.
func normalizeIndexTail(w *words, from, to int) {
	depth := 0
	for j := from; j < to; j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
		case depth == 0 && w.is(j, "NOT") && w.is(j+1, "IGNORED"):
			w.del(j, j+2)
		case depth == 0 && w.is(j, "IGNORED"):
			w.del(j, j+1)
		case depth == 0 && w.is(j, "CLUSTERING") && w.punct(j+1, "="):
			w.del(j, j+3)
		}
	}
	dropWaits(w, from, to)
}

// dropDatabaseComment drops MariaDB's CREATE/ALTER DATABASE ... COMMENT 'x'.
func dropDatabaseComment(w *words, k int) {
	for j := k; j < w.n(); j++ {
		if w.is(j, "COMMENT") {
			end := j + 1
			if w.punct(end, "=") {
				end++
			}
			w.del(j, end+1)
		}
	}
}

func (n *normalized) normalizeCreateTable(w *words, k int) {
	if w.is(k, "IF") && w.is(k+1, "NOT") && w.is(k+2, "EXISTS") {
		k += 3
	}
	_, _, k, ok := w.qualifiedName(k)
	if !ok {
		return
	}
	optsFrom := k
	hasSystemCols := false
	closeParen := -1
	if w.punct(k, "(") {
		closeParen = w.matching(k)
		for _, it := range w.split(k+1, closeParen) {
			from, to := it[0], it[1]
			first := w.at(from)
			switch {
			case first.is("PERIOD") && w.is(from+1, "FOR"):
				// PERIOD FOR SYSTEM_TIME (a, b), PERIOD FOR p (a, b)
				deleteItem(w, it)
				continue
			case w.has(from, to, "WITHOUT", "OVERLAPS"):
				// UNIQUE (id, p WITHOUT OVERLAPS) is unique only with the
				// application period: it cannot identify a row by columns.
				deleteItem(w, it)
				continue
			case first.kind == tkWord && elementKeywords[strings.ToUpper(first.text)]:
				if first.is("SPATIAL") {
					w.del(from, from+1)
				}
				normalizeIndexTail(w, from, to)
			case first.kind == tkWord || first.kind == tkQuoted:
				m := normalizeColumn(w, from+1, to)
				if m.rowStart || m.rowEnd {
					hasSystemCols = true
				}
			}
		}
		optsFrom = closeParen + 1
	}
	// Table options, up to a CREATE ... SELECT. Only the character set and
	// collation matter to the history; every other option goes, so that
	// engine-specific ones (CONNECT's TABLE_TYPE=CSV, `PAGE_COMPRESSED`='1',
	// ENCRYPTED=YES, ...) cannot trip the parser.
	for j := optsFrom; j < w.n(); j++ {
		if w.is(j, "LIKE") || w.is(j, "SELECT") || w.is(j, "AS") || w.is(j, "IGNORE") || w.is(j, "REPLACE") ||
			w.is(j, "VALUES") || w.is(j, "TABLE") || w.punct(j, "(") && w.is(j+1, "SELECT") ||
			w.is(j, "WITH") && !w.is(j+1, "SYSTEM") {
			break
		}
		switch {
		case w.is(j, "WITH") && w.is(j+1, "SYSTEM") && w.is(j+2, "VERSIONING"):
			w.del(j, j+3)
			n.addVersion = true
			j += 2
		case w.is(j, "PARTITION") && w.is(j+1, "BY"):
			// Partitioning does not change columns, and MariaDB's SYSTEM_TIME
			// partitioning is not in the grammar: drop the clause.
			w.del(j, w.n())
			j = w.n()
		case w.is(j, "DEFAULT") && (w.is(j+1, "CHARSET") || w.is(j+1, "CHARACTER") || w.is(j+1, "COLLATE")):
			// kept: the next turn reads the option itself
		case w.is(j, "CHARSET") || w.is(j, "COLLATE") || w.is(j, "CHARACTER") && w.is(j+1, "SET"):
			if w.is(j, "CHARACTER") {
				j++
			}
			if w.punct(j+1, "=") {
				j++
			}
			j++ // the name
		case w.punct(j, "("):
			end := w.matching(j)
			w.del(j, end+1)
			j = end
		default:
			w.del(j, j+1)
		}
	}
	if n.addVersion && !hasSystemCols && closeParen > 0 {
		w.set(closeParen, ", "+hiddenVersionColumns(",")+")")
	}
}

// hiddenVersionColumns are the row_start and row_end columns MariaDB adds,
// invisible, to a table made WITH SYSTEM VERSIONING without naming them.
func hiddenVersionColumns(sep string) string {
	start := columnMarker{invisible: true, rowStart: true, hidden: true}
	end := columnMarker{invisible: true, rowEnd: true, hidden: true}
	return "`row_start` TIMESTAMP(6) NOT NULL" + start.comment() + sep + " `row_end` TIMESTAMP(6) NOT NULL" + end.comment()
}

// deleteItem deletes one comma-separated item and a comma next to it.
func deleteItem(w *words, it [2]int) {
	from, to := it[0], it[1]
	if from > 0 && w.punct(from-1, ",") {
		from--
	} else if w.punct(to, ",") {
		to++
	}
	w.del(from, to)
}

// normalizeColumn rewrites a column definition whose type starts at k and
// which ends before to. It returns the marker it attached.
func normalizeColumn(w *words, k, to int) columnMarker {
	var m columnMarker
	if t := w.at(k); t.kind == tkWord {
		if repl, ok := replacedTypes[strings.ToUpper(t.text)]; ok {
			m.sqlType = strings.ToLower(t.text)
			w.set(k, repl)
		}
		if t.is("NATIONAL") || t.is("NCHAR") || t.is("NVARCHAR") {
			nationalCharset(w, k, to)
		}
	}
	depth := 0
	for j := k + 1; j < to; j++ {
		switch {
		case w.punct(j, "("):
			depth++
			continue
		case w.punct(j, ")"):
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		switch {
		case w.is(j, "INVISIBLE"):
			w.del(j, j+1)
			m.invisible = true
		case w.is(j, "COMPRESSED"):
			end := j + 1
			if w.punct(end, "=") {
				end += 2
			}
			w.del(j, end)
			m.compressed = true
		case w.is(j, "PERSISTENT"):
			w.set(j, "STORED")
		case w.is(j, "GENERATED") && w.is(j+1, "ALWAYS") && w.is(j+2, "AS") && w.is(j+3, "ROW"):
			m.rowStart, m.rowEnd = w.is(j+4, "START"), w.is(j+4, "END")
			w.del(j, j+5)
		case w.is(j, "AS") && w.is(j+1, "ROW") && (w.is(j+2, "START") || w.is(j+2, "END")):
			m.rowStart, m.rowEnd = w.is(j+2, "START"), w.is(j+2, "END")
			w.del(j, j+3)
		case (w.is(j, "WITH") || w.is(j, "WITHOUT")) && w.is(j+1, "SYSTEM") && w.is(j+2, "VERSIONING"):
			w.del(j, j+3)
		case w.is(j, "REF_SYSTEM_ID") && w.punct(j+1, "="):
			w.del(j, j+3)
		case w.is(j, "DEFAULT"):
			if end, ok := expressionDefault(w, j+1, to); ok {
				m.defaultSQL, m.hasDefault = w.text(j+1, end), true
				w.set(j+1, "NULL")
				w.del(j+2, end)
				j = end - 1
			}
		}
	}
	if !m.empty() {
		// The marker is a column option: it goes before an ALTER's FIRST or
		// AFTER x, else at the end.
		depth := 0
		for j := k + 1; j < to; j++ {
			switch {
			case w.punct(j, "("):
				depth++
			case w.punct(j, ")"):
				depth--
			case depth == 0 && (w.is(j, "FIRST") || w.is(j, "AFTER")):
				w.set(j, m.comment()+" "+w.at(j).text)
				return m
			}
		}
		last := to - 1
		for last > k && w.at(last).text == "" {
			last--
		}
		w.set(last, w.at(last).text+m.comment())
	}
	return m
}

// plainDefaultFuncs are DEFAULT functions the parser handles itself.
var plainDefaultFuncs = map[string]bool{
	"CURRENT_TIMESTAMP": true, "NOW": true, "LOCALTIME": true, "LOCALTIMESTAMP": true,
}

// expressionDefault reports whether the DEFAULT value at k is an expression
// (in parentheses, a function call, NEXT VALUE FOR s) rather than a literal,
// and where it ends.
func expressionDefault(w *words, k, to int) (end int, ok bool) {
	t := w.at(k)
	switch {
	case w.punct(k, "("):
		return w.matching(k) + 1, true
	case t.kind == tkWord && w.punct(k+1, "(") && !plainDefaultFuncs[strings.ToUpper(t.text)]:
		return w.matching(k+1) + 1, true
	case t.is("NEXT") && w.is(k+1, "VALUE") && w.is(k+2, "FOR"):
		_, _, next, _ := w.qualifiedName(k + 3)
		return next, true
	}
	_ = to
	return 0, false
}

func (n *normalized) normalizeAlter(w *words, k int) {
	for w.is(k, "ONLINE") || w.is(k, "OFFLINE") || w.is(k, "IGNORE") {
		if !w.is(k, "IGNORE") {
			w.del(k, k+1)
		}
		k++
	}
	switch {
	case w.is(k, "DATABASE") || w.is(k, "SCHEMA"):
		dropDatabaseComment(w, k+1)
		return
	case !w.is(k, "TABLE"):
		return
	}
	_, _, k, ok := w.qualifiedName(k + 1)
	if !ok {
		return
	}
	if w.is(k, "NOWAIT") {
		w.del(k, k+1)
		k++
	} else if w.is(k, "WAIT") && w.at(k+1).kind == tkNumber {
		w.del(k, k+2)
		k += 2
	}
	// Partition clauses end the statement without a comma.
	end := w.n()
	depth := 0
	for j := k; j < w.n(); j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
		case depth == 0 && w.is(j, "PARTITION") && w.is(j+1, "BY"):
			// Repartitioning does not change columns; MariaDB's SYSTEM_TIME
			// partitioning is not in the grammar.
			end = j
			w.del(j, w.n())
			j = w.n()
		}
	}
	specs := w.split(k, end)
	hasSystemCols := false
	kept := 0
	var addVersionAt = -1
	for _, sp := range specs {
		from, to := sp[0], sp[1]
		drop := false
		switch {
		case from >= to:
		case w.is(from, "ADD") && w.is(from+1, "SYSTEM") && w.is(from+2, "VERSIONING"):
			n.addVersion = true
			addVersionAt = from
		case w.is(from, "DROP") && w.is(from+1, "SYSTEM") && w.is(from+2, "VERSIONING"):
			n.dropVersion = true
			drop = true
		case (w.is(from, "ADD") || w.is(from, "DROP")) && w.is(from+1, "PERIOD"):
			drop = true
		case w.is(from, "ALTER") && (w.is(from+1, "INDEX") || w.is(from+1, "KEY")) && (w.is(to-1, "IGNORED")):
			drop = true
		case w.is(from, "ALTER") && w.is(to-2, "SET") && (w.is(to-1, "VISIBLE") || w.is(to-1, "INVISIBLE")):
			// ALTER [COLUMN] c SET [IN]VISIBLE (MySQL 8)
			col := from + 1
			if w.is(col, "COLUMN") {
				col++
			}
			n.visibility = append(n.visibility, columnVisibility{w.at(col).ident(), w.is(to-1, "INVISIBLE")})
			drop = true
		case w.is(from, "DROP") && (w.is(from+1, "CONSTRAINT") || w.is(from+1, "CHECK")) && w.is(from+2, "IF") && w.is(from+3, "EXISTS"):
			w.del(from+2, from+4)
		case w.is(from, "RENAME") && w.is(from+1, "COLUMN") && w.is(from+2, "IF") && w.is(from+3, "EXISTS"):
			w.del(from+2, from+4)
		case w.at(from).kind == tkQuoted && w.punct(from+1, "="):
			drop = true
		case w.at(from).kind == tkWord && droppedTableOptions[strings.ToUpper(w.at(from).text)]:
			drop = true
		case w.is(from, "ALGORITHM"):
			v := from + 1
			if w.punct(v, "=") {
				v++
			}
			if w.is(v, "NOCOPY") {
				w.set(v, "INPLACE")
			}
		case w.is(from, "ADD") || w.is(from, "MODIFY") || w.is(from, "CHANGE"):
			if alterColumnSpec(w, from, to) {
				hasSystemCols = true
			}
		}
		if drop {
			deleteItem(w, sp)
			continue
		}
		kept++
	}
	if addVersionAt >= 0 {
		if hasSystemCols {
			w.del(addVersionAt, addVersionAt+3)
			w.set(addVersionAt, "FORCE")
		} else {
			w.set(addVersionAt, "ADD COLUMN "+hiddenVersionColumns(", ADD COLUMN"))
			w.del(addVersionAt+1, addVersionAt+3)
		}
	}
	if kept == 0 || len(specs) == 1 && specs[0][0] >= specs[0][1] {
		// Every spec was dropped, or there was none (ALTER TABLE t
		// PARTITION BY ...): keep the statement valid.
		w.set(k-1, w.at(k-1).text+" FORCE")
	}
}

// alterColumnSpec normalizes ADD/MODIFY/CHANGE specs of ALTER TABLE. It
// reports whether it saw a ROW START/END column.
func alterColumnSpec(w *words, from, to int) (systemCol bool) {
	verb := strings.ToUpper(w.at(from).text)
	k := from + 1
	if verb == "ADD" {
		t := w.at(k)
		if t.kind == tkWord && (elementKeywords[strings.ToUpper(t.text)] || t.is("PARTITION")) {
			if t.is("SPATIAL") {
				w.del(k, k+1)
			}
			normalizeIndexTail(w, k, to)
			return false
		}
	}
	if w.is(k, "COLUMN") {
		k++
	}
	if w.is(k, "IF") && w.is(k+1, "NOT") && w.is(k+2, "EXISTS") {
		k += 3
	} else if w.is(k, "IF") && w.is(k+1, "EXISTS") {
		k += 2
	}
	if verb == "ADD" && w.punct(k, "(") {
		closeP := w.matching(k)
		for _, it := range w.split(k+1, closeP) {
			m := normalizeColumn(w, it[0]+1, it[1])
			systemCol = systemCol || m.rowStart || m.rowEnd
		}
		return systemCol
	}
	k++ // the column name
	if verb == "CHANGE" {
		k++ // the new name
	}
	m := normalizeColumn(w, k, to)
	return m.rowStart || m.rowEnd
}

// nationalCharset makes NATIONAL CHAR, NCHAR, NVARCHAR, ... say their
// character set (utf8mb3), which the parser leaves out.
func nationalCharset(w *words, k, to int) {
	end := k
	for j := k + 1; j < to && j <= k+3; j++ {
		if w.punct(j, "(") {
			end = w.matching(j)
			break
		}
		if !(w.is(j, "CHAR") || w.is(j, "CHARACTER") || w.is(j, "VARCHAR") || w.is(j, "VARYING")) {
			break
		}
		end = j
	}
	w.set(end, w.at(end).text+" CHARACTER SET utf8mb3")
}

// has reports whether the bare words a b follow each other in [from, to).
func (w *words) has(from, to int, a, b string) bool {
	for j := from; j+1 < to; j++ {
		if w.is(j, a) && w.is(j+1, b) {
			return true
		}
	}
	return false
}
