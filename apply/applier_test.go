package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/source"
)

func targetConfig(t *testing.T, s *testdb.Server, pipeline string) Config {
	t.Helper()
	src, err := source.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	return Config{Pipeline: pipeline, Target: src, Workers: 4}
}

// runAll applies txns through a fresh applier and returns Run's error.
func runAll(t *testing.T, cfg Config, txns ...*change.Txn) error {
	t.Helper()
	_, err := applyWithStats(t, cfg, txns...)
	return err
}

func dump(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v.Valid {
				parts[i] = v.String
			} else {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, ","))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "; ")
}

func pos(n uint64) change.Position { return change.Position{File: "binlog.000001", Offset: n} }

func TestApplyMergedGroups(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE, n INT)",
		"INSERT INTO shop.users VALUES (1,'a',0),(2,'b',0),(3,'c',0)")
	u := usersTable()
	txns := []*change.Txn{
		{End: pos(100), Changes: []change.RowChange{
			// swap the unique emails of rows 1 and 2 through a temporary value
			upd(u, row(1, "a", 0), row(1, "tmp", 0)),
			upd(u, row(2, "b", 0), row(2, "a", 0)),
			upd(u, row(1, "tmp", 0), row(1, "b", 0)),
		}},
		{End: pos(200), Changes: []change.RowChange{upd(u, row(3, "c", 0), row(30, "c", 5))}}, // key change
		{End: pos(300), Changes: []change.RowChange{ins(u, row(4, "d", 1)), upd(u, row(4, "d", 1), row(4, "d", 2))}},
		{End: pos(400), Changes: []change.RowChange{ins(u, row(5, "e", 1)), del(u, row(5, "e", 1))}},
	}
	if err := runAll(t, targetConfig(t, s, "p1"), txns...); err != nil {
		t.Fatal(err)
	}
	db := s.DB(t, "")
	if got, want := dump(t, db, "SELECT id,email,n FROM shop.users ORDER BY id"), "1,b,0; 2,a,0; 4,d,2; 30,c,5"; got != want {
		t.Fatalf("target rows\n got %s\nwant %s", got, want)
	}
	cp, ok, err := LoadCheckpoint(context.Background(), db, "sluice", "p1")
	if err != nil || !ok {
		t.Fatalf("checkpoint: %v %v", ok, err)
	}
	if cp.Position != pos(400) || cp.Epoch != 1 {
		t.Fatalf("checkpoint %+v, want position %v epoch 1", cp, pos(400))
	}
}

// TestApplyMatchesModel applies random transactions over a small key space
// with several workers and compares the target with the expected state
// computed in memory. Conflicting groups must wait for each other and
// commits must stay in order for the target to match.
func TestApplyMatchesModel(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE, n INT)")
	u := usersTable()
	rng := rand.New(rand.NewSource(1))
	model := map[int64]change.Row{}
	var txns []*change.Txn
	for i := 0; i < 3000; i++ {
		txn := &change.Txn{End: pos(uint64(1000 + i))}
		for j := 0; j < 1+rng.Intn(4); j++ {
			id := int64(rng.Intn(200))
			cur, exists := model[id]
			switch {
			case !exists:
				r := row(id, fmt.Sprintf("e%d", id), int64(rng.Intn(1000)))
				txn.Changes = append(txn.Changes, ins(u, r))
				model[id] = r
			case rng.Intn(3) == 0:
				txn.Changes = append(txn.Changes, del(u, cur))
				delete(model, id)
			default:
				r := row(id, fmt.Sprintf("e%d", id), int64(rng.Intn(1000)))
				txn.Changes = append(txn.Changes, upd(u, cur, r))
				model[id] = r
			}
		}
		txns = append(txns, txn)
	}
	cfg := targetConfig(t, s, "model")
	cfg.Limits = GroupLimits{MaxRows: 50} // many groups, so that workers overlap
	if err := runAll(t, cfg, txns...); err != nil {
		t.Fatal(err)
	}
	var want []string
	for id, r := range model {
		want = append(want, fmt.Sprintf("%d,%s,%d", id, r[1].B, r[2].I))
	}
	sort.Strings(want)
	got := strings.Split(dump(t, s.DB(t, ""), "SELECT id,email,n FROM shop.users"), "; ")
	sort.Strings(got)
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("target differs from model:\n got %d rows %v\nwant %d rows %v", len(got), got, len(want), want)
	}
}

func TestApplyPermanentErrorPausesWithoutMovingCheckpoint(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	// The target lacks the column n.
	s.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE)")
	u := usersTable()
	cfg := targetConfig(t, s, "p2")
	if err := runAll(t, cfg, &change.Txn{End: pos(100)}); err != nil {
		t.Fatal(err)
	}
	err := runAll(t, cfg,
		&change.Txn{End: pos(200), GTID: "0-1-7", Changes: []change.RowChange{ins(u, row(7, "x", 1))}},
		&change.Txn{End: pos(300), Changes: []change.RowChange{ins(u, row(8, "y", 1))}},
	)
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("want *apply.Error, got %v", err)
	}
	if ae.Transient || IsTransient(err) {
		t.Fatalf("unknown column must be permanent: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`pipeline "p2"`, "binlog.000001:200", "0-1-7", "shop.users", "id=7", "Unknown column"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	cp, _, err := LoadCheckpoint(context.Background(), s.DB(t, ""), "sluice", "p2")
	if err != nil {
		t.Fatal(err)
	}
	if cp.Position != pos(100) {
		t.Fatalf("checkpoint moved to %v, want it left at %v", cp.Position, pos(100))
	}
}

func TestApplyFencesStaleOwner(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE, n INT)")
	ctx := context.Background()
	cfg := targetConfig(t, s, "p3")
	old, _, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	newer, cp, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	if cp.Epoch != old.Epoch()+1 {
		t.Fatalf("epochs %d then %d", old.Epoch(), cp.Epoch)
	}
	in := make(chan *change.Txn, 1)
	in <- &change.Txn{End: pos(100), Changes: []change.RowChange{ins(usersTable(), row(1, "a", 1))}}
	close(in)
	err = old.Run(ctx, in)
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("stale owner: want ErrFenced, got %v", err)
	}
	if n := s.QueryString(t, "SELECT COUNT(*) FROM shop.users"); n != "0" {
		t.Fatalf("a fenced owner's rows were committed: %s rows", n)
	}
}

func TestApplyDDLAndFragments(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop")
	u := usersTable()
	cfg := targetConfig(t, s, "p4")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, _, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	in := make(chan *change.Txn)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, in) }()

	in <- &change.Txn{End: pos(100), DDL: &change.DDL{Schema: "shop",
		Statement: "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE, n INT)"}}
	// A large transaction in three fragments: nothing is visible until the
	// last one arrives.
	for f := 0; f < 2; f++ {
		var cs []change.RowChange
		for i := 0; i < 100; i++ {
			id := int64(f*100 + i)
			cs = append(cs, ins(u, row(id, fmt.Sprintf("e%d", id), 1)))
		}
		in <- &change.Txn{Begin: pos(150), Fragment: f, More: true, Changes: cs}
	}
	db := s.DB(t, "")
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := s.QueryString(t, "SELECT COUNT(*) FROM shop.users"); n != "0" {
			t.Fatalf("%s rows of an unfinished transaction are visible", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	in <- &change.Txn{Begin: pos(150), End: pos(200), Fragment: 2, Changes: []change.RowChange{ins(u, row(1000, "last", 1))}}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.QueryString(t, "SELECT COUNT(*) FROM shop.users"); n != "201" {
		t.Fatalf("rows after the last fragment = %s, want 201", n)
	}
	cp, _, _ := LoadCheckpoint(ctx, db, "sluice", "p4")
	if cp.Position != pos(200) || cp.PendingDDL != "" {
		t.Fatalf("checkpoint %+v", cp)
	}
}

func TestApplyDDLRestartAfterCrash(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop")
	cfg := targetConfig(t, s, "p5")
	ddl := &change.Txn{End: pos(100), DDL: &change.DDL{Schema: "shop", Statement: "CREATE TABLE t (id INT PRIMARY KEY)"}}
	// Simulate a crash after the DDL ran but before the checkpoint moved:
	// the marker is set and the table exists.
	ctx := context.Background()
	if err := EnsureStateSchema(ctx, s.DB(t, ""), "sluice"); err != nil {
		t.Fatal(err)
	}
	if _, err := ClaimCheckpoint(ctx, s.DB(t, ""), "sluice", "p5"); err != nil {
		t.Fatal(err)
	}
	s.Exec(t, "UPDATE sluice.checkpoint SET pending_ddl='binlog.000001:100' WHERE pipeline='p5'",
		"CREATE TABLE shop.t (id INT PRIMARY KEY)")
	if err := runAll(t, cfg, ddl); err != nil {
		t.Fatalf("re-running a DDL that had already run must succeed: %v", err)
	}
	// Without the marker the same error is real and pauses the pipeline.
	err := runAll(t, cfg, &change.Txn{End: pos(200), DDL: &change.DDL{Schema: "shop", Statement: "CREATE TABLE t (id INT PRIMARY KEY)"}})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("want a 'table already exists' error, got %v", err)
	}
}

// An insert of a row the target already has (after a reset to an earlier
// position, or over rows of an initial copy) overwrites it instead of
// failing: the plain INSERT falls back to an upsert.
func TestApplyInsertOfExistingRowOverwrites(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE, n INT)",
		"INSERT INTO shop.users VALUES (2,'b',0)")
	u := usersTable()
	if err := runAll(t, targetConfig(t, s, "dup"),
		&change.Txn{End: pos(100), Changes: []change.RowChange{ins(u, row(1, "a", 1)), ins(u, row(2, "b", 9)), ins(u, row(3, "c", 1))}},
	); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, s.DB(t, ""), "SELECT id,email,n FROM shop.users ORDER BY id"), "1,a,1; 2,b,9; 3,c,1"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestApplySplitsAroundHotRows applies transactions that all update one hot
// row besides rows of their own, over small groups and four workers. Each
// group writes its other rows at once and the hot row only after the group
// before it has executed; the target must still end as the source did
// (the hot row holding the last value) and some groups must have split.
func TestApplySplitsAroundHotRows(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.items (id BIGINT PRIMARY KEY, n INT)",
		"INSERT INTO shop.items VALUES (0, 0)")
	items := &change.Table{Schema: "shop", Name: "items",
		Columns:    []change.Column{{Name: "id", Type: change.TypeBigInt}, {Name: "n", Type: change.TypeInt}},
		PrimaryKey: []int{0}}
	r := func(id, n int64) change.Row { return change.Row{change.Int(id), change.Int(n)} }
	rng := rand.New(rand.NewSource(2))
	model := map[int64]int64{0: 0}
	var txns []*change.Txn
	for i := int64(1); i <= 3000; i++ {
		x := &change.Txn{End: pos(uint64(1000 + i))}
		// A few rows of its own, sometimes shared with a neighbour.
		for j := 0; j < 1+rng.Intn(3); j++ {
			id := 1 + rng.Int63n(400)
			cur, exists := model[id]
			switch {
			case !exists:
				x.Changes = append(x.Changes, ins(items, r(id, i)))
				model[id] = i
			case rng.Intn(3) == 0:
				x.Changes = append(x.Changes, del(items, r(id, cur)))
				delete(model, id)
			default:
				x.Changes = append(x.Changes, upd(items, r(id, cur), r(id, i)))
				model[id] = i
			}
		}
		x.Changes = append(x.Changes, upd(items, r(0, i-1), r(0, i)))
		model[0] = i
		txns = append(txns, x)
	}
	cfg := targetConfig(t, s, "hot")
	cfg.Limits = GroupLimits{MaxTxns: 5}
	st, err := applyWithStats(t, cfg, txns...)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for id, n := range model {
		want = append(want, fmt.Sprintf("%d,%d", id, n))
	}
	sort.Strings(want)
	got := strings.Split(dump(t, s.DB(t, ""), "SELECT id,n FROM shop.items"), "; ")
	sort.Strings(got)
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("target differs from model:\n got %d rows %v\nwant %d rows %v", len(got), got, len(want), want)
	}
	if st.Split == 0 {
		t.Fatalf("no group split around the hot row (stats %+v)", st)
	}
	t.Logf("%d groups, %d split", st.Groups, st.Split)
}
