package pipeline

import (
	"fmt"
	"path"
	"strings"

	"github.com/sluice-db/sluice/change"
)

// TableRule selects source tables by a "schema.table" pattern and says what
// they become on the target. Patterns use shell globs (* and ?) in each part.
type TableRule struct {
	// Source is the pattern, e.g. "shop.*", "crm.users", "db_*.orders".
	Source string `yaml:"source" json:"source"`
	// Target names the target table: "" keeps the source names; a part
	// that is "*" keeps that part; a "*" inside a part stands for what the
	// source part's "*" matched ("shop.*" -> "shop_copy.*",
	// "logs.ev_*" -> "archive.event_*").
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Columns, when set, is the only columns to replicate.
	Columns []string `yaml:"columns,omitempty" json:"columns,omitempty"`
	// ExcludeColumns are columns not to replicate.
	ExcludeColumns []string `yaml:"exclude_columns,omitempty" json:"exclude_columns,omitempty"`
	// RenameColumns maps source column names to target column names.
	RenameColumns map[string]string `yaml:"rename_columns,omitempty" json:"rename_columns,omitempty"`
}

// hasColumnRules reports whether the rule changes the set or names of
// columns, so that the target table's shape differs from the source's.
func (r *TableRule) hasColumnRules() bool {
	return len(r.Columns) > 0 || len(r.ExcludeColumns) > 0 || len(r.RenameColumns) > 0
}

// Ops is the set of change kinds a pipeline replicates.
type Ops struct {
	Insert, Update, Delete, DDL bool
}

// AllOps replicates everything.
func AllOps() Ops { return Ops{Insert: true, Update: true, Delete: true, DDL: true} }

// ParseOps reads a list like ["insert", "update", "delete", "ddl"].
func ParseOps(list []string) (Ops, error) {
	var o Ops
	for _, s := range list {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "insert":
			o.Insert = true
		case "update":
			o.Update = true
		case "delete":
			o.Delete = true
		case "ddl":
			o.DDL = true
		default:
			return Ops{}, fmt.Errorf("unknown event type %q (want insert, update, delete or ddl)", s)
		}
	}
	return o, nil
}

func (o Ops) allows(op change.Op) bool {
	switch op {
	case change.Insert:
		return o.Insert
	case change.Update:
		return o.Update
	case change.Delete:
		return o.Delete
	}
	return false
}

// Selection decides which changes a pipeline replicates and how they are
// named on the target.
type Selection struct {
	Rules   []TableRule
	Exclude []string // "schema.table" patterns never replicated
	Ops     Ops
}

// ValidatePattern checks a "schema.table" glob.
func ValidatePattern(p string) error {
	s, t, ok := strings.Cut(p, ".")
	if !ok || s == "" || t == "" || strings.Contains(t, ".") {
		return fmt.Errorf("table pattern %q must be schema.table (globs allowed, e.g. shop.*)", p)
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("table pattern %q: %w", p, err)
	}
	if _, err := path.Match(t, ""); err != nil {
		return fmt.Errorf("table pattern %q: %w", p, err)
	}
	return nil
}

// Validate checks the selection's patterns and rules.
func (s *Selection) Validate() error {
	if len(s.Rules) == 0 {
		return fmt.Errorf("no tables selected: give at least one table pattern (e.g. shop.*)")
	}
	for i, r := range s.Rules {
		if err := ValidatePattern(r.Source); err != nil {
			return fmt.Errorf("tables[%d]: %w", i, err)
		}
		if r.Target != "" {
			ts, tt, ok := strings.Cut(r.Target, ".")
			if !ok || ts == "" || tt == "" || strings.Contains(tt, ".") {
				return fmt.Errorf("tables[%d]: target %q must be schema.table (* keeps the source name)", i, r.Target)
			}
		}
		if len(r.Columns) > 0 && len(r.ExcludeColumns) > 0 {
			return fmt.Errorf("tables[%d] (%s): give columns or exclude_columns, not both", i, r.Source)
		}
	}
	for _, p := range s.Exclude {
		if err := ValidatePattern(p); err != nil {
			return fmt.Errorf("exclude: %w", err)
		}
	}
	return nil
}

// Match returns the first rule whose pattern matches schema.table and is
// not excluded, or nil.
func (s *Selection) Match(schema, table string) *TableRule {
	for _, p := range s.Exclude {
		if matchPattern(p, schema, table) {
			return nil
		}
	}
	for i := range s.Rules {
		if matchPattern(s.Rules[i].Source, schema, table) {
			return &s.Rules[i]
		}
	}
	return nil
}

// MatchSchema reports whether any rule could select a table of schema, for
// database-level DDL.
func (s *Selection) MatchSchema(schema string) *TableRule {
	for i := range s.Rules {
		ps, _, _ := strings.Cut(s.Rules[i].Source, ".")
		if ok, _ := path.Match(ps, schema); ok {
			return &s.Rules[i]
		}
	}
	return nil
}

func matchPattern(p, schema, table string) bool {
	ps, pt, _ := strings.Cut(p, ".")
	ok1, _ := path.Match(ps, schema)
	if !ok1 {
		return false
	}
	ok2, _ := path.Match(pt, table)
	return ok2
}

// TargetName maps a source schema and table through a rule.
func (r *TableRule) TargetName(schema, table string) (string, string) {
	if r.Target == "" {
		return schema, table
	}
	ps, pt, _ := strings.Cut(r.Source, ".")
	ts, tt, _ := strings.Cut(r.Target, ".")
	return substitute(ps, ts, schema), substitute(pt, tt, table)
}

// substitute builds a target name part: "*" keeps the source name, a "*"
// inside the target stands for what the pattern's "*" matched.
func substitute(pattern, target, name string) string {
	if target == "*" {
		return name
	}
	i := strings.IndexByte(target, '*')
	if i < 0 {
		return target
	}
	return target[:i] + wildcardPart(pattern, name) + target[i+1:]
}

// wildcardPart returns what the first "*" of pattern matched in name, for
// patterns of the form prefix*suffix; the whole name otherwise.
func wildcardPart(pattern, name string) string {
	i := strings.IndexByte(pattern, '*')
	if i < 0 || strings.ContainsAny(pattern[i+1:], "*?[") || strings.ContainsAny(pattern[:i], "?[") {
		return name
	}
	prefix, suffix := pattern[:i], pattern[i+1:]
	if len(name) < len(prefix)+len(suffix) || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return name
	}
	return name[len(prefix) : len(name)-len(suffix)]
}
