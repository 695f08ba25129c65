package schema

import "strings"

// stmtKind says what a QUERY event's statement can do to the schema.
type stmtKind uint8

const (
	stmtNone     stmtKind = iota // no effect on any table: BEGIN, GRANT, CREATE VIEW, ...
	stmtTable                    // may create, change, rename or drop tables
	stmtDatabase                 // CREATE/ALTER/DROP DATABASE
)

// tableRef names a table as a statement wrote it; Schema is "" when the
// statement left it to the default database.
type tableRef struct{ Schema, Name string }

// stmtInfo is what the lexer alone can tell about a statement: enough to
// skip statements without schema effect cheaply, and to know which tables a
// statement the parser rejects would have touched.
type stmtInfo struct {
	kind   stmtKind
	verb   string     // e.g. "alter table", for messages
	tables []tableRef // tables it names, as far as the lexer can tell
	start  int        // first significant token of the statement proper (after SET STATEMENT ... FOR)
}

// ignoredFirstWords start statements that never change a table definition.
// They are most QUERY events (BEGIN, COMMIT), so they are recognised without
// lexing.
var ignoredFirstWords = map[string]bool{
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "XA": true, "SAVEPOINT": true,
	"RELEASE": true, "INSERT": true, "UPDATE": true, "DELETE": true, "REPLACE": true,
	"LOAD": true, "GRANT": true, "REVOKE": true, "FLUSH": true, "ANALYZE": true,
	"OPTIMIZE": true, "REPAIR": true, "CHECK": true, "CHECKSUM": true, "INSTALL": true,
	"UNINSTALL": true, "TRUNCATE": true, "CALL": true, "DO": true, "SELECT": true,
	"USE": true, "LOCK": true, "UNLOCK": true, "SHOW": true, "KILL": true, "RESET": true,
	"PURGE": true, "CHANGE": true, "START": true, "STOP": true, "HANDLER": true,
}

// quickIgnore reports whether sql certainly has no schema effect, looking at
// its first word only. It does not allocate.
func quickIgnore(sql string) bool {
	i := 0
	for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r') {
		i++
	}
	j := i
	for j < len(sql) && (sql[j] >= 'a' && sql[j] <= 'z' || sql[j] >= 'A' && sql[j] <= 'Z') {
		j++
	}
	if j == i || j-i > 10 {
		return false
	}
	var buf [10]byte
	for k := i; k < j; k++ {
		c := sql[k]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[k-i] = c
	}
	return ignoredFirstWords[string(buf[:j-i])]
}

// classify reads the leading keywords of a lexed statement.
func classify(w *words) stmtInfo {
	k := 0
	// MariaDB: SET STATEMENT var=value[, ...] FOR <statement>.
	if w.is(0, "SET") && w.is(1, "STATEMENT") {
		depth := 0
		for j := 2; j < w.n(); j++ {
			switch {
			case w.punct(j, "("):
				depth++
			case w.punct(j, ")"):
				depth--
			case depth == 0 && w.is(j, "FOR"):
				k = j + 1
				j = w.n()
			}
		}
		if k == 0 {
			return stmtInfo{kind: stmtNone}
		}
	}
	info := stmtInfo{start: k}
	first := strings.ToUpper(w.at(k).text)
	if w.at(k).kind != tkWord {
		return info
	}
	k++
	switch first {
	case "CREATE":
		k = skipCreatePrefix(w, k)
		switch {
		case w.is(k, "TEMPORARY"):
			return info // temporary tables are not replicated row by row
		case w.is(k, "TABLE"):
			k++
			if w.is(k, "IF") && w.is(k+1, "NOT") && w.is(k+2, "EXISTS") {
				k += 3
			}
			info.kind, info.verb = stmtTable, "create table"
			info.tables = w.nameList(k, 1)
		case w.is(k, "SEQUENCE"):
			k++
			if w.is(k, "IF") && w.is(k+1, "NOT") && w.is(k+2, "EXISTS") {
				k += 3
			}
			info.kind, info.verb = stmtTable, "create sequence"
			info.tables = w.nameList(k, 1)
		case w.is(k, "UNIQUE") || w.is(k, "FULLTEXT") || w.is(k, "SPATIAL") || w.is(k, "INDEX"):
			info.kind, info.verb = stmtTable, "create index"
			info.tables = w.tableAfterOn(k)
		case w.is(k, "DATABASE") || w.is(k, "SCHEMA"):
			info.kind, info.verb = stmtDatabase, "create database"
		}
	case "ALTER":
		for w.is(k, "ONLINE") || w.is(k, "IGNORE") || w.is(k, "OFFLINE") {
			k++
		}
		switch {
		case w.is(k, "TABLE"):
			info.kind, info.verb = stmtTable, "alter table"
			info.tables = w.nameList(k+1, 1)
		case w.is(k, "DATABASE") || w.is(k, "SCHEMA"):
			info.kind, info.verb = stmtDatabase, "alter database"
		}
	case "DROP":
		switch {
		case w.is(k, "TEMPORARY"):
			return info
		case w.is(k, "TABLE") || w.is(k, "TABLES") || w.is(k, "SEQUENCE"):
			info.kind, info.verb = stmtTable, "drop "+strings.ToLower(w.at(k).text)
			k++
			if w.is(k, "IF") && w.is(k+1, "EXISTS") {
				k += 2
			}
			info.tables = w.nameList(k, -1)
		case w.is(k, "INDEX"):
			info.kind, info.verb = stmtTable, "drop index"
			info.tables = w.tableAfterOn(k)
		case w.is(k, "DATABASE") || w.is(k, "SCHEMA"):
			info.kind, info.verb = stmtDatabase, "drop database"
		}
	case "RENAME":
		if w.is(k, "TABLE") || w.is(k, "TABLES") {
			info.kind, info.verb = stmtTable, "rename table"
			for j := k + 1; j < w.n(); j++ {
				if s, n, next, ok := w.qualifiedName(j); ok && !w.is(j, "TO") && !w.is(j, "WAIT") && !w.is(j, "NOWAIT") {
					info.tables = append(info.tables, tableRef{s, n})
					j = next - 1
				}
			}
		}
	}
	return info
}

// skipCreatePrefix skips what may stand between CREATE and the object
// keyword: OR REPLACE, DEFINER = user, ALGORITHM = x, SQL SECURITY x, ...
func skipCreatePrefix(w *words, k int) int {
	for k < w.n() {
		switch {
		case w.is(k, "OR") && w.is(k+1, "REPLACE"):
			k += 2
		case w.is(k, "DEFINER") && w.punct(k+1, "="):
			k += 2
			// user: 'u'@'h', `u`@`h`, u@h, CURRENT_USER[()], a role name
			k++
			if w.punct(k, "@") {
				k += 2
			}
			if w.punct(k, "(") && w.punct(k+1, ")") {
				k += 2
			}
		case w.is(k, "ALGORITHM") && w.punct(k+1, "="):
			k += 3
		case w.is(k, "SQL") && w.is(k+1, "SECURITY"):
			k += 3
		case w.is(k, "AGGREGATE") || w.is(k, "ONLINE") || w.is(k, "OFFLINE"):
			k++
		default:
			return k
		}
	}
	return k
}

// nameList reads up to max (or all, when max < 0) comma-separated table
// names starting at k.
func (w *words) nameList(k, max int) []tableRef {
	var out []tableRef
	for k < w.n() && (max < 0 || len(out) < max) {
		s, n, next, ok := w.qualifiedName(k)
		if !ok {
			break
		}
		out = append(out, tableRef{s, n})
		if !w.punct(next, ",") {
			break
		}
		k = next + 1
	}
	return out
}

// tableAfterOn finds "ON table" at depth 0 (CREATE INDEX, DROP INDEX).
func (w *words) tableAfterOn(k int) []tableRef {
	depth := 0
	for j := k; j < w.n(); j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
		case depth == 0 && w.is(j, "ON"):
			return w.nameList(j+1, 1)
		}
	}
	return nil
}
