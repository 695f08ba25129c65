package server

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

// TestCheckJobRunner runs the check kind's runner against a real server
// holding two copies of a table: it fails on a difference and passes once
// the copies match.
func TestCheckJobRunner(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{NoBinlog: true})
	srv.Exec(t,
		"CREATE DATABASE shop", "CREATE DATABASE shop_copy",
		"CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
		"CREATE TABLE shop_copy.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
		"INSERT INTO shop.orders VALUES (1, 10.00), (2, 20.00), (3, 30.00)",
		"INSERT INTO shop_copy.orders VALUES (1, 10.00), (2, 25.00), (3, 30.00)",
	)
	ctx := context.Background()
	sec, _ := store.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "meta.db"), store.Options{Secret: sec})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"dc1", "dc2"} {
		if _, err := st.PutDataSource(ctx, store.DataSource{Name: name, Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password}); err != nil {
			t.Fatal(err)
		}
	}
	run := CheckRunner(st, nil)
	cfg := schedule.CheckConfig{Source: "dc1", Target: "dc2", Tables: []string{"shop.orders"}, Map: []string{"shop.*:shop_copy.*"}, TargetPosition: "none"}
	if err := (schedule.CheckKind{Runner: run}).Validate(mustJSON(t, cfg)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(ctx, cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "1 different") {
		t.Errorf("copies differ: error %v, want one naming 1 different row; output:\n%s", err, out.String())
	}
	srv.Exec(t, "UPDATE shop_copy.orders SET total = 20.00 WHERE id = 2")
	out.Reset()
	if err := run(ctx, cfg, &out); err != nil {
		t.Errorf("copies match: %v; output:\n%s", err, out.String())
	}
	if err := run(ctx, schedule.CheckConfig{Source: "dc1", Target: "nowhere", Tables: []string{"shop.orders"}}, &out); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("unknown data source: %v", err)
	}
}
