package schema

import (
	"strings"

	"github.com/sluice-db/sluice/change"
)

// StatementKind says what a statement does to the schema, as far as a
// replication pipeline cares.
type StatementKind uint8

const (
	// StatementOther touches no table definition or data in bulk: users,
	// grants, routines, views, BEGIN ...
	StatementOther StatementKind = iota
	// StatementTable creates, changes, renames, truncates or drops tables.
	StatementTable
	// StatementDatabase creates, alters or drops a database.
	StatementDatabase
)

// TableRef names a table; Schema is "" when the statement left it to the
// default database.
type TableRef struct{ Schema, Name string }

// Statement is what the lexer tells about a statement without parsing it:
// enough for a pipeline to decide whether it concerns the tables it
// replicates, also for MariaDB syntax that no grammar here accepts.
type Statement struct {
	Kind StatementKind
	Verb string // e.g. "alter table", for messages
	// Tables are the tables it changes, including the new name of a rename.
	Tables []TableRef
	// Database names the database of a database statement ("" when ALTER
	// DATABASE names none and means the default one).
	Database string
}

// Describe lexes a QUERY event's statement and tells what it touches.
func Describe(sql string, flavor change.Flavor) Statement {
	m := lexMode{flavor: commentsMySQL}
	if flavor == change.MariaDB {
		m.flavor = commentsMariaDB
	}
	w := newWords(lex(sql, m))
	first := strings.ToUpper(w.at(0).text)
	if first == "TRUNCATE" {
		k := 1
		if w.is(k, "TABLE") {
			k++
		}
		return Statement{Kind: StatementTable, Verb: "truncate table", Tables: refs(w.nameList(k, 1))}
	}
	info := classify(w)
	st := Statement{Verb: info.verb, Tables: refs(info.tables)}
	switch info.kind {
	case stmtTable:
		st.Kind = StatementTable
		if info.verb == "alter table" {
			st.Tables = append(st.Tables, alterRenameTarget(w, info.start)...)
		}
	case stmtDatabase:
		st.Kind = StatementDatabase
		st.Database = databaseName(w, info.start)
	}
	return st
}

func refs(ts []tableRef) []TableRef {
	out := make([]TableRef, len(ts))
	for i, t := range ts {
		out[i] = TableRef(t)
	}
	return out
}

// alterRenameTarget finds "RENAME [TO|AS] name" at depth 0 of an ALTER
// TABLE (not RENAME COLUMN/INDEX/KEY).
func alterRenameTarget(w *words, start int) []TableRef {
	depth := 0
	for j := start; j < w.n(); j++ {
		switch {
		case w.punct(j, "("):
			depth++
		case w.punct(j, ")"):
			depth--
		case depth == 0 && w.is(j, "RENAME"):
			k := j + 1
			if w.is(k, "COLUMN") || w.is(k, "INDEX") || w.is(k, "KEY") {
				continue
			}
			if w.is(k, "TO") || w.is(k, "AS") {
				k++
			}
			return refs(w.nameList(k, 1))
		}
	}
	return nil
}

// databaseName reads the name after CREATE/ALTER/DROP DATABASE|SCHEMA
// [IF [NOT] EXISTS].
func databaseName(w *words, start int) string {
	for j := start; j < w.n(); j++ {
		if w.is(j, "DATABASE") || w.is(j, "SCHEMA") {
			k := j + 1
			if w.is(k, "IF") {
				k++
				if w.is(k, "NOT") {
					k++
				}
				if w.is(k, "EXISTS") {
					k++
				}
			}
			t := w.at(k)
			if t.kind != tkWord && t.kind != tkQuoted {
				return ""
			}
			switch strings.ToUpper(t.text) {
			case "CHARACTER", "CHARSET", "COLLATE", "DEFAULT", "COMMENT":
				return "" // ALTER DATABASE without a name
			}
			return t.ident()
		}
	}
	return ""
}
