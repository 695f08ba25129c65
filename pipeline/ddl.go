package pipeline

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions in DDL (defaults) need a driver

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/schema"
)

// DDLAction says what a pipeline does with one DDL statement.
type DDLAction uint8

const (
	// DDLSkip: the statement is not about replicated tables (or the
	// pipeline skips DDL); only the position moves.
	DDLSkip DDLAction = iota
	// DDLApply: run Statement (in database Schema) on the target.
	DDLApply
)

// DDLDecision is the outcome of mapping a DDL statement.
type DDLDecision struct {
	Action DDLAction
	DDL    change.DDL
	// Reason explains a skip, for the log.
	Reason string
}

// MapDDL decides whether a source DDL statement is replicated and rewrites
// its table and database names for the target. Statements about tables the
// selection does not replicate are skipped; statements about tables whose
// columns are mapped are skipped too (their target shape is the operator's,
// by design), as are statements that are not about tables (users, grants,
// routines, views). An error means the statement touches replicated tables
// but cannot be mapped safely: the pipeline pauses so that the operator
// applies it by hand and skips it.
//
// Which tables a statement touches is read by the schema history's lexer,
// which knows MariaDB's syntax; a statement whose names stay the same goes
// to the target as the source wrote it. Only a rename needs the grammar.
func (m *Mapper) MapDDL(d change.DDL, flavor change.Flavor) (DDLDecision, error) {
	st := schema.Describe(d.Statement, flavor)
	switch st.Kind {
	case schema.StatementDatabase:
		db := st.Database
		if db == "" {
			db = d.Schema
		}
		if db == "" || m.sel.MatchSchema(db) == nil {
			return DDLDecision{Reason: "no replicated database"}, nil
		}
		if st.Database == "" {
			// ALTER DATABASE of the default one: name it, since the
			// statement runs without a default database.
			return m.rewrite(d)
		}
		if m.targetSchema(db) == db {
			// The source logs the database as the default one, which
			// does not exist on the target before CREATE DATABASE.
			return DDLDecision{Action: DDLApply, DDL: change.DDL{Statement: d.Statement}}, nil
		}
		return m.rewrite(d)
	case schema.StatementTable:
	default:
		return DDLDecision{Reason: "not a table statement"}, nil
	}
	var selected, unselected []string
	rename := false
	for _, tn := range st.Tables {
		sch := tn.Schema
		if sch == "" {
			sch = d.Schema
		}
		rule := m.sel.Match(sch, tn.Name)
		if rule == nil {
			unselected = append(unselected, sch+"."+tn.Name)
			continue
		}
		if rule.hasColumnRules() {
			return DDLDecision{Reason: fmt.Sprintf("table %s.%s has column rules; apply its DDL to the target by hand", sch, tn.Name)}, nil
		}
		selected = append(selected, sch+"."+tn.Name)
		if ts, tt := rule.TargetName(sch, tn.Name); ts != sch || tt != tn.Name {
			rename = true
		}
	}
	if len(selected) == 0 {
		return DDLDecision{Reason: "no replicated table"}, nil
	}
	if len(unselected) > 0 {
		return DDLDecision{}, fmt.Errorf("ddl %q touches replicated tables (%s) and others (%s): apply it to the target by hand, then skip it",
			abbreviate(d.Statement), strings.Join(selected, ", "), strings.Join(unselected, ", "))
	}
	if !rename {
		return DDLDecision{Action: DDLApply, DDL: d}, nil
	}
	return m.rewrite(d)
}

// rewrite renames the tables and databases of a statement for the target
// with the grammar, qualifying every table name so that the default
// database no longer matters.
func (m *Mapper) rewrite(d change.DDL) (DDLDecision, error) {
	p := parser.New()
	stmt, err := p.ParseOneStmt(d.Statement, "", "")
	if err != nil {
		return DDLDecision{}, fmt.Errorf("ddl %q renames replicated tables but cannot be parsed to map its names (%v): apply it to the target by hand, then skip it",
			abbreviate(d.Statement), err)
	}
	switch s := stmt.(type) {
	case *ast.CreateDatabaseStmt:
		s.Name = ast.NewCIStr(m.targetSchema(s.Name.O))
	case *ast.DropDatabaseStmt:
		s.Name = ast.NewCIStr(m.targetSchema(s.Name.O))
	case *ast.AlterDatabaseStmt:
		name := s.Name.O
		if s.AlterDefaultDatabase {
			name = d.Schema
			s.AlterDefaultDatabase = false
		}
		s.Name = ast.NewCIStr(m.targetSchema(name))
	default:
		names := &tableNames{}
		stmt.Accept(names)
		for _, tn := range names.all {
			sch := tn.Schema.O
			if sch == "" {
				sch = d.Schema
			}
			ts, tt := sch, tn.Name.O
			if rule := m.sel.Match(sch, tn.Name.O); rule != nil {
				ts, tt = rule.TargetName(sch, tn.Name.O)
			}
			tn.Schema, tn.Name = ast.NewCIStr(ts), ast.NewCIStr(tt)
		}
	}
	var sb strings.Builder
	if err := stmt.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &sb)); err != nil {
		return DDLDecision{}, fmt.Errorf("ddl %q: rewrite names for the target: %w", abbreviate(d.Statement), err)
	}
	return DDLDecision{Action: DDLApply, DDL: change.DDL{Statement: sb.String()}}, nil
}

// targetSchema maps a database name through the first rule for it.
func (m *Mapper) targetSchema(schema string) string {
	if schema == "" {
		return ""
	}
	rule := m.sel.MatchSchema(schema)
	if rule == nil || rule.Target == "" {
		return schema
	}
	ps, _, _ := strings.Cut(rule.Source, ".")
	ts, _, _ := strings.Cut(rule.Target, ".")
	return substitute(ps, ts, schema)
}

// tableNames collects every table name of a statement, references
// included.
type tableNames struct {
	all []*ast.TableName
}

func (v *tableNames) Enter(n ast.Node) (ast.Node, bool) {
	if x, ok := n.(*ast.TableName); ok {
		v.all = append(v.all, x)
	}
	return n, false
}

func (v *tableNames) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		return s[:157] + "..."
	}
	return s
}
