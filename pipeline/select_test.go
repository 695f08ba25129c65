package pipeline

import (
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
)

func TestSelectionMatchAndNames(t *testing.T) {
	sel := &Selection{
		Rules: []TableRule{
			{Source: "shop.*", Target: "shop_copy.*"},
			{Source: "logs.ev_*", Target: "archive.event_*"},
			{Source: "crm.users"},
		},
		Exclude: []string{"shop.tmp_*"},
		Ops:     AllOps(),
	}
	if err := sel.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		schema, table string
		want          string // "" = not selected
	}{
		{"shop", "orders", "shop_copy.orders"},
		{"shop", "tmp_x", ""},
		{"logs", "ev_click", "archive.event_click"},
		{"logs", "other", ""},
		{"crm", "users", "crm.users"},
		{"crm", "accounts", ""},
		{"shopx", "orders", ""},
	}
	for _, c := range cases {
		r := sel.Match(c.schema, c.table)
		got := ""
		if r != nil {
			s, tb := r.TargetName(c.schema, c.table)
			got = s + "." + tb
		}
		if got != c.want {
			t.Errorf("%s.%s -> %q, want %q", c.schema, c.table, got, c.want)
		}
	}
}

func TestSelectionValidate(t *testing.T) {
	bad := []Selection{
		{},
		{Rules: []TableRule{{Source: "noschema"}}},
		{Rules: []TableRule{{Source: "a.b.c"}}},
		{Rules: []TableRule{{Source: "a.[b"}}},
		{Rules: []TableRule{{Source: "a.b", Target: "x"}}},
		{Rules: []TableRule{{Source: "a.b", Columns: []string{"x"}, ExcludeColumns: []string{"y"}}}},
		{Rules: []TableRule{{Source: "a.b"}}, Exclude: []string{"bad"}},
	}
	for i, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("case %d: want an error for %+v", i, s)
		}
	}
	if _, err := ParseOps([]string{"insert", "truncate"}); err == nil {
		t.Error("unknown op must fail")
	}
}

func testTable() *change.Table {
	return &change.Table{Schema: "shop", Name: "users",
		Columns: []change.Column{
			{Name: "id", Type: change.TypeBigInt},
			{Name: "email", Type: change.TypeVarChar},
			{Name: "secret", Type: change.TypeVarChar},
			{Name: "n", Type: change.TypeInt},
		},
		PrimaryKey: []int{0},
		UniqueKeys: [][]int{{1}, {2}},
	}
}

func TestMappingColumns(t *testing.T) {
	sel := &Selection{Rules: []TableRule{{Source: "shop.users", Target: "copy.people",
		ExcludeColumns: []string{"secret"}, RenameColumns: map[string]string{"n": "visits"}}}}
	m := NewMapper(sel)
	tbl := testTable()
	mp, err := m.Map(tbl)
	if err != nil || mp == nil {
		t.Fatalf("map: %v %v", mp, err)
	}
	tg := mp.Target
	var names []string
	for _, c := range tg.Columns {
		names = append(names, c.Name)
	}
	if tg.Schema != "copy" || tg.Name != "people" || strings.Join(names, ",") != "id,email,visits" {
		t.Fatalf("target %s.%s columns %v", tg.Schema, tg.Name, names)
	}
	if len(tg.PrimaryKey) != 1 || tg.PrimaryKey[0] != 0 || len(tg.UniqueKeys) != 1 || tg.UniqueKeys[0][0] != 1 {
		t.Fatalf("keys %v %v: the unique key on the excluded column must go", tg.PrimaryKey, tg.UniqueKeys)
	}
	c := mp.Apply(change.RowChange{Table: tbl, Op: change.Insert,
		After: change.Row{change.Int(1), change.String([]byte("a@x")), change.String([]byte("pw")), change.Int(3)}})
	if c.Table != tg || len(c.After) != 3 || c.After[2].I != 3 || string(c.After[1].B) != "a@x" {
		t.Fatalf("projected change %+v", c)
	}
	if mp2, _ := m.Map(tbl); mp2 != mp {
		t.Error("mapping must be cached per table definition")
	}

	if _, err := NewMapper(&Selection{Rules: []TableRule{{Source: "shop.users", Columns: []string{"nope"}}}}).Map(tbl); err == nil ||
		!strings.Contains(err.Error(), "shop.users") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown column: want an error naming table and column, got %v", err)
	}
	if mp, err := NewMapper(&Selection{Rules: []TableRule{{Source: "crm.*"}}}).Map(tbl); mp != nil || err != nil {
		t.Fatalf("unselected table: got %v %v", mp, err)
	}
}

func TestMapDDL(t *testing.T) {
	sel := &Selection{Rules: []TableRule{
		{Source: "shop.*", Target: "shop_copy.*"},
		{Source: "crm.*"},
		{Source: "hr.people", ExcludeColumns: []string{"salary"}},
	}}
	m := NewMapper(sel)
	cases := []struct {
		name     string
		ddl      change.DDL
		apply    bool
		contains []string // in the mapped statement
		schema   string
		err      string
	}{
		{name: "rename schema", ddl: change.DDL{Schema: "shop", Statement: "ALTER TABLE users ADD COLUMN age INT"},
			apply: true, contains: []string{"`shop_copy`.`users`", "ADD COLUMN `age` INT"}},
		{name: "qualified create", ddl: change.DDL{Schema: "other", Statement: "CREATE TABLE shop.t (id INT PRIMARY KEY)"},
			apply: true, contains: []string{"CREATE TABLE `shop_copy`.`t`"}},
		{name: "identity passes text through", ddl: change.DDL{Schema: "crm", Statement: "alter table accounts add key k (a)"},
			apply: true, contains: []string{"alter table accounts add key k (a)"}, schema: "crm"},
		{name: "unselected", ddl: change.DDL{Schema: "blog", Statement: "DROP TABLE posts"}},
		{name: "not a table", ddl: change.DDL{Schema: "shop", Statement: "CREATE USER bob IDENTIFIED BY 'x'"}},
		{name: "column rules skip", ddl: change.DDL{Schema: "hr", Statement: "ALTER TABLE people ADD x INT"}},
		{name: "rename across selection", ddl: change.DDL{Schema: "shop", Statement: "RENAME TABLE shop.a TO blog.a"},
			err: "apply it to the target by hand"},
		{name: "rename within", ddl: change.DDL{Statement: "RENAME TABLE shop.a TO shop.b, crm.x TO crm.y"},
			apply: true, contains: []string{"`shop_copy`.`a` TO `shop_copy`.`b`", "`crm`.`x` TO `crm`.`y`"}},
		{name: "database", ddl: change.DDL{Statement: "CREATE DATABASE shop"}, apply: true, contains: []string{"CREATE DATABASE `shop_copy`"}},
		{name: "other database", ddl: change.DDL{Statement: "DROP DATABASE blog"}},
		{name: "fk reference outside is kept", ddl: change.DDL{Schema: "crm", Statement: "CREATE TABLE orders (id INT, uid INT, FOREIGN KEY (uid) REFERENCES blog.users(id))"},
			apply: true, contains: []string{"CREATE TABLE orders"}, schema: "crm"},
		{name: "unparsable in identity schema passes", ddl: change.DDL{Schema: "crm", Statement: "ALTER TABLE t WITH SYSTEM VERSIONING xyz"},
			apply: true, contains: []string{"WITH SYSTEM VERSIONING"}, schema: "crm"},
		{name: "unparsable in renamed schema pauses", ddl: change.DDL{Schema: "shop", Statement: "ALTER TABLE t WITH SYSTEM VERSIONING xyz"},
			err: "cannot be parsed"},
		{name: "geometry passes through", ddl: change.DDL{Schema: "crm", Statement: "CREATE TABLE places (id INT PRIMARY KEY, g GEOMETRY NOT NULL, SPATIAL KEY (g))"},
			apply: true, contains: []string{"SPATIAL KEY"}, schema: "crm"},
		{name: "truncate", ddl: change.DDL{Schema: "crm", Statement: "TRUNCATE TABLE accounts"}, apply: true, contains: []string{"TRUNCATE"}, schema: "crm"},
		{name: "truncate other", ddl: change.DDL{Schema: "blog", Statement: "TRUNCATE TABLE posts"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := m.MapDDL(c.ddl, change.MariaDB)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("want error containing %q, got %v (%+v)", c.err, err, d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (d.Action == DDLApply) != c.apply {
				t.Fatalf("action %v (reason %q), want apply=%v", d.Action, d.Reason, c.apply)
			}
			for _, s := range c.contains {
				if !strings.Contains(d.DDL.Statement, s) {
					t.Errorf("statement %q lacks %q", d.DDL.Statement, s)
				}
			}
			if c.apply && d.DDL.Schema != c.schema {
				t.Errorf("schema %q, want %q", d.DDL.Schema, c.schema)
			}
		})
	}
}
