package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/store"
)

// One MariaDB server serves the package's tests; each test gets its own
// meta store database on it.
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

func mariaServer(t testing.TB) *testdb.Server {
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

// metaDSN returns a fresh meta store DSN of the dialect.
func metaDSN(t testing.TB, d store.Dialect) string {
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
	}
	return fmt.Sprintf("mysql://root@%s/sched_%d", mariaServer(t).Addr(), dbSeq.Add(1))
}

func openStore(t testing.TB, dsn string) *store.Store {
	t.Helper()
	sec, err := store.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dsn, store.Options{Secret: sec})
	if err != nil {
		t.Fatalf("open meta store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// node is a scheduler running in the test process.
type node struct {
	s      *Scheduler
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error
}

// stop stops the node cleanly and waits for it.
func (n *node) stop(t testing.TB) {
	t.Helper()
	n.cancel()
	<-n.done
	if n.err != nil {
		t.Errorf("scheduler %s: %v", n.s.NodeID(), n.err)
	}
}

// kill silences the node as kill -9 would and waits for its goroutines.
func (n *node) kill() {
	n.s.crash()
	n.cancel()
	<-n.done
}

func startNode(t testing.TB, st *store.Store, opts Options) *node {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = time.Second
	}
	s, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{s: s, cancel: cancel, done: make(chan struct{})}
	go func() { n.err = s.Run(ctx); close(n.done) }()
	t.Cleanup(func() {
		n.cancel()
		<-n.done
	})
	return n
}

// eventually polls cond until it holds or a generous deadline passes: it
// bounds how long a test waits for something that must happen, and says
// nothing about speed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func addJob(t testing.TB, st *store.Store, j store.Job) int64 {
	t.Helper()
	if _, err := Compile(j, nil); err != nil {
		t.Fatalf("job %s: %v", j.Name, err)
	}
	id, err := st.CreateJob(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func job(name, spec, kind string, config any) store.Job {
	j := store.JobDefaults()
	j.Name, j.Schedule, j.Kind = name, spec, kind
	b, _ := json.Marshal(config)
	j.Config = string(b)
	return j
}

func runs(t testing.TB, st *store.Store, jobID int64) []store.Run {
	t.Helper()
	rs, err := st.JobRuns(context.Background(), jobID, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func countStatus(rs []store.Run, status string) int {
	n := 0
	for _, r := range rs {
		if r.Status == status {
			n++
		}
	}
	return n
}

// gateKind is a job kind the test controls: each attempt registers itself
// and blocks until released or cancelled.
type gateKind struct {
	mu      sync.Mutex
	started []RunInfo
	release map[int64]chan error // by run id
	cond    chan struct{}
}

func newGateKind() *gateKind {
	return &gateKind{release: map[int64]chan error{}, cond: make(chan struct{}, 1000)}
}

func (g *gateKind) Validate(json.RawMessage) error { return nil }

func (g *gateKind) Run(ctx context.Context, run RunInfo, _ json.RawMessage, out io.Writer) error {
	ch := make(chan error, 1)
	g.mu.Lock()
	g.started = append(g.started, run)
	g.release[run.RunID] = ch
	g.mu.Unlock()
	fmt.Fprintf(out, "gate run %d attempt %d\n", run.RunID, run.Attempt)
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (g *gateKind) finish(runID int64, err error) {
	g.mu.Lock()
	ch := g.release[runID]
	g.mu.Unlock()
	if ch != nil {
		ch <- err
	}
}

func jsonDecode(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
