package schema

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
)

func pos(offset uint64) change.Position {
	return change.Position{File: "binlog.000007", Offset: offset}
}

// newTestHistory returns a MariaDB history whose warnings the test can read.
func newTestHistory(t testing.TB, opts Options) (*History, *warnCounter) {
	t.Helper()
	w := &warnCounter{}
	if opts.Name == "" {
		opts.Name = "test"
	}
	if opts.Flavor == 0 {
		opts.Flavor = change.MariaDB
	}
	opts.Logger = slog.New(w)
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h, w
}

func mustDDL(t testing.TB, h *History, at uint64, schema, q string) Applied {
	t.Helper()
	res, err := h.ApplyDDL(context.Background(), DDL{Schema: schema, SQL: q, Pos: pos(at)})
	if err != nil {
		t.Fatalf("apply %q: %v", q, err)
	}
	return res
}

// usersMap is the TABLE_MAP MariaDB writes for
// CREATE TABLE shop.users (id int unsigned PRIMARY KEY, name varchar(20), status enum('a','b'))
// with utf8mb4_general_ci, optionally with full metadata.
func usersMap(full bool) *binlog.TableMap {
	tm := &binlog.TableMap{
		TableID: 42, Schema: "shop", Table: "users",
		Types:    []byte{btLong, btVarchar, btString},
		Meta:     []uint16{0, 80, uint16(btEnum)<<8 | 1},
		Nullable: []bool{false, true, true},
	}
	if full {
		tm.Unsigned = []bool{true, false, false}
		tm.Collations = []uint16{0, 45, 45}
		tm.Names = []string{"id", "name", "status"}
		tm.EnumValues = [][]string{nil, nil, {"a", "b"}}
		tm.PrimaryKey = []int{0}
		tm.HasMetadata = true
	}
	return tm
}

const usersDDL = "CREATE TABLE users (id int unsigned PRIMARY KEY, name varchar(20), status enum('a','b')) DEFAULT CHARSET=utf8mb4"

func TestResolveTableUsesHistoryAndEvent(t *testing.T) {
	h, warns := newTestHistory(t, Options{})
	mustDDL(t, h, 100, "shop", usersDDL)
	for _, full := range []bool{false, true} {
		tbl, err := h.ResolveTable(usersMap(full), pos(200))
		if err != nil {
			t.Fatal(err)
		}
		if got := columnList(tbl.Columns); got != "id,name,status" {
			t.Errorf("full=%v: columns %s", full, got)
		}
		if !tbl.Columns[0].Unsigned || tbl.Columns[1].Charset != "utf8mb4" || tbl.Columns[1].Collation != "utf8mb4_general_ci" {
			t.Errorf("full=%v: %+v", full, tbl.Columns)
		}
		if len(tbl.PrimaryKey) != 1 || tbl.PrimaryKey[0] != 0 {
			t.Errorf("full=%v: primary key %v", full, tbl.PrimaryKey)
		}
	}
	if w := warns.take(); len(w) > 0 {
		t.Errorf("warnings for agreeing metadata: %q", w)
	}
}

func TestResolveTableColumnCountMismatch(t *testing.T) {
	h, _ := newTestHistory(t, Options{})
	mustDDL(t, h, 100, "shop", usersDDL)
	// The source added a column the history never saw.
	tm := usersMap(false)
	tm.Types = append(tm.Types, btLong)
	tm.Meta = append(tm.Meta, 0)
	tm.Nullable = append(tm.Nullable, true)
	_, err := h.ResolveTable(tm, pos(300))
	if err == nil {
		t.Fatal("a TABLE_MAP with 4 columns resolved against a 3-column history")
	}
	for _, want := range []string{"shop.users", "binlog.000007:300", "4 columns", "history has 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestResolveTableUnknownTable(t *testing.T) {
	h, warns := newTestHistory(t, Options{})
	_, err := h.ResolveTable(usersMap(false), pos(300))
	if err == nil {
		t.Fatal("an unknown table without column names resolved")
	}
	for _, want := range []string{"shop.users", "unknown", "binlog.000007:300", "bootstrap"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// With full metadata the event is enough to build the table.
	tbl, err := h.ResolveTable(usersMap(true), pos(400))
	if err != nil {
		t.Fatal(err)
	}
	want := []change.Column{
		{Name: "id", Type: change.TypeInt, SQLType: "int(10) unsigned", Unsigned: true},
		{Name: "name", Type: change.TypeVarChar, SQLType: "varchar(20)", Nullable: true, Charset: "utf8mb4", Collation: "utf8mb4_general_ci", Length: 20},
		{Name: "status", Type: change.TypeEnum, SQLType: "enum('a','b')", Nullable: true, Charset: "utf8mb4", Collation: "utf8mb4_general_ci", Elems: []string{"a", "b"}},
	}
	for i := range want {
		if got := tbl.Columns[i]; !sameColumn(got, want[i]) {
			t.Errorf("column %d: %+v, want %+v", i, got, want[i])
		}
	}
	if len(tbl.PrimaryKey) != 1 || tbl.PrimaryKey[0] != 0 {
		t.Errorf("primary key %v", tbl.PrimaryKey)
	}
	if w := warns.take(); len(w) != 1 || !strings.Contains(w[0], "built from the TABLE_MAP") {
		t.Errorf("warnings %q", w)
	}
	// It is recorded: the next minimal TABLE_MAP resolves without names.
	if _, err := h.ResolveTable(usersMap(false), pos(500)); err != nil {
		t.Fatal(err)
	}
	if n := len(h.pending); n != 1 {
		t.Errorf("%d pending versions, want the one built from the TABLE_MAP", n)
	}
}

func sameColumn(a, b change.Column) bool {
	return a.Name == b.Name && a.Type == b.Type && a.SQLType == b.SQLType && a.Unsigned == b.Unsigned &&
		a.Nullable == b.Nullable && a.Charset == b.Charset && a.Collation == b.Collation && a.Length == b.Length &&
		strings.Join(a.Elems, ",") == strings.Join(b.Elems, ",")
}

func TestResolveTableNamesFromFullMetadataWin(t *testing.T) {
	h, warns := newTestHistory(t, Options{})
	mustDDL(t, h, 100, "shop", usersDDL)
	// The source renamed name -> full_name in a statement the history missed.
	tm := usersMap(true)
	tm.Names = []string{"id", "full_name", "status"}
	tbl, err := h.ResolveTable(tm, pos(300))
	if err != nil {
		t.Fatal(err)
	}
	if got := columnList(tbl.Columns); got != "id,full_name,status" {
		t.Errorf("columns %s", got)
	}
	w := warns.take()
	if len(w) != 1 || !strings.Contains(w[0], "differ") || !strings.Contains(w[0], "shop.users") {
		t.Errorf("warnings %q", w)
	}
	// Once: the same TABLE_MAP again warns no more, and the correction is a
	// version of the history.
	if _, err := h.ResolveTable(tm, pos(400)); err != nil {
		t.Fatal(err)
	}
	if w := warns.take(); len(w) != 0 {
		t.Errorf("warned again: %q", w)
	}
	if got, _ := h.Table("shop", "users"); columnList(got.Columns) != "id,full_name,status" {
		t.Errorf("history not corrected: %s", columnList(got.Columns))
	}
}

func TestResolveTableTypeMismatch(t *testing.T) {
	h, _ := newTestHistory(t, Options{})
	mustDDL(t, h, 100, "shop", usersDDL)
	tm := usersMap(false)
	tm.Types[0] = btVarchar // the history says INT, the event VARCHAR
	_, err := h.ResolveTable(tm, pos(300))
	if err == nil {
		t.Fatal("VARCHAR data resolved against an INT column")
	}
	for _, want := range []string{"shop.users", "binlog.000007:300", "id", "int(10) unsigned", "VARCHAR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestResolveTableAtPositions(t *testing.T) {
	h, _ := newTestHistory(t, Options{})
	mustDDL(t, h, 100, "shop", "CREATE TABLE t (a int)")
	mustDDL(t, h, 200, "shop", "ALTER TABLE t ADD COLUMN b varchar(3)")
	mustDDL(t, h, 300, "shop", "ALTER TABLE t DROP COLUMN a, ADD c bigint FIRST")
	mustDDL(t, h, 400, "shop", "DROP TABLE t")
	mustDDL(t, h, 500, "shop", "CREATE TABLE t (z date)")
	type layout struct {
		types []byte
		cols  string
	}
	v1 := layout{[]byte{btLong}, "a"}
	v2 := layout{[]byte{btLong, btVarchar}, "a,b"}
	v3 := layout{[]byte{btLongLong, btVarchar}, "c,b"}
	v5 := layout{[]byte{btDate}, "z"}
	cases := []struct {
		at   uint64
		want *layout
	}{
		{100, &v1}, {150, &v1}, {200, &v2}, {299, &v2}, {300, &v3}, {350, &v3}, {400, nil}, {450, nil}, {500, &v5}, {9999, &v5},
	}
	// Ask out of order: newest first, then back in time, then forward.
	for _, order := range [][]int{{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {5, 0, 9, 2, 7}} {
		for _, i := range order {
			c := cases[i]
			if c.want == nil {
				if _, ok := h.TableAt("shop", "t", pos(c.at)); ok {
					t.Errorf("at %d: table exists, want dropped", c.at)
				}
				continue
			}
			n := len(c.want.types)
			tm := &binlog.TableMap{Schema: "shop", Table: "t", Types: c.want.types, Meta: make([]uint16, n), Nullable: make([]bool, n)}
			for j := range tm.Nullable {
				tm.Nullable[j] = true
			}
			if c.want.types[len(c.want.types)-1] == btVarchar {
				tm.Meta[n-1] = 3
			}
			tbl, err := h.ResolveTable(tm, pos(c.at))
			if err != nil {
				t.Errorf("at %d: %v", c.at, err)
				continue
			}
			if got := columnList(tbl.Columns); got != c.want.cols {
				t.Errorf("at %d: columns %s, want %s", c.at, got, c.want.cols)
			}
		}
	}
	// Before the table existed.
	tm := &binlog.TableMap{Schema: "shop", Table: "t", Types: []byte{btLong}, Meta: []uint16{0}, Nullable: []bool{true}}
	if _, err := h.ResolveTable(tm, pos(50)); err == nil || !strings.Contains(err.Error(), "binlog.000007:50") {
		t.Errorf("before creation: %v", err)
	}
}

func TestResolveTableAfterFailoverByGTID(t *testing.T) {
	// A MariaDB failover: the new server's binlog files sort before the old
	// ones, but GTIDs order the positions.
	h, _ := newTestHistory(t, Options{})
	old := change.Position{File: "binlog.000120", Offset: 100, GTID: "0-1-50"}
	if _, err := h.ApplyDDL(context.Background(), DDL{Schema: "d", SQL: "CREATE TABLE t (a int)", Pos: old}); err != nil {
		t.Fatal(err)
	}
	newer := change.Position{File: "binlog.000003", Offset: 400, GTID: "0-2-60"}
	tm := &binlog.TableMap{Schema: "d", Table: "t", Types: []byte{btLong}, Meta: []uint16{0}, Nullable: []bool{true}}
	if _, err := h.ResolveTable(tm, newer); err != nil {
		t.Fatalf("after failover: %v", err)
	}
	older := change.Position{File: "binlog.000003", Offset: 300, GTID: "0-1-40"}
	if _, err := h.ResolveTable(tm, older); err == nil {
		t.Fatal("a position before the table's creation resolved")
	}
}

// BenchmarkResolveTable is the decoder's steady state: the same TABLE_MAP
// before every rows event of a table the history knows.
func BenchmarkResolveTable(b *testing.B) {
	h, _ := newTestHistory(b, Options{})
	mustDDL(b, h, 100, "shop", usersDDL)
	mustDDL(b, h, 110, "shop", "CREATE TABLE orders (id bigint PRIMARY KEY, user_id int, total decimal(10,2), note text, at datetime(3))")
	for _, full := range []bool{false, true} {
		name := "minimal"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			tm := usersMap(full)
			p := pos(1000)
			if _, err := h.ResolveTable(tm, p); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Offset = uint64(1000 + i)
				if _, err := h.ResolveTable(tm, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
