package schema

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
)

func TestQueryEventCharsets(t *testing.T) {
	ctx := context.Background()
	h, _ := newTestHistory(t, Options{}) // MariaDB: server default latin1 unless the event says
	if _, err := h.ApplyDDL(ctx, DDL{SQL: "CREATE DATABASE a", Pos: pos(10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ApplyDDL(ctx, DDL{SQL: "CREATE DATABASE b", Pos: pos(20), CollationServer: 224}); err != nil {
		t.Fatal(err)
	}
	mustDDL(t, h, 30, "a", "CREATE TABLE t (x varchar(1))")
	mustDDL(t, h, 40, "b", "CREATE TABLE t (x varchar(1))")
	if c := mustTable(t, h, "a", "t").Columns[0]; c.Collation != "latin1_swedish_ci" {
		t.Errorf("a.t.x: %s", c.Collation)
	}
	if c := mustTable(t, h, "b", "t").Columns[0]; c.Collation != "utf8mb4_unicode_ci" {
		t.Errorf("b.t.x: %s", c.Collation)
	}
	// MySQL 8 replicating from 5.7 sets default_collation_for_utf8mb4.
	m, _ := newTestHistory(t, Options{Flavor: change.MySQL})
	if _, err := m.ApplyDDL(ctx, DDL{Schema: "d", SQL: "CREATE TABLE t (x varchar(1)) CHARSET utf8mb4", Pos: pos(10), DefaultCollationForUTF8MB4: 45}); err != nil {
		t.Fatal(err)
	}
	if c := mustTable(t, m, "d", "t").Columns[0]; c.Collation != "utf8mb4_general_ci" {
		t.Errorf("with default_collation_for_utf8mb4: %s", c.Collation)
	}
}

// failingStore fails the next Append when armed.
type failingStore struct {
	Store
	fail bool
}

func (f *failingStore) Append(ctx context.Context, history string, recs []Record) error {
	if f.fail {
		f.fail = false
		return errors.New("disk full")
	}
	return f.Store.Append(ctx, history, recs)
}

func TestStoreFailureLeavesStateUnchanged(t *testing.T) {
	ctx := context.Background()
	sq, err := OpenSQLiteStore(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	fs := &failingStore{Store: sq}
	h, _ := newTestHistory(t, Options{Store: fs})
	mustDDL(t, h, 10, "d", "CREATE TABLE t (a int)")
	fs.fail = true
	q := DDL{Schema: "d", SQL: "ALTER TABLE t ADD b int", Pos: pos(20)}
	if _, err := h.ApplyDDL(ctx, q); err == nil {
		t.Fatal("a DDL applied although it could not be stored")
	}
	if got := columnList(mustTable(t, h, "d", "t").Columns); got != "a" {
		t.Fatalf("state changed by an unstored DDL: %s", got)
	}
	// The caller retries the same event: it applies now, once.
	res, err := h.ApplyDDL(ctx, q)
	if err != nil || res.Repeated {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if got := columnList(mustTable(t, h, "d", "t").Columns); got != "a,b" {
		t.Fatalf("after retry: %s", got)
	}
	h2, err := Open(ctx, Options{Name: "test", Flavor: change.MariaDB, Store: sq}, change.Position{})
	if err != nil {
		t.Fatal(err)
	}
	if got := columnList(mustTable(t, h2, "d", "t").Columns); got != "a,b" {
		t.Fatalf("reopened: %s", got)
	}
}

// TestConcurrentResolveAndDDL runs the decoder's lookups while DDL lands
// (run with -race).
func TestConcurrentResolveAndDDL(t *testing.T) {
	h, _ := newTestHistory(t, Options{})
	mustDDL(t, h, 10, "shop", usersDDL)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if _, err := h.ResolveTable(usersMap(true), pos(20)); err != nil {
					t.Error(err)
					return
				}
				h.Tables()
			}
		}()
	}
	for i := 0; i < 50; i++ {
		mustDDL(t, h, uint64(100+2*i), "shop", "CREATE TABLE IF NOT EXISTS other (x int)")
		mustDDL(t, h, uint64(101+2*i), "shop", "ALTER TABLE other ADD COLUMN IF NOT EXISTS y int")
	}
	wg.Wait()
}

func TestNewRequiresFlavor(t *testing.T) {
	if _, err := New(Options{Name: "x"}); err == nil {
		t.Fatal("a history without a flavor")
	}
}

func TestMalformedTableMap(t *testing.T) {
	h, _ := newTestHistory(t, Options{})
	mustDDL(t, h, 10, "shop", usersDDL)
	tm := usersMap(false)
	tm.Meta = tm.Meta[:1]
	if _, err := h.ResolveTable(tm, pos(20)); err == nil {
		t.Fatal("a TABLE_MAP with missing metadata resolved")
	}
	if _, err := h.ResolveTable(&binlog.TableMap{Schema: "shop", Table: "users"}, pos(20)); err == nil {
		t.Fatal("a TABLE_MAP without columns resolved")
	}
}
