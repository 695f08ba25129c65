package check

import (
	"fmt"
	"path"
	"strings"
)

// MapRule renames source tables on the target. From and To are
// "schema.table"; From may hold * and ? within a part, and a * part in To
// keeps the source's name for that part ("shop.*" -> "shop_copy.*").
type MapRule struct {
	From string
	To   string
}

// ParseMapRule reads "from:to", e.g. "shop.*:shop_copy.*".
func ParseMapRule(s string) (MapRule, error) {
	from, to, ok := strings.Cut(s, ":")
	if !ok {
		return MapRule{}, fmt.Errorf("table mapping %q must be from:to, e.g. shop.*:shop_copy.*", s)
	}
	if _, _, err := splitTablePattern(from); err != nil {
		return MapRule{}, fmt.Errorf("table mapping %q: %w", s, err)
	}
	ts, tt, err := splitTablePattern(to)
	if err != nil {
		return MapRule{}, fmt.Errorf("table mapping %q: %w", s, err)
	}
	if (ts != "*" && strings.ContainsAny(ts, "*?")) || (tt != "*" && strings.ContainsAny(tt, "*?")) {
		return MapRule{}, fmt.Errorf("table mapping %q: a target part is a name or *", s)
	}
	return MapRule{From: from, To: to}, nil
}

func splitTablePattern(p string) (schema, table string, err error) {
	schema, table, ok := strings.Cut(p, ".")
	if !ok || schema == "" || table == "" || strings.Contains(table, ".") {
		return "", "", fmt.Errorf("table pattern %q must be schema.table", p)
	}
	if _, err := path.Match(schema, ""); err != nil {
		return "", "", fmt.Errorf("table pattern %q: %w", p, err)
	}
	if _, err := path.Match(table, ""); err != nil {
		return "", "", fmt.Errorf("table pattern %q: %w", p, err)
	}
	return schema, table, nil
}

// tableName is an unquoted schema and table.
type tableName struct {
	Schema, Name string
}

func (n tableName) String() string { return n.Schema + "." + n.Name }

// quoted is `schema`.`table`.
func (n tableName) quoted() string { return quoteIdent(n.Schema) + "." + quoteIdent(n.Name) }

func matchTable(pattern string, n tableName) bool {
	ps, pt, err := splitTablePattern(pattern)
	if err != nil {
		return false
	}
	ms, _ := path.Match(ps, n.Schema)
	mt, _ := path.Match(pt, n.Name)
	return ms && mt
}

// mapTable returns the target name of source table n.
func mapTable(rules []MapRule, n tableName) tableName {
	for _, r := range rules {
		if !matchTable(r.From, n) {
			continue
		}
		ts, tt, _ := splitTablePattern(r.To)
		out := n
		if ts != "*" {
			out.Schema = ts
		}
		if tt != "*" {
			out.Name = tt
		}
		return out
	}
	return n
}

// excludedColumn reports whether column col of source table n is excluded.
func excludedColumn(patterns []string, n tableName, col string) bool {
	for _, p := range patterns {
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			continue
		}
		if !matchTable(p[:i], n) {
			continue
		}
		if ok, _ := path.Match(strings.ToLower(p[i+1:]), strings.ToLower(col)); ok {
			return true
		}
	}
	return false
}

// quoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
