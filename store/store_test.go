package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// One MariaDB server serves the package's tests; each test gets its own
// database on it.
var (
	mariadb   *testdb.Server
	mariadbMu sync.Mutex
	dbSeq     atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mariadb != nil {
		mariadb.Close()
	}
	os.Exit(code)
}

func mariaServer(t *testing.T) *testdb.Server {
	t.Helper()
	mariadbMu.Lock()
	defer mariadbMu.Unlock()
	if mariadb == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s, err := testdb.New(ctx, testdb.Options{NoBinlog: true})
		if err != nil {
			t.Fatalf("start mariadb: %v", err)
		}
		mariadb = s
	}
	return mariadb
}

// metaDSNs returns a fresh meta store DSN per dialect.
func metaDSNs(t *testing.T) map[Dialect]string {
	t.Helper()
	srv := mariaServer(t)
	return map[Dialect]string{
		SQLite: "sqlite:" + filepath.Join(t.TempDir(), "meta.db"),
		MySQL:  fmt.Sprintf("mysql://root@%s/meta_%d", srv.Addr(), dbSeq.Add(1)),
	}
}

func testKey() []byte {
	return []byte("0123456789abcdef0123456789abcdef")
}

// forEachDialect runs f against a new, migrated store of each dialect.
func forEachDialect(t *testing.T, f func(t *testing.T, s *Store, dsn string)) {
	for _, d := range []Dialect{SQLite, MySQL} {
		t.Run(string(d), func(t *testing.T) {
			dsn := metaDSNs(t)[d]
			sec, err := NewSecret(testKey())
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(context.Background(), dsn, Options{Secret: sec})
			if err != nil {
				t.Fatalf("open %s: %v", dsn, err)
			}
			t.Cleanup(func() { s.Close() })
			f(t, s, dsn)
		})
	}
}

func TestMigrationsApplyOnceAndAgree(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, dsn string) {
		ctx := context.Background()
		// Opening again (a second node, a restart) applies nothing new.
		for i := 0; i < 2; i++ {
			s2, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			s2.Close()
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, err := Migrations(s.Dialect())
		if err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		for _, table := range []string{"jobs", "job_runs", "nodes", "data_sources"} {
			if _, err := s.DB().ExecContext(ctx, "SELECT COUNT(*) FROM "+table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
	})
	// Both dialects have the same migration versions.
	a, err := Migrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Migrations(MySQL)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("sqlite has %d migrations, mysql %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Version != b[i].Version || a[i].Name != b[i].Name {
			t.Errorf("migration %d: sqlite %04d_%s, mysql %04d_%s", i, a[i].Version, a[i].Name, b[i].Version, b[i].Name)
		}
	}
}

// TestConcurrentMigrate starts several nodes on a new MySQL store at once.
func TestConcurrentMigrate(t *testing.T) {
	dsn := metaDSNs(t)[MySQL]
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), dsn, Options{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
}

func TestParseDSN(t *testing.T) {
	for _, c := range []struct {
		dsn     string
		dialect Dialect
		where   string
		err     string
	}{
		{dsn: "sqlite:/tmp/x.db", dialect: SQLite, where: "sqlite:/tmp/x.db"},
		{dsn: "sqlite:///tmp/x.db", dialect: SQLite, where: "sqlite:/tmp/x.db"},
		{dsn: "data/sluice.db", dialect: SQLite, where: "sqlite:data/sluice.db"},
		{dsn: "mysql://u:secret@db1:3307/meta", dialect: MySQL, where: "mysql://u@db1:3307/meta"},
		{dsn: "mysql://u@db1/meta", dialect: MySQL, where: "mysql://u@db1:3306/meta"},
		{dsn: "postgres://u:secret@db1/x", err: "want mysql://"},
		{dsn: "sqlite:", err: "names no file"},
	} {
		d, _, where, err := parseDSN(c.dsn)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.dsn, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error shows the password: %v", c.dsn, err)
			}
			continue
		}
		if err != nil || d != c.dialect || where != c.where {
			t.Errorf("%s: got %s %q %v, want %s %q", c.dsn, d, where, err, c.dialect, c.where)
		}
	}
}

func newJob(name, spec string) Job {
	j := JobDefaults()
	j.Name, j.Schedule, j.Kind = name, spec, "http"
	j.Config = `{"url":"http://127.0.0.1:1/"}`
	return j
}

func TestJobsCRUDAndVersion(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		v0, err := s.JobsVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.CreateJob(ctx, newJob("a", "@every 1s"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateJob(ctx, newJob("a", "@every 2s")); err == nil {
			t.Error("a second job named a: want an error")
		}
		v1, _ := s.JobsVersion(ctx)
		if v1 == v0 {
			t.Error("version unchanged after insert")
		}
		j, err := s.JobByName(ctx, "a")
		if err != nil || j.ID != id || j.Schedule != "@every 1s" || j.MisfirePolicy != "fire_once" || j.MisfireThreshold != 5*time.Second {
			t.Fatalf("read back: %+v, %v", j, err)
		}
		// An edit with plain SQL, as an operator would make it, moves the
		// version (ON UPDATE on MySQL, a trigger on SQLite).
		time.Sleep(2 * time.Millisecond) // updated_at has millisecond steps on SQLite
		if _, err := s.DB().ExecContext(ctx, "UPDATE jobs SET schedule = '@every 3s' WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
		v2, _ := s.JobsVersion(ctx)
		if v2 == v1 {
			t.Errorf("version unchanged after a direct UPDATE: %+v", v2)
		}
		if err := s.SetJobPaused(ctx, id, true); err != nil {
			t.Fatal(err)
		}
		if j, _ := s.Job(ctx, id); !j.Paused {
			t.Error("pause did not stick")
		}
		if err := s.DeleteJob(ctx, id); err != nil {
			t.Fatal(err)
		}
		v3, _ := s.JobsVersion(ctx)
		if v3 == v2 {
			t.Error("version unchanged after delete")
		}
		if err := s.DeleteJob(ctx, id); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("delete twice: %v", err)
		}
	})
}

// TestClaimFiresOnce has several nodes claim overlapping sets of fires at
// once: every fire gets exactly one row, and each node learns exactly the
// rows it made.
func TestClaimFiresOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var fires []Fire
		for job := int64(1); job <= 50; job++ {
			for sec := 0; sec < 20; sec++ {
				fires = append(fires, Fire{JobID: job, ScheduledTime: base.Add(time.Duration(sec) * time.Second), Status: RunClaimed})
			}
		}
		const nodes = 4
		won := make([][]Run, nodes)
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		for n := 0; n < nodes; n++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each node claims in its own order and its own chunks.
				mine := append([]Fire(nil), fires...)
				if n%2 == 1 {
					for i, j := 0, len(mine)-1; i < j; i, j = i+1, j-1 {
						mine[i], mine[j] = mine[j], mine[i]
					}
				}
				for start := 0; start < len(mine); start += 150 + n*40 {
					rs, err := s.ClaimFires(ctx, fmt.Sprintf("node-%d", n), int64(1000+n*100000+start), mine[start:min(start+150+n*40, len(mine))])
					if err != nil {
						errs[n] = err
						return
					}
					won[n] = append(won[n], rs...)
				}
			}()
		}
		wg.Wait()
		for n, err := range errs {
			if err != nil {
				t.Fatalf("node %d: %v", n, err)
			}
		}
		owner := map[string]string{}
		for n, rs := range won {
			for _, r := range rs {
				key := fmt.Sprintf("%d@%s", r.JobID, r.ScheduledTime.Format(time.TimeOnly))
				if prev, dup := owner[key]; dup {
					t.Errorf("fire %s won by node-%d and %s", key, n, prev)
				}
				owner[key] = fmt.Sprintf("node-%d", n)
				if r.NodeID != owner[key] || r.Status != RunClaimed || r.Attempt != 1 {
					t.Errorf("run %+v: want node %s, claimed, attempt 1", r, owner[key])
				}
			}
		}
		if len(owner) != len(fires) {
			t.Errorf("%d fires won, want %d", len(owner), len(fires))
		}
		var rows int
		s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM job_runs").Scan(&rows)
		if rows != len(fires) {
			t.Errorf("job_runs has %d rows, want %d", rows, len(fires))
		}
	})
}

func TestUpdateRunsIsFencedByNode(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var fires []Fire
		for i := 0; i < 3; i++ {
			fires = append(fires, Fire{JobID: 7, ScheduledTime: base.Add(time.Duration(i) * time.Second), Status: RunClaimed})
		}
		rs, err := s.ClaimFires(ctx, "a", 1, fires)
		if err != nil || len(rs) != 3 {
			t.Fatalf("claim: %v, %d rows", err, len(rs))
		}
		out := strings.Repeat("é", 40000) // multi-byte output near the 64 KiB bound
		ups := []RunUpdate{
			{ID: rs[0].ID, Status: RunSucceeded, Attempt: 1, StartedAt: base, FinishedAt: base.Add(time.Millisecond), Output: out},
			{ID: rs[1].ID, Status: RunFailed, Attempt: 2, StartedAt: base, FinishedAt: base.Add(time.Second), Error: "boom"},
		}
		if n, err := s.UpdateRuns(ctx, "b", ups); err != nil || n != 0 {
			t.Errorf("node b wrote %d rows of node a (%v), want 0", n, err)
		}
		if n, err := s.UpdateRuns(ctx, "a", ups); err != nil || n != 2 {
			t.Fatalf("node a wrote %d rows (%v), want 2", n, err)
		}
		r0, _ := s.Run(ctx, rs[0].ID)
		r1, _ := s.Run(ctx, rs[1].ID)
		if r0.Status != RunSucceeded || r0.Output != out || !r0.StartedAt.Equal(base) || !r0.FinishedAt.Equal(base.Add(time.Millisecond)) {
			t.Errorf("run 0: %s %q... %v %v", r0.Status, r0.Output[:10], r0.StartedAt, r0.FinishedAt)
		}
		if r1.Status != RunFailed || r1.Attempt != 2 || r1.Error != "boom" {
			t.Errorf("run 1: %+v", r1)
		}
		if ok, err := s.TakeOverRun(ctx, rs[2].ID, "a", "b", 9); !ok || err != nil {
			t.Fatalf("take over: %v %v", ok, err)
		}
		if ok, _ := s.TakeOverRun(ctx, rs[2].ID, "a", "c", 10); ok {
			t.Error("a second take over of the same run won")
		}
		if n, _ := s.UpdateRuns(ctx, "a", []RunUpdate{{ID: rs[2].ID, Status: RunSucceeded, Attempt: 1}}); n != 0 {
			t.Error("the old node still wrote a run taken over from it")
		}
	})
}

func TestNodesAndLeases(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		if err := s.RegisterNode(ctx, Node{ID: "live", Host: "h", PID: 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
		// A lease that ended before it began: the node is as good as dead.
		if err := s.RegisterNode(ctx, Node{ID: "gone"}, -time.Second); err != nil {
			t.Fatal(err)
		}
		ns, err := s.Nodes(ctx)
		if err != nil || len(ns) != 2 {
			t.Fatalf("nodes: %v %v", ns, err)
		}
		for _, n := range ns {
			if want := n.ID == "gone"; n.Expired != want {
				t.Errorf("node %s expired %v, want %v", n.ID, n.Expired, want)
			}
		}
		if ok, err := s.RenewLease(ctx, "live", time.Hour); !ok || err != nil {
			t.Errorf("renew: %v %v", ok, err)
		}
		// Its lease ran out while it was still alive in the table (another
		// node may be settling its runs this moment): it may not renew it
		// and must join again.
		if ok, err := s.RenewLease(ctx, "gone", time.Hour); ok || err != nil {
			t.Errorf("an expired lease was renewed: %v %v", ok, err)
		}
		if ok, err := s.Heartbeat(ctx, "gone", time.Hour, NodeProgress{}); ok || err != nil {
			t.Errorf("an expired lease was renewed by a heartbeat: %v %v", ok, err)
		}
		if ok, err := s.Heartbeat(ctx, "live", time.Hour, NodeProgress{}); !ok || err != nil {
			t.Errorf("heartbeat: %v %v", ok, err)
		}
		if ok, _ := s.SetNodeState(ctx, "gone", NodeAlive, NodeDead); !ok {
			t.Error("mark gone dead: lost")
		}
		if ok, _ := s.SetNodeState(ctx, "gone", NodeAlive, NodeDead); ok {
			t.Error("mark gone dead twice: won twice")
		}
		if ok, _ := s.RenewLease(ctx, "gone", time.Hour); ok {
			t.Error("a dead node renewed its lease")
		}
		if err := s.StopNode(ctx, "live"); err != nil {
			t.Fatal(err)
		}
		ns, _ = s.Nodes(ctx)
		if len(ns) != 1 || ns[0].State != NodeStopped {
			t.Errorf("after stop: %+v", ns)
		}
	})
}

func TestDeleteRunsKeepsLatest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, _ string) {
		ctx := context.Background()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var fires []Fire
		for i := 0; i < 10; i++ {
			fires = append(fires, Fire{JobID: 1, ScheduledTime: base.Add(time.Duration(i) * time.Hour), Status: RunMissed})
		}
		fires = append(fires, Fire{JobID: 2, ScheduledTime: base, Status: RunMissed})
		if _, err := s.ClaimFires(ctx, "a", 1, fires); err != nil {
			t.Fatal(err)
		}
		n, err := s.DeleteRunsBefore(ctx, base.Add(100*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 9 {
			t.Errorf("deleted %d runs, want 9 (each job keeps its latest)", n)
		}
		latest, _ := s.LatestFires(ctx)
		if !latest[1].Equal(base.Add(9*time.Hour)) || !latest[2].Equal(base) {
			t.Errorf("latest fires after retention: %v", latest)
		}
	})
}

func TestDataSourcePasswordSealed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *Store, dsn string) {
		ctx := context.Background()
		const pw = "hunter2-very-secret"
		if _, err := s.PutDataSource(ctx, DataSource{Name: "dc1", Host: "127.0.0.1", Port: 3306, User: "app", Password: pw, Database: "shop"}); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := s.DB().QueryRowContext(ctx, "SELECT password_enc FROM data_sources WHERE name = 'dc1'").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, pw) || !strings.HasPrefix(stored, "v1:") {
			t.Errorf("stored password %q is not sealed", stored)
		}
		d, err := s.DataSource(ctx, "dc1")
		if err != nil || d.Password != pw {
			t.Fatalf("read back: %q %v", d.Password, err)
		}
		if strings.Contains(d.String(), pw) {
			t.Errorf("String shows the password: %s", d)
		}
		// Copying the sealed value to another row does not open there.
		if _, err := s.PutDataSource(ctx, DataSource{Name: "dc2", Host: "h"}); err != nil {
			t.Fatal(err)
		}
		s.DB().ExecContext(ctx, "UPDATE data_sources SET password_enc = ? WHERE name = 'dc2'", stored)
		if _, err := s.DataSource(ctx, "dc2"); err == nil {
			t.Error("a sealed password moved to another row opened")
		}
		// Another key, or none, cannot read it.
		other, _ := NewSecret([]byte("ffffffffffffffffffffffffffffffff"))
		s2, err := Open(ctx, dsn, Options{Secret: other})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if _, err := s2.DataSource(ctx, "dc1"); err == nil || !strings.Contains(err.Error(), "wrong secret key") {
			t.Errorf("wrong key: %v", err)
		}
		s3, _ := Open(ctx, dsn, Options{})
		defer s3.Close()
		if _, err := s3.DataSource(ctx, "dc1"); err == nil || !strings.Contains(err.Error(), "no secret key") {
			t.Errorf("no key: %v", err)
		}
		if _, err := s3.PutDataSource(ctx, DataSource{Name: "dc3", Host: "h", Password: "x"}); err == nil {
			t.Error("stored a password without a key")
		}
	})
}

func TestParseSecretKey(t *testing.T) {
	key := testKey()
	for _, in := range []string{string(key), fmt.Sprintf("%x\n", key), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="} {
		got, err := ParseSecretKey([]byte(in))
		if err != nil || string(got) != string(key) {
			t.Errorf("ParseSecretKey(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSecretKey([]byte("short")); err == nil {
		t.Error("short key: want an error")
	}
	path := filepath.Join(t.TempDir(), "key")
	if err := GenerateSecretKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(path); err != nil {
		t.Errorf("load generated key: %v", err)
	}
	if err := GenerateSecretKeyFile(path); err == nil {
		t.Error("generate over an existing key file: want an error")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}
