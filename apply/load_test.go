package apply

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

func TestAppendTSVEscapes(t *testing.T) {
	rows := []change.Row{
		{change.Int(-7), change.Bytes([]byte("a\tb\nc\\d\x00e")), change.Null()},
		{change.Int(8), change.Bytes([]byte(`\N`)), change.Double(0.1)},
		{change.Int(9), change.Bytes(nil), change.Int(0)},
	}
	got := string(appendTSV(nil, rows, []int{0, 1, 2}))
	want := "-7\ta\\tb\\nc\\\\d\\0e\t\\N\n" +
		"8\t\\\\N\t0.1\n" +
		"9\t\t0\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// applyWithStats applies txns through a fresh applier and returns Run's
// error and the applier's counters.
func applyWithStats(t *testing.T, cfg Config, txns ...*change.Txn) (Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, _, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	in := make(chan *change.Txn, len(txns))
	for _, x := range txns {
		in <- x
	}
	close(in)
	err = a.Run(ctx, in)
	return a.Stats(), err
}

// TestApplyLoadsNewRowsByteExact checks that new rows go in with LOAD DATA
// and arrive byte for byte, whatever bytes they hold, NULLs included.
func TestApplyLoadsNewRowsByteExact(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(64) NOT NULL UNIQUE, n INT)")
	u := usersTable()
	emails := []string{"tab\there", "new\nline", `back\slash`, "nul\x00byte", "\xff\xfe not utf-8", `\N`, "N", "", " trailing "}
	var changes []change.RowChange
	var want []string
	// Enough rows for a load (minLoadRows), every awkward byte among them.
	for len(emails) < 2*minLoadRows {
		emails = append(emails, emails[len(emails)%9]+"#"+strconv.Itoa(len(emails)))
	}
	for i, e := range emails {
		r := row(int64(i+1), e, int64(i))
		if i%3 == 0 {
			r[2] = change.Null()
		}
		changes = append(changes, ins(u, r))
		n := "NULL"
		if i%3 != 0 {
			n = strconv.Itoa(i)
		}
		want = append(want, strconv.Itoa(i+1)+","+strings.ToUpper(hex.EncodeToString([]byte(e)))+","+n)
	}
	st, err := applyWithStats(t, targetConfig(t, s, "load"), &change.Txn{End: pos(100), Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	if st.Loaded != int64(len(emails)) {
		t.Errorf("%d of %d rows went in with LOAD DATA", st.Loaded, len(emails))
	}
	if got := dump(t, s.DB(t, ""), "SELECT id, HEX(email), n FROM shop.users ORDER BY id"); got != strings.Join(want, "; ") {
		t.Fatalf("target rows\n got %s\nwant %s", got, strings.Join(want, "; "))
	}
}

// TestApplyLoadWarningFallsBackToInsert checks that a load the server
// accepts only with a warning (here a value too long for its column,
// which a LOCAL load would truncate) is undone and the rows go as an
// INSERT, whose error stops the group without moving the checkpoint.
func TestApplyLoadWarningFallsBackToInsert(t *testing.T) {
	s := testdb.Start(t, testdb.Options{NoBinlog: true})
	s.Exec(t, "CREATE DATABASE shop",
		"CREATE TABLE shop.users (id BIGINT PRIMARY KEY, email VARBINARY(8) NOT NULL UNIQUE, n INT)")
	u := usersTable()
	cfg := targetConfig(t, s, "loadwarn")
	if _, err := applyWithStats(t, cfg, &change.Txn{End: pos(100)}); err != nil {
		t.Fatal(err)
	}
	var changes []change.RowChange
	for i := 1; i < minLoadRows; i++ {
		changes = append(changes, ins(u, row(int64(i), "s"+strconv.Itoa(i), 1)))
	}
	changes = append(changes, ins(u, row(minLoadRows, "far too long for eight bytes", 2)))
	st, err := applyWithStats(t, cfg, &change.Txn{End: pos(200), Changes: changes})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("want the INSERT's data-too-long error, got %v", err)
	}
	if st.Loaded != 0 {
		t.Errorf("%d rows counted as loaded by a load that was undone", st.Loaded)
	}
	if got := s.QueryString(t, "SELECT COUNT(*) FROM shop.users"); got != "0" {
		t.Errorf("target holds %s rows after the failed group", got)
	}
	cp, _, cerr := LoadCheckpoint(context.Background(), s.DB(t, ""), "sluice", "loadwarn")
	if cerr != nil || cp.Position != pos(100) {
		t.Fatalf("checkpoint %v (%v), want it left at %v", cp.Position, cerr, pos(100))
	}
}
