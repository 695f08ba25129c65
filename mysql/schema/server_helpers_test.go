package schema

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
)

// The tests compare the history's definitions with what a real server
// reports about the same tables: information_schema.COLUMNS and STATISTICS,
// and SHOW CREATE TABLE parsed afresh. These helpers read the server side.

// serverTable is a table as information_schema describes it.
type serverTable struct {
	table   change.Table
	extra   []string // EXTRA per column
	indexes []indexDef
}

var dataTypes = map[string]change.ColumnType{
	"tinyint": change.TypeTinyInt, "smallint": change.TypeSmallInt, "mediumint": change.TypeMediumInt,
	"int": change.TypeInt, "bigint": change.TypeBigInt, "decimal": change.TypeDecimal,
	"float": change.TypeFloat, "double": change.TypeDouble, "bit": change.TypeBit, "year": change.TypeYear,
	"date": change.TypeDate, "time": change.TypeTime, "datetime": change.TypeDateTime,
	"timestamp": change.TypeTimestamp, "char": change.TypeChar, "varchar": change.TypeVarChar,
	"binary": change.TypeBinary, "varbinary": change.TypeVarBinary,
	"tinytext": change.TypeText, "text": change.TypeText, "mediumtext": change.TypeText, "longtext": change.TypeText,
	"tinyblob": change.TypeBlob, "blob": change.TypeBlob, "mediumblob": change.TypeBlob, "longblob": change.TypeBlob,
	"enum": change.TypeEnum, "set": change.TypeSet, "json": change.TypeJSON,
	"geometry": change.TypeGeometry, "point": change.TypeGeometry, "linestring": change.TypeGeometry,
	"polygon": change.TypeGeometry, "multipoint": change.TypeGeometry, "multilinestring": change.TypeGeometry,
	"multipolygon": change.TypeGeometry, "geometrycollection": change.TypeGeometry,
	"uuid": change.TypeBinary, "inet6": change.TypeBinary, "inet4": change.TypeBinary,
}

// readServerTable reads one table's columns and indexes from
// information_schema.
func readServerTable(ctx context.Context, db *sql.DB, schema, name string) (*serverTable, error) {
	st := &serverTable{table: change.Table{Schema: schema, Name: name}}
	if err := db.QueryRowContext(ctx, "SELECT c.CHARACTER_SET_NAME, t.TABLE_COLLATION FROM information_schema.TABLES t "+
		"JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY c ON c.FULL_COLLATION_NAME = t.TABLE_COLLATION "+
		"WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?", schema, name).Scan(&st.table.Charset, &st.table.Collation); err != nil {
		return nil, fmt.Errorf("read table %s.%s: %w", schema, name, err)
	}
	rows, err := db.QueryContext(ctx, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME, "+
		"CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, COLUMN_DEFAULT, EXTRA "+
		"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c change.Column
		var dataType, nullable, extra string
		var cs, co, def sql.NullString
		var maxLen, prec, scale, dtPrec sql.NullInt64
		if err := rows.Scan(&c.Name, &dataType, &c.SQLType, &nullable, &cs, &co, &maxLen, &prec, &scale, &dtPrec, &def, &extra); err != nil {
			return nil, err
		}
		t, ok := dataTypes[dataType]
		if !ok {
			return nil, fmt.Errorf("column %s: unknown DATA_TYPE %q", c.Name, dataType)
		}
		c.Type = t
		c.Unsigned = strings.Contains(c.SQLType, "unsigned")
		c.Nullable = nullable == "YES"
		c.Charset, c.Collation = cs.String, co.String
		switch t {
		case change.TypeBinary, change.TypeVarBinary, change.TypeBlob:
			c.Charset, c.Collation = "binary", "binary"
		}
		switch dataType {
		case "uuid", "inet6":
			c.Length = 16 // fixed binary strings; the server reports no length
		case "inet4":
			c.Length = 4
		}
		switch t {
		case change.TypeChar, change.TypeVarChar, change.TypeBinary, change.TypeVarBinary:
			if maxLen.Valid {
				c.Length = int(maxLen.Int64)
			}
		case change.TypeBit:
			c.Length = int(prec.Int64)
		case change.TypeDecimal:
			c.Precision, c.Scale = int(prec.Int64), int(scale.Int64)
		case change.TypeTime, change.TypeDateTime, change.TypeTimestamp:
			c.Scale = int(dtPrec.Int64)
		case change.TypeEnum, change.TypeSet:
			c.Elems = parseElems(c.SQLType)
		}
		if def.Valid {
			d := def.String
			c.Default = &d
		}
		c.Generated = strings.Contains(extra, "GENERATED")
		c.Invisible = strings.Contains(extra, "INVISIBLE")
		st.table.Columns = append(st.table.Columns, c)
		st.extra = append(st.extra, extra)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	irows, err := db.QueryContext(ctx, "SELECT INDEX_NAME, NON_UNIQUE, INDEX_TYPE, COLUMN_NAME FROM information_schema.STATISTICS "+
		"WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX", schema, name)
	if err != nil {
		return nil, err
	}
	defer irows.Close()
	for irows.Next() {
		var ixName, ixType string
		var nonUnique int
		var col sql.NullString
		if err := irows.Scan(&ixName, &nonUnique, &ixType, &col); err != nil {
			return nil, err
		}
		if n := len(st.indexes); n == 0 || st.indexes[n-1].Name != ixName {
			kind := indexPlain
			switch {
			case ixName == "PRIMARY":
				kind = indexPrimary
			case nonUnique == 0:
				kind = indexUnique
			case ixType == "FULLTEXT":
				kind = indexFulltext
			case ixType == "SPATIAL":
				kind = indexSpatial
			}
			st.indexes = append(st.indexes, indexDef{Name: ixName, Kind: kind})
		}
		st.indexes[len(st.indexes)-1].Columns = append(st.indexes[len(st.indexes)-1].Columns, col.String)
	}
	return st, irows.Err()
}

// parseElems reads the members of enum('a','b') / set(...).
func parseElems(sqlType string) []string {
	open := strings.IndexByte(sqlType, '(')
	if open < 0 {
		return nil
	}
	s := sqlType[open+1 : strings.LastIndexByte(sqlType, ')')]
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		var b strings.Builder
		for i++; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		out = append(out, b.String())
	}
	return out
}

// serverTableNames lists the base tables of a database.
func serverTableNames(ctx context.Context, db *sql.DB, schema string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? "+
		"AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE') ORDER BY TABLE_NAME", schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// diffWithServer lists the differences between the history's definition
// of a table and the server's.
func diffWithServer(d *tableDef, s *serverTable) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	h := &d.Table
	if h.Charset != s.table.Charset || h.Collation != s.table.Collation {
		add("table charset %s/%s, server %s/%s", h.Charset, h.Collation, s.table.Charset, s.table.Collation)
	}
	// MariaDB's hidden system-versioning columns are in the binlog but not in
	// information_schema.
	var cols []change.Column
	for _, c := range h.Columns {
		hiddenSystem := c.Invisible && (strings.EqualFold(c.Name, d.RowStart) || strings.EqualFold(c.Name, d.RowEnd)) &&
			s.table.ColumnIndex(c.Name) < 0
		if !hiddenSystem {
			cols = append(cols, c)
		}
	}
	if len(cols) != len(s.table.Columns) {
		add("columns %s, server %s", columnList(cols), columnList(s.table.Columns))
		return diffs
	}
	for i := range cols {
		hc, sc := cols[i], s.table.Columns[i]
		if hc.Name != sc.Name {
			add("column %d name %s, server %s", i, hc.Name, sc.Name)
		}
		if hc.Type != sc.Type {
			add("column %s type %s, server %s", hc.Name, hc.Type, sc.Type)
		}
		if hc.SQLType != sc.SQLType {
			add("column %s sql type %q, server %q", hc.Name, hc.SQLType, sc.SQLType)
		}
		if hc.Unsigned != sc.Unsigned {
			add("column %s unsigned %v, server %v", hc.Name, hc.Unsigned, sc.Unsigned)
		}
		if hc.Nullable != sc.Nullable {
			add("column %s nullable %v, server %v", hc.Name, hc.Nullable, sc.Nullable)
		}
		if hc.Charset != sc.Charset || hc.Collation != sc.Collation {
			add("column %s charset %s/%s, server %s/%s", hc.Name, hc.Charset, hc.Collation, sc.Charset, sc.Collation)
		}
		if hc.Length != sc.Length && sc.Type != change.TypeGeometry {
			add("column %s length %d, server %d", hc.Name, hc.Length, sc.Length)
		}
		if hc.Precision != sc.Precision || hc.Scale != sc.Scale {
			add("column %s precision %d,%d, server %d,%d", hc.Name, hc.Precision, hc.Scale, sc.Precision, sc.Scale)
		}
		if !slices.Equal(hc.Elems, sc.Elems) {
			add("column %s members %q, server %q", hc.Name, hc.Elems, sc.Elems)
		}
		if hc.Generated != sc.Generated {
			add("column %s generated %v, server %v (%s)", hc.Name, hc.Generated, sc.Generated, s.extra[i])
		}
		if hc.Invisible != sc.Invisible {
			add("column %s invisible %v, server %v", hc.Name, hc.Invisible, sc.Invisible)
		}
		if !sameDefault(hc.Default, sc.Default) {
			add("column %s default %s, server %s", hc.Name, strPtr(hc.Default), strPtr(sc.Default))
		}
	}
	// Keys: the history's indexes against the server's, by name.
	want := map[string]indexDef{}
	for _, ix := range s.indexes {
		want[strings.ToLower(ix.Name)] = ix
	}
	got := map[string]indexDef{}
	for _, ix := range d.Indexes {
		got[strings.ToLower(ix.Name)] = ix
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			add("index %s %v missing", w.Name, w.Columns)
		case !sameIndexKind(g.Kind, w.Kind) || !equalFold(g.Columns, w.Columns):
			add("index %s is %s %v, server %s %v", w.Name, g.Kind, g.Columns, w.Kind, w.Columns)
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			add("index %s %v not on the server", g.Name, g.Columns)
		}
	}
	// And the derived keys of change.Table, checked from the server's view.
	var wantPK []int
	if p, ok := want["primary"]; ok {
		for _, c := range p.Columns {
			wantPK = append(wantPK, s.table.ColumnIndex(c))
		}
	}
	if !slices.Equal(h.PrimaryKey, wantPK) {
		add("primary key %v, server %v", h.PrimaryKey, wantPK)
	}
	nUnique := 0
	for _, ix := range s.indexes {
		if ix.Kind == indexUnique {
			nUnique++
		}
	}
	if len(h.UniqueKeys) != nUnique {
		add("%d unique keys, server %d", len(h.UniqueKeys), nUnique)
	}
	return diffs
}

func sameIndexKind(a, b indexKind) bool {
	if a == b {
		return true
	}
	// SPATIAL is rewritten to a plain KEY for the parser; keys identify rows
	// only when unique, so the two are the same to the history.
	return (a == indexPlain || a == indexSpatial) && (b == indexPlain || b == indexSpatial)
}

func equalFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameDefault(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	norm := func(s string) string {
		s = strings.ToLower(strings.Join(strings.Fields(s), ""))
		for len(s) > 1 && s[0] == '(' && s[len(s)-1] == ')' {
			s = s[1 : len(s)-1]
		}
		return s
	}
	return norm(*a) == norm(*b)
}

func strPtr(p *string) string {
	if p == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", *p)
}

// assertMatchesServer compares every table of schema in the history with
// the server: information_schema, and a fresh parse of SHOW CREATE TABLE.
func assertMatchesServer(t *testing.T, ctx context.Context, h *History, db *sql.DB, schema, step string) {
	t.Helper()
	names, err := serverTableNames(ctx, db, schema)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	have := map[string]bool{}
	for k := range h.tables {
		if k.schema == schema && h.current(k) != nil {
			have[k.name] = true
		}
	}
	for _, n := range names {
		d := h.current(tableKey{schema, n})
		if d == nil {
			t.Errorf("%s: table %s.%s is on the server but not in the history", step, schema, n)
			continue
		}
		delete(have, n)
		st, err := readServerTable(ctx, db, schema, n)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for _, diff := range diffWithServer(d, st) {
			t.Errorf("%s: %s.%s: %s", step, schema, n, diff)
		}
		fresh, err := h.showCreate(ctx, db, schema, n)
		if err != nil {
			t.Fatalf("%s: parse SHOW CREATE TABLE %s.%s: %v", step, schema, n, err)
		}
		for _, diff := range diffDefs(d, fresh) {
			t.Errorf("%s: %s.%s against SHOW CREATE TABLE: %s", step, schema, n, diff)
		}
	}
	for n := range have {
		t.Errorf("%s: table %s.%s is in the history but not on the server", step, schema, n)
	}
}

// diffDefs compares two definitions of the same table field by field.
func diffDefs(a, b *tableDef) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if a.Table.Charset != b.Table.Charset || a.Table.Collation != b.Table.Collation {
		add("table charset %s/%s vs %s/%s", a.Table.Charset, a.Table.Collation, b.Table.Charset, b.Table.Collation)
	}
	if len(a.Table.Columns) != len(b.Table.Columns) {
		add("columns %s vs %s", columnList(a.Table.Columns), columnList(b.Table.Columns))
		return diffs
	}
	for i := range a.Table.Columns {
		x, y := a.Table.Columns[i], b.Table.Columns[i]
		if !sameDefault(x.Default, y.Default) {
			add("column %s default %s vs %s", x.Name, strPtr(x.Default), strPtr(y.Default))
		}
		x.Default, y.Default = nil, nil
		if fmt.Sprintf("%+v", x) != fmt.Sprintf("%+v", y) {
			add("column %d: %+v vs %+v", i, x, y)
		}
	}
	if !slices.Equal(a.Table.PrimaryKey, b.Table.PrimaryKey) {
		add("primary key %v vs %v", a.Table.PrimaryKey, b.Table.PrimaryKey)
	}
	if fmt.Sprint(a.Table.UniqueKeys) != fmt.Sprint(b.Table.UniqueKeys) {
		add("unique keys %v vs %v", a.Table.UniqueKeys, b.Table.UniqueKeys)
	}
	if a.RowStart != b.RowStart || a.RowEnd != b.RowEnd {
		add("system versioning %s/%s vs %s/%s", a.RowStart, a.RowEnd, b.RowStart, b.RowEnd)
	}
	return diffs
}
