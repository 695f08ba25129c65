package check

import (
	"fmt"
	"strings"
)

// pair is one source table and its target table, with the statements each
// side runs.
type pair struct {
	srcName, tgtName tableName
	cols             []column // compared columns (source definitions)
	key              []string // key column names; nil without a key
	intKey           bool     // a single integer key column: numeric chunks
	src, tgt         *sideSQL
	warnings         []string
	// keepOthers: the target has columns the check does not compare
	// (excluded, or target-only); repairs must not reset them, so they use
	// INSERT ... ON DUPLICATE KEY UPDATE instead of REPLACE.
	keepOthers bool
}

// newPair matches a source and a target definition. Columns excluded or
// generated are left out; every other source column must exist on the
// target, and the key's columns must sort alike on both sides.
func newPair(o *Options, src, tgt *tableDef, f features) (*pair, error) {
	p := &pair{srcName: src.Name, tgtName: tgt.Name}
	var compared []string
	for _, c := range src.Columns {
		if c.Generated || excludedColumn(o.ExcludeColumns, src.Name, c.Name) {
			continue
		}
		tc, ok := tgt.column(c.Name)
		if !ok {
			return nil, fmt.Errorf("column %s of %s is missing on the target %s", c.Name, src.Name, tgt.Name)
		}
		if tc.Generated {
			return nil, fmt.Errorf("column %s is generated on the target %s but not on the source", c.Name, tgt.Name)
		}
		compared = append(compared, c.Name)
		p.cols = append(p.cols, c)
	}
	if len(compared) == 0 {
		return nil, fmt.Errorf("no column of %s is left to compare", src.Name)
	}
	for _, c := range tgt.Columns {
		if c.Generated {
			continue
		}
		if !containsFold(compared, c.Name) {
			p.keepOthers = true
		}
		if _, ok := src.column(c.Name); !ok {
			p.warnings = append(p.warnings, fmt.Sprintf("column %s exists only on the target; it is not compared", c.Name))
		}
	}
	if src.Key != nil {
		for _, k := range src.Key {
			if excludedColumn(o.ExcludeColumns, src.Name, k) {
				return nil, fmt.Errorf("key column %s of %s cannot be excluded", k, src.Name)
			}
			sc, _ := src.column(k)
			tc, ok := tgt.column(k)
			if !ok {
				return nil, fmt.Errorf("key column %s of %s is missing on the target %s", k, src.Name, tgt.Name)
			}
			if !strings.EqualFold(sc.Collation, tc.Collation) {
				return nil, fmt.Errorf("key column %s sorts by %s on the source and by %s on the target; chunks would not line up",
					k, sc.Collation, tc.Collation)
			}
		}
		p.key = src.Key
		kc, _ := src.column(src.Key[0])
		p.intKey = len(src.Key) == 1 && isInteger(kc.DataType)
	} else {
		p.warnings = append(p.warnings, "no primary key or unique key over NOT NULL columns: compared as a whole table, and not repaired")
	}
	// The target walks the source's key; its own index of those columns
	// (same name or not) is the one FORCE INDEX should name.
	tdef := *tgt
	tdef.KeyIndex = matchingIndex(tgt, p.key)
	unsized := unsizedColumn(p.cols)
	p.src = newSideSQL(src, compared, p.key, f, unsized)
	p.tgt = newSideSQL(&tdef, compared, p.key, f, unsized)
	return p, nil
}

// matchingIndex returns the target's unique index over exactly key, or ""
// (no FORCE INDEX) when it has none.
func matchingIndex(tgt *tableDef, key []string) string {
	if len(key) == 0 {
		return ""
	}
	if len(tgt.Key) == len(key) {
		same := true
		for i := range key {
			if !strings.EqualFold(tgt.Key[i], key[i]) {
				same = false
			}
		}
		if same {
			return tgt.KeyIndex
		}
	}
	return ""
}

func (p *pair) newReport() *TableReport {
	t := &TableReport{Source: p.srcName.String(), Target: p.tgtName.String(), KeyColumns: p.key, Keyless: p.key == nil}
	for _, c := range p.cols {
		t.Columns = append(t.Columns, c.Name)
		t.binary = append(t.binary, c.isBinaryString() || c.isGeometry())
	}
	for i := range p.key {
		t.keyBinary = append(t.keyBinary, p.src.keyBinary[i])
	}
	t.Warnings = append(t.Warnings, p.warnings...)
	return t
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
