package schema

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

// restartDDL is a history's life: DDL at increasing positions.
var restartDDL = []struct {
	at     uint64
	schema string
	sql    string
}{
	{100, "", "CREATE DATABASE shop CHARACTER SET latin1"},
	{200, "shop", "CREATE TABLE users (id int PRIMARY KEY, name varchar(10))"},
	{300, "shop", "CREATE TABLE orders (id bigint PRIMARY KEY, user_id int, UNIQUE KEY (user_id))"},
	{400, "shop", "ALTER TABLE users ADD COLUMN email varchar(100) CHARACTER SET utf8mb4 AFTER id"},
	{500, "shop", "RENAME TABLE orders TO orders_old"},
	{600, "shop", "CREATE TABLE orders LIKE orders_old"},
	{700, "shop", "ALTER DATABASE shop CHARACTER SET utf8mb4"},
	{800, "shop", "CREATE TABLE notes (t text)"},
	{900, "shop", "DROP TABLE orders_old"},
	{1000, "shop", "ALTER TABLE users DROP COLUMN name, ADD COLUMN age tinyint unsigned"},
}

// catalogJSON renders a history's current tables for comparison.
func catalogJSON(t *testing.T, h *History) string {
	t.Helper()
	b, err := json.Marshal(h.Tables())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testRestart runs restartDDL into a history stored in store, then reopens
// it at positions from the newest back, checking each time the state in
// force there, and that the stream, resumed there, applies each DDL once.
func testRestart(t *testing.T, store Store) {
	ctx := context.Background()
	opts := Options{Name: "pipeline-1", Flavor: change.MariaDB, Store: store, SnapshotEvery: 3}
	h, err := Open(ctx, opts, change.Position{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Tables()) != 0 {
		t.Fatal("a new history has tables")
	}
	// state[i] is the catalog after restartDDL[i].
	var state []string
	for _, d := range restartDDL {
		if _, err := h.ApplyDDL(ctx, DDL{Schema: d.schema, SQL: d.sql, Pos: pos(d.at)}); err != nil {
			t.Fatal(err)
		}
		state = append(state, catalogJSON(t, h))
	}
	// A reconnect delivers the last DDL again: nothing changes.
	last := restartDDL[len(restartDDL)-1]
	res, err := h.ApplyDDL(ctx, DDL{Schema: last.schema, SQL: last.sql, Pos: pos(last.at)})
	if err != nil || !res.Repeated {
		t.Fatalf("repeated DDL: %+v, %v", res, err)
	}
	if got := catalogJSON(t, h); got != state[len(state)-1] {
		t.Fatal("a repeated DDL changed the catalog")
	}
	// An unknown DDL before the newest version is refused.
	if _, err := h.ApplyDDL(ctx, DDL{Schema: "shop", SQL: "DROP TABLE users", Pos: pos(650)}); err == nil ||
		!strings.Contains(err.Error(), "before the history's newest version") {
		t.Fatalf("DDL before the head: %v", err)
	}

	// The newest state, without truncation.
	h2, err := Open(ctx, opts, change.Position{})
	if err != nil {
		t.Fatal(err)
	}
	if got := catalogJSON(t, h2); got != state[len(state)-1] {
		t.Fatalf("reopened newest:\n%s\nwant\n%s", got, state[len(state)-1])
	}
	// Back in time: at exact version positions and between them.
	for i := len(restartDDL) - 1; i >= 1; i -= 2 {
		for _, at := range []uint64{restartDDL[i].at + 50, restartDDL[i].at} {
			h3, err := Open(ctx, opts, pos(at))
			if err != nil {
				t.Fatalf("reopen at %d: %v", at, err)
			}
			if got := catalogJSON(t, h3); got != state[i] {
				t.Fatalf("reopened at %d:\n%s\nwant\n%s", at, got, state[i])
			}
			if at != restartDDL[i].at {
				continue
			}
			// The stream resumes at `at`: the DDL ending there is in the
			// state already; the ones after it apply once each.
			res, err := h3.ApplyDDL(ctx, DDL{Schema: restartDDL[i].schema, SQL: restartDDL[i].sql, Pos: pos(at)})
			if err != nil || !res.Repeated {
				t.Fatalf("DDL at the resume position: %+v, %v", res, err)
			}
			for j := i + 1; j < len(restartDDL); j++ {
				d := restartDDL[j]
				if _, err := h3.ApplyDDL(ctx, DDL{Schema: d.schema, SQL: d.sql, Pos: pos(d.at)}); err != nil {
					t.Fatalf("replay after reopening at %d: %v", at, err)
				}
				if got := catalogJSON(t, h3); got != state[j] {
					t.Fatalf("replay of %d after reopening at %d:\n%s\nwant\n%s", d.at, at, got, state[j])
				}
			}
			// And the replayed versions are stored once: reopening at the
			// end gives the final state.
			h4, err := Open(ctx, opts, change.Position{})
			if err != nil {
				t.Fatal(err)
			}
			if got := catalogJSON(t, h4); got != state[len(state)-1] {
				t.Fatalf("after replay from %d:\n%s\nwant\n%s", at, got, state[len(state)-1])
			}
			recs, err := store.Records(ctx, opts.Name, 0)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[uint64]bool{}
			for _, r := range recs {
				if r.Kind == KindDDL {
					if seen[r.Pos.Offset] {
						t.Fatalf("DDL at %d stored twice", r.Pos.Offset)
					}
					seen[r.Pos.Offset] = true
				}
			}
		}
	}
	// Before the first DDL the history is empty; before any record it has
	// no state.
	h5, err := Open(ctx, opts, pos(150))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h5.Tables()); n != 0 {
		t.Fatalf("at 150: %d tables", n)
	}
	for _, d := range restartDDL {
		if _, err := h5.ApplyDDL(ctx, DDL{Schema: d.schema, SQL: d.sql, Pos: pos(d.at)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := catalogJSON(t, h5); got != state[len(state)-1] {
		t.Fatal("replay from the start differs")
	}

	// Compaction drops what no resume at or after 800 needs.
	before, err := store.Records(ctx, opts.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h5.Compact(ctx, pos(800)); err != nil {
		t.Fatal(err)
	}
	after, err := store.Records(ctx, opts.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) >= len(before) || after[0].Kind != KindSnapshot {
		t.Fatalf("compaction kept %d of %d records, first %s", len(after), len(before), after[0].Kind)
	}
	h6, err := Open(ctx, opts, pos(900))
	if err != nil {
		t.Fatal(err)
	}
	if got := catalogJSON(t, h6); got != state[8] {
		t.Fatalf("reopened at 900 after compaction:\n%s\nwant\n%s", got, state[8])
	}
	if _, err := Open(ctx, opts, pos(250)); err == nil || !strings.Contains(err.Error(), "no state") {
		t.Fatalf("reopen before the compacted history: %v", err)
	}
}

func TestRestartFromSQLiteStore(t *testing.T) {
	ctx := context.Background()
	store, err := OpenSQLiteStore(ctx, filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	testRestart(t, store)
}

func TestRestartFromMySQLStore(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{NoBinlog: true})
	ctx := context.Background()
	store, err := NewMySQLStore(ctx, srv.DB(t, ""), "sluice", "schema_history")
	if err != nil {
		t.Fatal(err)
	}
	testRestart(t, store)
	// Histories are kept apart by name.
	other, err := Open(ctx, Options{Name: "pipeline-2", Flavor: change.MariaDB, Store: store}, change.Position{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(other.Tables()); n != 0 {
		t.Fatalf("another pipeline's history has %d tables", n)
	}
}

func TestStoreKeepsTableMapVersions(t *testing.T) {
	ctx := context.Background()
	store, err := OpenSQLiteStore(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	opts := Options{Name: "p", Flavor: change.MariaDB, Store: store}
	h, err := Open(ctx, opts, change.Position{})
	if err != nil {
		t.Fatal(err)
	}
	// A table learnt from a full TABLE_MAP is stored at the next Flush.
	if _, err := h.ResolveTable(usersMap(true), pos(100)); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h2, err := Open(ctx, opts, pos(200))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h2.ResolveTable(usersMap(false), pos(200)); err != nil {
		t.Fatalf("the reopened history lost the table learnt from a TABLE_MAP: %v", err)
	}
}
