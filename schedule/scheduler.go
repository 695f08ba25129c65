package schedule

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-db/sluice/store"
)

// Options tune a Scheduler. The zero value is a working default.
type Options struct {
	// NodeID names this node in the nodes table and in run rows; default a
	// random id. A node that restarts, or that lost its lease, takes a new
	// one.
	NodeID string
	// Kinds are the job kinds this node can run; default DefaultKinds.
	Kinds Kinds
	// Lead is how long before a fire its run row is claimed, so that the
	// database round trip is off the fire's critical path. Default 750ms:
	// not a whole second, so that claiming the fires of second-level jobs
	// does not coincide with starting the previous second's.
	Lead time.Duration
	// Heartbeat is how often the node renews its lease and looks at the
	// other nodes; Lease is how long a lease lasts. A node whose lease ran
	// out is dead: another node settles its runs. Defaults 500ms and 3s.
	Heartbeat time.Duration
	Lease     time.Duration
	// PollInterval is how often the jobs table is checked for changes.
	// Default 250ms.
	PollInterval time.Duration
	// RunRetention is how long finished runs are kept (each job's latest
	// run is always kept). Default 7 days; negative keeps everything.
	RunRetention time.Duration
	// StopGrace is how long a stopping node lets running runs finish before
	// it cancels them. Default 10s.
	StopGrace time.Duration
	// AlertURL receives alerts of jobs that have no alert_url of their own.
	AlertURL string
	// AlertURLFunc, when set, is asked for that URL at each alert instead
	// (the server's alert settings change at run time); "" falls back to
	// AlertURL.
	AlertURLFunc func() string
	// HTTPClient sends alerts; default a client with a 10s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Version is recorded in the nodes table.
	Version string
}

func (o *Options) setDefaults() {
	if o.NodeID == "" {
		o.NodeID = newNodeID()
	}
	if o.Lead <= 0 {
		o.Lead = 750 * time.Millisecond
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 500 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = 3 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.RunRetention == 0 {
		o.RunRetention = 7 * 24 * time.Hour
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DefaultKinds are the built-in kinds: http, sql (on the store's data
// sources), shell (off unless enableShell) and check (off until a runner is
// given).
func DefaultKinds(st *store.Store, enableShell bool, check CheckRunner) Kinds {
	return Kinds{
		"http":  HTTPKind{Client: &http.Client{}},
		"sql":   &SQLKind{Store: st},
		"shell": ShellKind{Enabled: enableShell},
		"check": CheckKind{Runner: check},
	}
}

func newNodeID() string {
	host, _ := os.Hostname()
	if len(host) > 32 {
		host = host[:32]
	}
	b := make([]byte, 4)
	rand.Read(b)
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b)
}

func randomToken() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// Scheduler fires the jobs of a meta store on this node. Several schedulers
// (one per node) may share a MySQL meta store: each fire still happens once,
// because each needs its run row, and the row's unique key admits one.
type Scheduler struct {
	st    *store.Store
	opts  Options
	log   *slog.Logger
	kinds Kinds
	clock *dbClock

	nodeMu sync.RWMutex
	nodeID string

	// leaseUntil is the local monotonic deadline (as nanoseconds since
	// base) after which this node must not start runs: its lease may have
	// run out in the meta store's eyes.
	base       time.Time
	leaseUntil atomic.Int64

	claims  *claimer
	starts  *starter
	writer  *runWriter
	alerts  *alerter
	stats   Stats
	started atomic.Bool
	// crashed makes the node fall silent at once, as if its process were
	// killed: tests use it to kill a node in-process.
	crashed atomic.Bool
}

// Stats are counters of what this node did, for metrics and benchmarks.
type Stats struct {
	Claimed   atomic.Int64 // run rows this node won
	Lost      atomic.Int64 // fires another node had claimed first
	Started   atomic.Int64 // attempts started
	Succeeded atomic.Int64
	Failed    atomic.Int64
	Missed    atomic.Int64 // fires recorded as missed
	TakenOver atomic.Int64 // runs settled from dead nodes
}

// New makes a scheduler on a meta store.
func New(st *store.Store, opts Options) (*Scheduler, error) {
	if st == nil {
		return nil, errors.New("new scheduler: no meta store")
	}
	opts.setDefaults()
	if opts.Kinds == nil {
		opts.Kinds = DefaultKinds(st, false, nil)
	}
	if opts.Lease <= 2*opts.Heartbeat {
		return nil, fmt.Errorf("new scheduler: lease %s must be more than two heartbeats (%s)", opts.Lease, opts.Heartbeat)
	}
	s := &Scheduler{
		st:     st,
		opts:   opts,
		log:    opts.Logger.With("component", "scheduler"),
		kinds:  opts.Kinds,
		nodeID: opts.NodeID,
		base:   time.Now(),
	}
	s.clock = &dbClock{st: st}
	s.claims = newClaimer(s)
	s.starts = newStarter(s)
	s.writer = newRunWriter(s)
	s.alerts = newAlerter(s)
	return s, nil
}

// NodeID is the node's current id.
func (s *Scheduler) NodeID() string {
	s.nodeMu.RLock()
	defer s.nodeMu.RUnlock()
	return s.nodeID
}

// Stats returns the node's counters.
func (s *Scheduler) Stats() *Stats { return &s.stats }

// Now is the scheduler's clock: the meta store's clock, as estimated from
// this node.
func (s *Scheduler) Now() time.Time { return s.clock.Now() }

// leaseValid says whether the node may start runs now.
func (s *Scheduler) leaseValid() bool {
	return int64(time.Since(s.base)) < s.leaseUntil.Load()
}

// Run registers the node and fires jobs until ctx ends; then it stops
// starting runs, lets running ones finish for StopGrace, and records a
// clean stop so that another node picks up what it had claimed.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("scheduler: Run called twice")
	}
	if err := s.clock.sync(ctx); err != nil {
		return err
	}
	if err := s.register(ctx); err != nil {
		return err
	}
	if err := s.claims.loadAll(ctx, true); err != nil {
		return err
	}
	if err := s.heartbeatOnce(ctx); err != nil {
		s.log.Warn("first heartbeat", "err", err)
	}
	s.log.Info("scheduler started", "node", s.NodeID(), "store", s.st.String(), "jobs", s.claims.count())

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	loops := []func(context.Context){s.claims.loop, s.starts.loop, s.heartbeatLoop, s.claims.pollLoop}
	for _, f := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); s.writer.loop(workCtx) }()
	go func() { defer bg.Done(); s.alerts.loop(workCtx) }()

	<-ctx.Done()
	wg.Wait()
	if s.crashed.Load() {
		stopWork()
		bg.Wait()
		return nil
	}
	s.stop(workCtx)
	stopWork()
	bg.Wait()
	return nil
}

// crash silences the node as a kill -9 would: its runs are cancelled and
// nothing more is written. The caller then cancels Run's context.
func (s *Scheduler) crash() {
	s.crashed.Store(true)
	s.leaseUntil.Store(0)
	s.starts.cancelBase(errCrashed)
}

// stop is the clean shutdown after the loops have ended.
func (s *Scheduler) stop(ctx context.Context) {
	s.starts.closeAndWait(s.opts.StopGrace)
	s.writer.flush(ctx)
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.st.StopNode(stopCtx, s.NodeID()); err != nil {
		s.log.Warn("record clean stop", "err", err)
	}
	if k, ok := s.kinds["sql"].(*SQLKind); ok {
		k.Close()
	}
	s.log.Info("scheduler stopped", "node", s.NodeID())
}

func (s *Scheduler) register(ctx context.Context) error {
	host, _ := os.Hostname()
	sent := time.Since(s.base)
	err := s.st.RegisterNode(ctx, store.Node{ID: s.NodeID(), Host: host, PID: os.Getpid(), Version: s.opts.Version}, s.opts.Lease)
	if err != nil {
		return err
	}
	s.extendLease(sent)
	return nil
}

// extendLease records a successful renewal sent at sent (since base): the
// node trusts its lease until a heartbeat before the lease would end, which
// leaves the meta store's clock and the network that much margin.
func (s *Scheduler) extendLease(sent time.Duration) {
	s.leaseUntil.Store(int64(sent + s.opts.Lease - s.opts.Heartbeat))
}
