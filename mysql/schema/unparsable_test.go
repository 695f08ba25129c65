package schema

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/binlog"
)

// unparsableDDL are real statements the TiDB grammar rejects even after
// normalization (MariaDB 10.7 partition conversion, Oracle-mode types).
var unparsableDDL = []string{
	"ALTER TABLE t CONVERT PARTITION p1 TO TABLE t2",
	"ALTER TABLE t CONVERT TABLE t2 TO PARTITION p2 VALUES LESS THAN (30)",
	"ALTER TABLE t ADD COLUMN d VARCHAR2(10)",
}

func TestUnparsableDDLFails(t *testing.T) {
	for _, q := range unparsableDDL {
		h, _ := newTestHistory(t, Options{})
		mustDDL(t, h, 10, "shop", "CREATE TABLE t (a int)")
		_, err := h.ApplyDDL(context.Background(), DDL{Schema: "shop", SQL: q, Pos: pos(20)})
		if err == nil {
			t.Fatalf("%q applied", q)
		}
		for _, want := range []string{"alter table", "binlog.000007:20", "parse", q} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		// Nothing changed.
		if got := columnList(mustTable(t, h, "shop", "t").Columns); got != "a" {
			t.Errorf("%q changed the table: %s", q, got)
		}
	}
}

func TestUnparsableDDLIgnored(t *testing.T) {
	h, warns := newTestHistory(t, Options{IgnoreUnparsableDDL: true})
	mustDDL(t, h, 10, "shop", "CREATE TABLE t (a int, b varchar(3))")
	res, err := h.ApplyDDL(context.Background(), DDL{Schema: "shop", SQL: "ALTER TABLE t ADD COLUMN d VARCHAR2(10)", Pos: pos(20)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Stale, ",") != "shop.t" {
		t.Fatalf("stale %q", res.Stale)
	}
	if w := warns.take(); len(w) != 1 || !strings.Contains(w[0], "VARCHAR2") {
		t.Errorf("warnings %q", w)
	}
	// A TABLE_MAP without names cannot say what the table became.
	minimal := &binlog.TableMap{Schema: "shop", Table: "t", Types: []byte{btLong, btVarchar, btVarchar},
		Meta: []uint16{0, 12, 40}, Nullable: []bool{true, true, true}}
	_, err = h.ResolveTable(minimal, pos(30))
	if err == nil {
		t.Fatal("a stale table resolved without names")
	}
	for _, want := range []string{"shop.t", "binlog.000007:30", "needs a refresh", "binlog.000007:20", "binlog_row_metadata=FULL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Full metadata refreshes it, keeping what the event cannot say about
	// the columns it still has.
	full := *minimal
	full.Names = []string{"a", "b", "d"}
	full.Collations = []uint16{0, 45, 45}
	full.Unsigned = []bool{false, false, false}
	tbl, err := h.ResolveTable(&full, pos(40))
	if err != nil {
		t.Fatal(err)
	}
	if got := tableSummary(tbl); got != "a int int(11) null; b varchar varchar(3) null utf8mb4/utf8mb4_general_ci; d varchar varchar(10) null utf8mb4/utf8mb4_general_ci" {
		t.Errorf("refreshed: %s", got)
	}
	// From now on a minimal TABLE_MAP does.
	if _, err := h.ResolveTable(minimal, pos(50)); err != nil {
		t.Fatal(err)
	}
}

// TestUnparsableDDLLiveRefresh: at the source's current end, a statement the
// parser rejects is answered by SHOW CREATE TABLE on the live server.
func TestUnparsableDDLLiveRefresh(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	ctx := context.Background()
	db := srv.DB(t, "")
	srv.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.t (a int PRIMARY KEY, b varchar(3))")
	h, _ := newTestHistory(t, Options{IgnoreUnparsableDDL: true, Live: db})
	if err := h.Bootstrap(ctx, db, pos(10), BootstrapOptions{}); err != nil {
		t.Fatal(err)
	}
	// The server ran a change; the history is shown a statement it cannot
	// parse at that position (as a MariaDB feature newer than the grammar
	// would be).
	srv.Exec(t, "ALTER TABLE shop.t ADD COLUMN c bigint NOT NULL, ADD UNIQUE KEY (c)")
	res, err := h.ApplyDDL(ctx, DDL{Schema: "shop", SQL: "ALTER TABLE t ADD COLUMN c xmltype", Pos: pos(20), AtHead: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stale) != 0 || strings.Join(res.Changed, ",") != "shop.t" {
		t.Fatalf("live refresh: %+v", res)
	}
	tbl := mustTable(t, h, "shop", "t")
	if got := tableSummary(tbl); got != "a int int(11); b varchar varchar(3) null utf8mb4/utf8mb4_general_ci; c bigint bigint(20) pk=[0] uk=[[2]]" {
		t.Errorf("refreshed from the server: %s", got)
	}
	// Not at the head, the server's schema is not the one at the position:
	// the table is marked stale instead.
	res, err = h.ApplyDDL(ctx, DDL{Schema: "shop", SQL: "ALTER TABLE t ADD COLUMN d xmltype", Pos: pos(30)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Stale, ",") != "shop.t" {
		t.Fatalf("not at the head: %+v", res)
	}
	// And Refresh, at the head, brings it back.
	if err := h.Refresh(ctx, db, "shop", "t", pos(40)); err != nil {
		t.Fatal(err)
	}
	tm := &binlog.TableMap{Schema: "shop", Table: "t", Types: []byte{btLong, btVarchar, btLongLong},
		Meta: []uint16{0, 12, 0}, Nullable: []bool{false, true, false}}
	if _, err := h.ResolveTable(tm, pos(50)); err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapFilterAndSystemSchemas(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	ctx := context.Background()
	db := srv.DB(t, "")
	srv.Exec(t, "CREATE DATABASE shop", "CREATE DATABASE crm", "CREATE DATABASE sluice",
		"CREATE TABLE shop.orders (id int PRIMARY KEY)", "CREATE TABLE shop.items (id int PRIMARY KEY)",
		"CREATE TABLE crm.users (id int PRIMARY KEY)", "CREATE TABLE sluice.checkpoint (id int PRIMARY KEY)",
		"CREATE VIEW shop.v AS SELECT id FROM shop.orders", "CREATE TABLE `shop`.`we``ird` (`x``y` int)",
		"CREATE TABLE shop.hist (x int) WITH SYSTEM VERSIONING", "CREATE SEQUENCE shop.seq")
	names := func(h *History) string {
		var out []string
		for _, tbl := range h.Tables() {
			out = append(out, tbl.QualifiedName())
		}
		return strings.Join(out, ",")
	}
	h, _ := newTestHistory(t, Options{})
	if err := h.Bootstrap(ctx, db, pos(10), BootstrapOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := names(h); got != "crm.users,shop.hist,shop.items,shop.orders,shop.seq,shop.we`ird" {
		t.Errorf("bootstrapped %s", got)
	}
	filtered, fw := newTestHistory(t, Options{Filter: func(schema, table string) bool { return schema == "shop" && table != "items" }})
	if err := filtered.Bootstrap(ctx, db, pos(10), BootstrapOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := names(filtered); got != "shop.hist,shop.orders,shop.seq,shop.we`ird" {
		t.Errorf("filtered bootstrap %s", got)
	}
	// DDL on a table outside the filter is not tracked.
	fw.take()
	if res := mustDDL(t, filtered, 20, "crm", "ALTER TABLE users ADD COLUMN x int"); len(res.Changed) != 0 {
		t.Errorf("filtered-out DDL changed %v", res.Changed)
	}
	if w := fw.take(); len(w) != 0 {
		t.Errorf("filtered-out DDL warned: %q", w)
	}
	all, _ := newTestHistory(t, Options{})
	if err := all.Bootstrap(ctx, db, pos(10), BootstrapOptions{IncludeSystemSchemas: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := all.Table("sluice", "checkpoint"); !ok {
		t.Error("IncludeSystemSchemas did not read the sluice schema")
	}
	if !strings.Contains(names(all), "mysql.") {
		t.Error("IncludeSystemSchemas did not read the mysql schema")
	}
	// The flavor is checked.
	wrong, err := New(Options{Name: "w", Flavor: change.MySQL})
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Bootstrap(ctx, db, pos(10), BootstrapOptions{}); err == nil || !strings.Contains(err.Error(), "MariaDB") {
		t.Errorf("bootstrap of a MariaDB server into a MySQL history: %v", err)
	}
}
