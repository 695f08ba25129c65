package pipeline

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions in DDL (defaults) need a driver

	"github.com/sluice-db/sluice/change"
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
func (m *Mapper) MapDDL(d change.DDL) (DDLDecision, error) {
	p := parser.New()
	stmt, err := p.ParseOneStmt(d.Statement, "", "")
	if err != nil {
		return m.mapUnparsed(d, err)
	}
	switch s := stmt.(type) {
	case *ast.CreateDatabaseStmt:
		return m.mapDatabaseDDL(d, stmt, &s.Name)
	case *ast.DropDatabaseStmt:
		return m.mapDatabaseDDL(d, stmt, &s.Name)
	case *ast.AlterDatabaseStmt:
		if s.AlterDefaultDatabase {
			if d.Schema == "" {
				return DDLDecision{Reason: "ALTER DATABASE without a database"}, nil
			}
			s.Name = ast.NewCIStr(d.Schema)
			s.AlterDefaultDatabase = false
		}
		return m.mapDatabaseDDL(d, stmt, &s.Name)
	case *ast.CreateTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return DDLDecision{Reason: "temporary table"}, nil
		}
	case *ast.DropTableStmt:
		if s.TemporaryKeyword != ast.TemporaryNone {
			return DDLDecision{Reason: "temporary table"}, nil
		}
		if s.IsView {
			return DDLDecision{Reason: "not a table statement"}, nil
		}
	case *ast.AlterTableStmt, *ast.RenameTableStmt, *ast.TruncateTableStmt, *ast.CreateIndexStmt, *ast.DropIndexStmt:
	default:
		return DDLDecision{Reason: "not a table statement"}, nil
	}

	names := &tableNames{defaultSchema: d.Schema}
	stmt.Accept(names)
	var selected, unselected []string
	rename := false
	for _, tn := range names.subjects {
		schema := tn.Schema.O
		if schema == "" {
			schema = d.Schema
		}
		rule := m.sel.Match(schema, tn.Name.O)
		if rule == nil {
			unselected = append(unselected, schema+"."+tn.Name.O)
			continue
		}
		if rule.hasColumnRules() {
			return DDLDecision{Reason: fmt.Sprintf("table %s.%s has column rules; apply its DDL to the target by hand", schema, tn.Name.O)}, nil
		}
		selected = append(selected, schema+"."+tn.Name.O)
		if ts, tt := rule.TargetName(schema, tn.Name.O); ts != schema || tt != tn.Name.O {
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
	// Rewrite every table name, references included, and qualify them all
	// so that the default database no longer matters.
	for _, tn := range names.all {
		schema := tn.Schema.O
		if schema == "" {
			schema = d.Schema
		}
		ts, tt := schema, tn.Name.O
		if rule := m.sel.Match(schema, tn.Name.O); rule != nil {
			ts, tt = rule.TargetName(schema, tn.Name.O)
		}
		tn.Schema, tn.Name = ast.NewCIStr(ts), ast.NewCIStr(tt)
	}
	text, err := restore(stmt)
	if err != nil {
		return DDLDecision{}, fmt.Errorf("ddl %q: rewrite table names for the target: %w", abbreviate(d.Statement), err)
	}
	// Every name is qualified now: no default database is needed (and the
	// source's may not exist on the target).
	return DDLDecision{Action: DDLApply, DDL: change.DDL{Statement: text}}, nil
}

// mapDatabaseDDL handles CREATE/ALTER/DROP DATABASE: replicated when some
// rule selects tables of that database.
func (m *Mapper) mapDatabaseDDL(d change.DDL, stmt ast.StmtNode, name *ast.CIStr) (DDLDecision, error) {
	rule := m.sel.MatchSchema(name.O)
	if rule == nil {
		return DDLDecision{Reason: "no replicated database"}, nil
	}
	target := m.targetSchema(name.O)
	if target == name.O {
		return DDLDecision{Action: DDLApply, DDL: change.DDL{Statement: d.Statement}}, nil
	}
	*name = ast.NewCIStr(target)
	text, err := restore(stmt)
	if err != nil {
		return DDLDecision{}, fmt.Errorf("ddl %q: rewrite database name for the target: %w", abbreviate(d.Statement), err)
	}
	return DDLDecision{Action: DDLApply, DDL: change.DDL{Statement: text}}, nil
}

// mapUnparsed decides about a statement the grammar does not know (some
// MariaDB syntax). It can pass through unchanged only when it runs in a
// replicated database whose names the pipeline does not change.
func (m *Mapper) mapUnparsed(d change.DDL, perr error) (DDLDecision, error) {
	if d.Schema == "" || m.sel.MatchSchema(d.Schema) == nil {
		return DDLDecision{Reason: "unparsed statement outside replicated databases"}, nil
	}
	if m.targetSchema(d.Schema) == d.Schema && !m.renamesTablesIn(d.Schema) {
		return DDLDecision{Action: DDLApply, DDL: d}, nil
	}
	return DDLDecision{}, fmt.Errorf("ddl %q in replicated database %s cannot be parsed to map its names (%v): apply it to the target by hand, then skip it",
		abbreviate(d.Statement), d.Schema, perr)
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

// renamesTablesIn reports whether a rule for schema renames tables.
func (m *Mapper) renamesTablesIn(schema string) bool {
	for i := range m.sel.Rules {
		r := &m.sel.Rules[i]
		ps, _, _ := strings.Cut(r.Source, ".")
		if !matchGlob(ps, schema) || r.Target == "" {
			continue
		}
		_, tt, _ := strings.Cut(r.Target, ".")
		if tt != "*" {
			return true
		}
	}
	return false
}

func restore(stmt ast.StmtNode) (string, error) {
	var sb strings.Builder
	if err := stmt.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &sb)); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// tableNames collects the table names of a statement: subjects are the
// tables it changes, all includes the tables it only refers to (foreign
// keys).
type tableNames struct {
	defaultSchema string
	subjects      []*ast.TableName
	all           []*ast.TableName
	inReference   int
}

func (v *tableNames) Enter(n ast.Node) (ast.Node, bool) {
	switch x := n.(type) {
	case *ast.ReferenceDef:
		v.inReference++
	case *ast.TableName:
		v.all = append(v.all, x)
		if v.inReference == 0 {
			v.subjects = append(v.subjects, x)
		}
	}
	return n, false
}

func (v *tableNames) Leave(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(*ast.ReferenceDef); ok {
		v.inReference--
	}
	return n, true
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		return s[:157] + "..."
	}
	return s
}
