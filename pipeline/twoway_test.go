package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// twoWaySchema is created on every site by hand: in two-way mode DDL stays
// where it was run. items is written on every site with overlapping keys;
// ledger is insert-only with keys unique to each site, and a trigger
// records any second application of one of its rows (an insert applied
// twice becomes an update of the existing row).
var twoWaySchema = []string{
	"CREATE DATABASE shop",
	`CREATE TABLE shop.items (id INT PRIMARY KEY, v INT NOT NULL, site VARCHAR(8) NOT NULL,
		updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))`,
	"CREATE TABLE shop.ledger (id VARCHAR(32) PRIMARY KEY, amount INT NOT NULL)",
	"CREATE TABLE shop.dups (id VARCHAR(32) NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))",
	"CREATE TRIGGER shop.ledger_twice BEFORE UPDATE ON shop.ledger FOR EACH ROW INSERT INTO shop.dups (id) VALUES (OLD.id)",
}

type site struct {
	name string
	srv  *testdb.Server
}

func startSites(t *testing.T, names ...string) []site {
	var sites []site
	for i, n := range names {
		s := testdb.Start(t, testdb.Options{GTIDDomainID: uint32(i + 1)})
		s.Exec(t, twoWaySchema...)
		sites = append(sites, site{name: n, srv: s})
	}
	return sites
}

// link starts the pipeline from a to b in channel ch.
func link(t *testing.T, a, b site, ch string, conflicts ConflictConfig) *running {
	t.Helper()
	cfg := &Config{
		Name:   fmt.Sprintf("%s-to-%s", a.name, b.name),
		Source: a.srv.URL(), Target: b.srv.URL(), From: "now",
		Tables: []TableRule{{Source: "shop.items"}, {Source: "shop.ledger"}},
		TwoWay: &TwoWayConfig{Channel: ch, SourceSite: a.name, TargetSite: b.name, Conflicts: conflicts},
	}
	p := startPipeline(t, cfg, true)
	waitState(t, p.r, Running, 30*time.Second)
	return p
}

// writeConcurrently runs a writer on every site for d: updates and inserts
// on a small shared key range of items, deletes (on the shared keys when
// sharedDeletes, else on keys of the writer's own), and ledger inserts
// with site-unique keys. It returns how many ledger rows were written.
func writeConcurrently(t *testing.T, sites []site, d time.Duration, sharedDeletes bool) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ledger := 0
	stop := time.Now().Add(d)
	for si, s := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := s.srv.DB(t, "")
			rng := rand.New(rand.NewPCG(uint64(si), 7))
			n := 0
			for time.Now().Before(stop) {
				id := 1 + rng.IntN(40)
				var err error
				switch rng.IntN(10) {
				case 0:
					if !sharedDeletes {
						// A key of this site's own: insert it, then delete it.
						own := 1000*(si+1) + rng.IntN(20)
						_, err = db.Exec("INSERT IGNORE INTO shop.items (id, v, site) VALUES (?, ?, ?)", own, rng.IntN(1000), s.name)
						if err == nil && rng.IntN(2) == 0 {
							_, err = db.Exec("DELETE FROM shop.items WHERE id = ?", own)
						}
						break
					}
					_, err = db.Exec("DELETE FROM shop.items WHERE id = ?", id)
				case 1, 2, 3:
					_, err = db.Exec("INSERT INTO shop.items (id, v, site) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v), site = VALUES(site)", id, rng.IntN(1000), s.name)
				case 4:
					n++
					_, err = db.Exec("INSERT INTO shop.ledger VALUES (?, ?)", s.name+"-"+strconv.Itoa(n), rng.IntN(100))
				default:
					_, err = db.Exec("UPDATE shop.items SET v = v + 1, site = ? WHERE id = ?", s.name, id)
				}
				if err != nil {
					t.Errorf("writer on %s: %v", s.name, err)
					return
				}
				time.Sleep(time.Duration(2+rng.IntN(3)) * time.Millisecond)
			}
			mu.Lock()
			ledger += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	return ledger
}

// assertQuiet checks that once writes stop no site's binlog grows: no
// change and no checkpoint goes back and forth.
func assertQuiet(t *testing.T, sites []site) {
	t.Helper()
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	before := make([]testdb.SourceStatus, len(sites))
	for i, s := range sites {
		st, err := s.srv.SourceStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before[i] = st
	}
	time.Sleep(4 * time.Second)
	for i, s := range sites {
		st, err := s.srv.SourceStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.File != before[i].File || st.Pos != before[i].Pos {
			t.Errorf("binlog of %s still grows after writes stopped: %s:%d -> %s:%d", s.name, before[i].File, before[i].Pos, st.File, st.Pos)
		}
	}
}

func assertNoDuplicates(t *testing.T, sites []site, ledger int) {
	t.Helper()
	for _, s := range sites {
		if n := s.srv.QueryString(t, "SELECT COUNT(*) FROM shop.dups"); n != "0" {
			t.Errorf("%s: %s ledger rows were applied more than once", s.name, n)
		}
		if n := s.srv.QueryString(t, "SELECT COUNT(*) FROM shop.ledger"); n != strconv.Itoa(ledger) {
			t.Errorf("%s has %s ledger rows, want %d", s.name, n, ledger)
		}
	}
}

func conflictCount(t *testing.T, s site) int {
	n, _ := strconv.Atoi(s.srv.QueryString(t, "SELECT COUNT(*) FROM sluice.conflicts"))
	return n
}

func TestTwoWayConvergesWithSitePriority(t *testing.T) {
	sites := startSites(t, "dc1", "dc2")
	a, b := sites[0], sites[1]
	conflicts := ConflictConfig{Policy: "site-priority", SitePriority: []string{"dc1", "dc2"}}
	ab := link(t, a, b, "ab", conflicts)
	ba := link(t, b, a, "ab", conflicts)
	ledger := writeConcurrently(t, sites, 5*time.Second, true)
	testdb.WaitSameData(t, a.srv, b.srv, 60*time.Second, "shop.items", "shop.ledger")
	assertNoDuplicates(t, sites, ledger)
	assertQuiet(t, sites)
	na, nb := conflictCount(t, a), conflictCount(t, b)
	if na+nb == 0 {
		t.Fatal("concurrent writes to 40 shared keys produced no conflict: the check is not running")
	}
	// dc1 has priority: on dc2 dc1's changes are applied, on dc1 dc2's
	// conflicting changes are skipped.
	if got := b.srv.QueryString(t, "SELECT COUNT(*) FROM sluice.conflicts WHERE decision <> 'applied'"); got != "0" {
		t.Errorf("on dc2, %s conflicting changes from dc1 were not applied", got)
	}
	if got := a.srv.QueryString(t, "SELECT COUNT(*) FROM sluice.conflicts WHERE decision <> 'skipped'"); got != "0" {
		t.Errorf("on dc1, %s conflicting changes from dc2 were applied", got)
	}
	if s := ab.r.Status(); s.Conflicts != uint64(nb) {
		t.Errorf("pipeline status counts %d conflicts, the table on dc2 holds %d", s.Conflicts, nb)
	}
	t.Logf("conflicts: %d on dc1, %d on dc2", na, nb)
	ab.stop(t)
	ba.stop(t)
}

func TestMeshOfThreeSitesConvergesLastWriterWins(t *testing.T) {
	sites := startSites(t, "a", "b", "c")
	conflicts := ConflictConfig{Policy: "last-writer-wins", TimestampColumn: "updated_at"}
	var links []*running
	for _, from := range sites {
		for _, to := range sites {
			if from.name != to.name {
				links = append(links, link(t, from, to, "mesh", conflicts))
			}
		}
	}
	// Concurrent updates and inserts of shared rows; deletes only of rows
	// a site owns (see LastWriterWins: without tombstones a delete racing
	// an update on three sites is not ordered by time).
	ledger := writeConcurrently(t, sites, 5*time.Second, false)
	testdb.WaitSameData(t, sites[0].srv, sites[1].srv, 60*time.Second, "shop.items", "shop.ledger")
	testdb.WaitSameData(t, sites[0].srv, sites[2].srv, 60*time.Second, "shop.items", "shop.ledger")
	assertNoDuplicates(t, sites, ledger)
	assertQuiet(t, sites)
	total := 0
	for _, s := range sites {
		total += conflictCount(t, s)
		// Every conflict names its decision and both images.
		if bad := s.srv.QueryString(t, "SELECT COUNT(*) FROM sluice.conflicts WHERE decision NOT IN ('applied','skipped') OR policy <> 'last-writer-wins' OR row_key = ''"); bad != "0" {
			t.Errorf("%s: %s malformed conflict rows", s.name, bad)
		}
	}
	if total == 0 {
		t.Fatal("no conflict recorded on any site")
	}
	for _, l := range links {
		l.stop(t)
	}
}

func TestTwoWayConfigValidation(t *testing.T) {
	base := func() *Config {
		return &Config{Name: "p", Source: "mysql://a", Target: "mysql://b", Tables: []TableRule{{Source: "s.t"}}}
	}
	cases := []struct {
		tw   TwoWayConfig
		want string
	}{
		{TwoWayConfig{SourceSite: "a", TargetSite: "b"}, "channel"},
		{TwoWayConfig{Channel: "c", SourceSite: "a"}, "source_site"},
		{TwoWayConfig{Channel: "c", SourceSite: "a", TargetSite: "A"}, "differ"},
		{TwoWayConfig{Channel: "c", SourceSite: "a", TargetSite: "b", Conflicts: ConflictConfig{Policy: "newest"}}, "conflict policy"},
		{TwoWayConfig{Channel: "c", SourceSite: "a", TargetSite: "b", Conflicts: ConflictConfig{Policy: "last-writer-wins"}}, "timestamp column"},
	}
	for _, c := range cases {
		cfg := base()
		tw := c.tw
		cfg.TwoWay = &tw
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want an error about %q, got %v", c.tw, c.want, err)
		}
	}
	cfg := base()
	cfg.TwoWay = &TwoWayConfig{Channel: "c", SourceSite: "a", TargetSite: "b"}
	if err := cfg.Validate(); err != nil || cfg.DDL != "skip" {
		t.Fatalf("two-way default: err %v, ddl %q (want skip)", err, cfg.DDL)
	}
}

// TestStarThroughTheHub runs hub h with spokes b and c, one channel per
// spoke: a change made on b reaches c only through h (b→h in channel hb,
// then h→c in channel hc), exactly once, and never returns to b.
func TestStarThroughTheHub(t *testing.T) {
	sites := startSites(t, "h", "b", "c")
	h, b, c := sites[0], sites[1], sites[2]
	conflicts := ConflictConfig{Policy: "last-writer-wins", TimestampColumn: "updated_at"}
	links := []*running{
		link(t, h, b, "hb", conflicts), link(t, b, h, "hb", conflicts),
		link(t, h, c, "hc", conflicts), link(t, c, h, "hc", conflicts),
	}
	// Deletes only of a site's own rows, as in the mesh (see
	// LastWriterWins).
	ledger := writeConcurrently(t, sites, 5*time.Second, false)
	testdb.WaitSameData(t, h.srv, b.srv, 60*time.Second, "shop.items", "shop.ledger")
	testdb.WaitSameData(t, h.srv, c.srv, 60*time.Second, "shop.items", "shop.ledger")
	assertNoDuplicates(t, sites, ledger)
	assertQuiet(t, sites)
	// The spokes are not linked: whatever of b's reached c went through h.
	if n := c.srv.QueryString(t, "SELECT COUNT(*) FROM shop.ledger WHERE id LIKE 'b-%'"); n == "0" {
		t.Error("no ledger row written on b reached c through the hub")
	}
	// c applies only what h sends it, in channel hc: its marks name hc.
	if n := c.srv.QueryString(t, "SELECT COUNT(*) FROM sluice.mark WHERE channel <> 'hc'"); n != "0" {
		t.Errorf("c holds %s marks of a channel other than hc", n)
	}
	for _, l := range links {
		l.stop(t)
	}
}

// TestTwoWayDDLStaysOnItsSide checks the two-way default for DDL: a
// statement runs on the side where it was issued only (the user runs it on
// each side), is never applied across nor looped back, and rows keep
// flowing both ways after it.
func TestTwoWayDDLStaysOnItsSide(t *testing.T) {
	sites := startSites(t, "dc1", "dc2")
	a, b := sites[0], sites[1]
	ab := link(t, a, b, "ab", ConflictConfig{})
	ba := link(t, b, a, "ab", ConflictConfig{})
	a.srv.Exec(t,
		"CREATE TABLE shop.local_only (id INT PRIMARY KEY)",
		"ALTER TABLE shop.items ADD COLUMN note VARCHAR(20) NULL",
	)
	b.srv.Exec(t, "ALTER TABLE shop.items ADD COLUMN note VARCHAR(20) NULL")
	a.srv.Exec(t, "INSERT INTO shop.items (id, v, site, note) VALUES (1, 1, 'dc1', 'from dc1')")
	b.srv.Exec(t, "INSERT INTO shop.items (id, v, site, note) VALUES (2, 2, 'dc2', 'from dc2')")
	testdb.WaitSameData(t, a.srv, b.srv, 60*time.Second, "shop.items")
	if n := b.srv.QueryString(t, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'local_only'"); n != "0" {
		t.Error("a CREATE TABLE run on dc1 was applied on dc2 in two-way mode")
	}
	if got := a.srv.QueryString(t, "SELECT GROUP_CONCAT(note ORDER BY id) FROM shop.items"); got != "from dc1,from dc2" {
		t.Errorf("dc1 items notes = %q", got)
	}
	assertQuiet(t, sites)
	if s := ab.r.Status(); s.State != Running {
		t.Errorf("dc1-to-dc2 is %s after the DDL: %+v", s.State, s)
	}
	if s := ba.r.Status(); s.State != Running {
		t.Errorf("dc2-to-dc1 is %s after the DDL: %+v", s.State, s)
	}
	ab.stop(t)
	ba.stop(t)
}
