package pipeline

import (
	"fmt"
	"strings"

	"github.com/sluice-db/sluice/change"
)

// Mapping is how one source table appears on the target.
type Mapping struct {
	Rule   *TableRule
	Target *change.Table
	// Project lists, for each target column, the source column it comes
	// from; nil when the columns are the same.
	Project []int
}

// Mapper maps source tables to target tables, caching the result per table
// definition (a DDL produces a new definition, hence a new entry).
type Mapper struct {
	sel   *Selection
	cache map[*change.Table]*Mapping
}

// NewMapper returns a Mapper for a validated selection.
func NewMapper(sel *Selection) *Mapper {
	return &Mapper{sel: sel, cache: map[*change.Table]*Mapping{}}
}

// excluded marks tables the selection does not replicate in the cache.
var excluded = &Mapping{}

// Reset forgets cached mappings (after DDL).
func (m *Mapper) Reset() { clear(m.cache) }

// Selected reports whether a table name is replicated at all, without its
// definition: the capture uses it to skip decoding other tables' rows.
func (m *Mapper) Selected(schema, table string) bool {
	return m.sel.Match(schema, table) != nil
}

// Map returns the mapping of t, or nil when the selection does not
// replicate it.
func (m *Mapper) Map(t *change.Table) (*Mapping, error) {
	if mp, ok := m.cache[t]; ok {
		if mp == excluded {
			return nil, nil
		}
		return mp, nil
	}
	rule := m.sel.Match(t.Schema, t.Name)
	if rule == nil {
		m.cache[t] = excluded
		return nil, nil
	}
	mp, err := buildMapping(rule, t)
	if err != nil {
		return nil, err
	}
	m.cache[t] = mp
	return mp, nil
}

func buildMapping(rule *TableRule, t *change.Table) (*Mapping, error) {
	schema, name := rule.TargetName(t.Schema, t.Name)
	if !rule.hasColumnRules() {
		if schema == t.Schema && name == t.Name {
			return &Mapping{Rule: rule, Target: t}, nil
		}
		target := *t
		target.Schema, target.Name = schema, name
		return &Mapping{Rule: rule, Target: &target}, nil
	}
	keep := make([]bool, len(t.Columns))
	if len(rule.Columns) > 0 {
		for _, c := range rule.Columns {
			i := t.ColumnIndex(c)
			if i < 0 {
				return nil, fmt.Errorf("table %s has no column %q (listed in columns)", t.QualifiedName(), c)
			}
			keep[i] = true
		}
	} else {
		for i := range keep {
			keep[i] = true
		}
		for _, c := range rule.ExcludeColumns {
			i := t.ColumnIndex(c)
			if i < 0 {
				return nil, fmt.Errorf("table %s has no column %q (listed in exclude_columns)", t.QualifiedName(), c)
			}
			keep[i] = false
		}
	}
	for from := range rule.RenameColumns {
		if t.ColumnIndex(from) < 0 {
			return nil, fmt.Errorf("table %s has no column %q (listed in rename_columns)", t.QualifiedName(), from)
		}
	}
	target := &change.Table{Schema: schema, Name: name, Charset: t.Charset, Collation: t.Collation}
	var project []int
	newIndex := make([]int, len(t.Columns))
	seen := map[string]bool{}
	for i, col := range t.Columns {
		newIndex[i] = -1
		if !keep[i] {
			continue
		}
		for from, to := range rule.RenameColumns {
			if strings.EqualFold(from, col.Name) {
				col.Name = to
			}
		}
		lower := strings.ToLower(col.Name)
		if seen[lower] {
			return nil, fmt.Errorf("table %s: two columns map to target column %q", t.QualifiedName(), col.Name)
		}
		seen[lower] = true
		newIndex[i] = len(target.Columns)
		target.Columns = append(target.Columns, col)
		project = append(project, i)
	}
	if len(target.Columns) == 0 {
		return nil, fmt.Errorf("table %s: the column rules leave no column to replicate", t.QualifiedName())
	}
	// Keys survive only when all their columns do.
	remap := func(cols []int) []int {
		out := make([]int, len(cols))
		for i, c := range cols {
			if newIndex[c] < 0 {
				return nil
			}
			out[i] = newIndex[c]
		}
		return out
	}
	target.PrimaryKey = remap(t.PrimaryKey)
	for _, uk := range t.UniqueKeys {
		if k := remap(uk); k != nil {
			target.UniqueKeys = append(target.UniqueKeys, k)
		}
	}
	return &Mapping{Rule: rule, Target: target, Project: project}, nil
}

// Apply rewrites a source row change for the target table.
func (mp *Mapping) Apply(c change.RowChange) change.RowChange {
	c.Table = mp.Target
	if mp.Project == nil {
		return c
	}
	c.Before = project(c.Before, mp.Project)
	c.After = project(c.After, mp.Project)
	return c
}

func project(r change.Row, cols []int) change.Row {
	if r == nil {
		return nil
	}
	out := make(change.Row, len(cols))
	for i, c := range cols {
		out[i] = r[c]
	}
	return out
}
