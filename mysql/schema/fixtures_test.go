package schema

import (
	"context"
	"github.com/sluice-db/sluice/internal/fixtures"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluice-db/sluice/change"
)

// TestResolveMySQLFixtures feeds the binlogs of real MySQL 8.0-9.6 servers
// (and one MariaDB 10.5) through a history, as capture and decode will: a
// table created in the file resolves from its DDL, with no disagreement
// with the event's metadata; a table the file never creates resolves from
// full metadata, or fails with an error naming it and the position.
func TestResolveMySQLFixtures(t *testing.T) {
	type want struct {
		resolved int
		unknown  string // the table the file never creates and cannot describe; "" if none
	}
	cases := map[string]want{
		"mysql/binlog-invisible-columns.000001":                {resolved: 3},
		"mysql/binlog_transaction_with_GTID_TAG.000001":        {unknown: "test.orders"},
		"mysql/json-opaque.binlog":                             {resolved: 8},
		"mysql/json.binlog.000001":                             {resolved: 6},
		"mysql/minimal_row_metadata.000001":                    {unknown: "noria.t1"},
		"mysql/mysql-enum-string-set.000001":                   {resolved: 3},
		"mysql/mysql_type_bit.000001":                          {resolved: 1},
		"mysql/time_issue.000001":                              {unknown: "noria.t"},
		"mysql/vector.binlog":                                  {resolved: 6},
		"mysql/binlog_transaction_previous_GTID_no_tag.000001": {},
		"mysql/transaction_compression.000001":                 {},
		"mariadb-10.5-bin.000001":                              {resolved: 2}, // full metadata, no DDL in the file
	}
	for file, w := range cases {
		t.Run(file, func(t *testing.T) {
			flavor := change.MySQL
			if strings.HasPrefix(file, "mariadb") {
				flavor = change.MariaDB
			}
			warns := &warnCounter{}
			h, err := New(Options{Name: "fixture", Flavor: flavor, Logger: slog.New(warns)})
			if err != nil {
				t.Fatal(err)
			}
			resolved := 0
			var unknown []string
			p := replication.NewBinlogParser()
			path := filepath.Join(fixtures.BinlogDir(), file)
			err = p.ParseFile(path, 0, func(e *replication.BinlogEvent) error {
				at := change.Position{File: filepath.Base(file), Offset: uint64(e.Header.LogPos)}
				switch ev := e.Event.(type) {
				case *replication.QueryEvent:
					if _, err := h.ApplyDDL(context.Background(), DDL{Schema: string(ev.Schema), SQL: string(ev.Query), Pos: at}); err != nil {
						t.Errorf("%s: %v", at, err)
					}
				case *replication.TableMapEvent:
					tm := tableMapFromEvent(ev)
					tbl, err := h.ResolveTable(tm, at)
					if err != nil {
						name := tm.Schema + "." + tm.Table
						if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), at.String()) {
							t.Errorf("error does not name %s and %s: %v", name, at, err)
						}
						unknown = append(unknown, name)
						return nil
					}
					resolved++
					checkAgainstTableMap(t, tbl, tm, at)
				}
				return nil
			})
			// The truncated file ends in a parse error; the events before it
			// still went through the history.
			if err != nil && !strings.Contains(file, "truncated") {
				t.Logf("%s: %v", file, err)
			}
			if resolved < w.resolved {
				t.Errorf("resolved %d TABLE_MAPs, want at least %d", resolved, w.resolved)
			}
			if w.unknown == "" && len(unknown) > 0 {
				t.Errorf("unresolved tables %q", unknown)
			}
			if w.unknown != "" && (len(unknown) == 0 || unknown[0] != w.unknown) {
				t.Errorf("unresolved tables %q, want %s", unknown, w.unknown)
			}
			for _, msg := range warns.take() {
				if !strings.Contains(msg, "built from the TABLE_MAP") {
					t.Errorf("warning: %s", msg)
				}
			}
		})
	}
}

// TestMySQLFixtureDefinitions checks what the history makes of MySQL 8 DDL
// from the fixtures, against what the events say.
func TestMySQLFixtureDefinitions(t *testing.T) {
	h, _ := newTestHistory(t, Options{Flavor: change.MySQL})
	mustDDL(t, h, 10, "mysql", "CREATE TABLE t1 (f1 INT UNSIGNED INVISIBLE, f2 INT UNSIGNED INVISIBLE, f3 INT , f4 TEXT, f5 BLOB, f6 BIGINT UNSIGNED INVISIBLE)")
	mustDDL(t, h, 20, "dtb", "CREATE DATABASE dtb CHARSET utf8mb4")
	mustDDL(t, h, 30, "dtb", "CREATE TABLE bar(id SERIAL, vector_column VECTOR(2) NOT NULL, foo TEXT, vector_column2 VECTOR(4) NOT NULL)")
	mustDDL(t, h, 40, "mysql", "CREATE TABLE t(id INT PRIMARY KEY AUTO_INCREMENT, json_col JSON, name VARCHAR(100) AS (json_col->>'$.name'), age INT AS (json_col->'$.age'))")
	cases := []struct {
		schema, table string
		want          []string // name type sqltype [invisible] [collation]
	}{
		{"mysql", "t1", []string{
			"f1 int int unsigned invisible", "f2 int int unsigned invisible", "f3 int int",
			"f4 text text utf8mb4_0900_ai_ci", "f5 blob blob binary", "f6 bigint bigint unsigned invisible"}},
		{"dtb", "bar", []string{"id bigint bigint unsigned", "vector_column vector vector(2)", "foo text text utf8mb4_0900_ai_ci", "vector_column2 vector vector(4)"}},
		{"mysql", "t", []string{"id int int", "json_col json json", "name varchar varchar(100) utf8mb4_0900_ai_ci generated", "age int int generated"}},
	}
	for _, c := range cases {
		tbl, ok := h.Table(c.schema, c.table)
		if !ok {
			t.Fatalf("%s.%s unknown", c.schema, c.table)
		}
		if len(tbl.Columns) != len(c.want) {
			t.Fatalf("%s.%s: columns %s", c.schema, c.table, columnList(tbl.Columns))
		}
		for i, col := range tbl.Columns {
			got := col.Name + " " + col.Type.String() + " " + col.SQLType
			if col.Invisible {
				got += " invisible"
			}
			if col.Collation != "" {
				got += " " + col.Collation
			}
			if col.Generated {
				got += " generated"
			}
			if got != c.want[i] {
				t.Errorf("%s.%s column %d: %q, want %q", c.schema, c.table, i, got, c.want[i])
			}
		}
	}
}
