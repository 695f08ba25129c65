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
	// Lead is how long before a fire the job's owner claims its run row,
	// so that no database write is on the fire's path: the run starts from
	// memory at its time. Default 4.3s: claims can wait for a quiet moment
	// (between bursts of starts) and still be made with seconds to spare
	// when the database is slow, and the owner's progress reaches the other
	// nodes (through the nodes table, at heartbeats) well before they look;
	// not a whole number of seconds, so that claiming the fires of
	// second-level jobs does not coincide with starting the current
	// second's.
	Lead time.Duration
	// HelperLead is how long before a fire a node that does not own the job
	// checks that the owner has claimed it, and claims it itself if not
	// (the owner died or stalls). Default 400ms; less than Lead.
	HelperLead time.Duration
	// FlushInterval is how often run states are written, in one batch.
	// Default 250ms. Overlap policies other than allow write a run's start
	// at once.
	FlushInterval time.Duration
	// Trace, when set, receives where each attempt's start delay went
	// (benchmarks use it). It is called after the attempt, off the start
	// path, from many goroutines at once.
	Trace func(FireTrace)
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
		o.Lead = 4300 * time.Millisecond
	}
	if o.HelperLead <= 0 {
		o.HelperLead = 400 * time.Millisecond
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 250 * time.Millisecond
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

	nodeID atomic.Pointer[string]
	// runKinds are the kinds this node runs, as published.
	runKinds []string

	// leaseUntil is the local monotonic deadline (as nanoseconds since
	// base) after which this node must not start runs: its lease may have
	// run out in the meta store's eyes.
	base       time.Time
	leaseUntil atomic.Int64

	claims *claimer
	starts *starter
	writer *runWriter
	pace   *pacer
	held   *heldRuns
	// peers is the nodes table as last read (for where other nodes' runs
	// are).
	peers atomic.Pointer[[]store.Node]
	// surveyMu keeps a survey (which may take runs over under this node's
	// id) and a rejoin (which changes the id) apart.
	surveyMu sync.Mutex
	alerts   *alerter
	stats    Stats
	started  atomic.Bool
	// crashed makes the node fall silent at once, as if its process were
	// killed: tests use it to kill a node in-process.
	crashed atomic.Bool
}

// Stats are counters of what this node did, for metrics and benchmarks.
type Stats struct {
	Claimed   atomic.Int64 // run rows this node won
	Lost      atomic.Int64 // fires another node had claimed first
	FilledIn  atomic.Int64 // fires of other nodes' jobs this node tried to claim: their owner had not
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
	if opts.HelperLead >= opts.Lead {
		return nil, fmt.Errorf("new scheduler: helper lead %s must be less than lead %s", opts.HelperLead, opts.Lead)
	}
	s := &Scheduler{
		st:       st,
		opts:     opts,
		log:      opts.Logger.With("component", "scheduler"),
		kinds:    opts.Kinds,
		runKinds: opts.Kinds.runnable(),
		base:     time.Now(),
	}
	s.setNodeID(opts.NodeID)
	s.clock = &dbClock{st: st}
	s.claims = newClaimer(s)
	s.starts = newStarter(s)
	s.writer = newRunWriter(s)
	s.pace = newPacer(s)
	s.held = newHeldRuns()
	s.alerts = newAlerter(s)
	return s, nil
}

// NodeID is the node's current id.
func (s *Scheduler) NodeID() string { return *s.nodeID.Load() }

func (s *Scheduler) setNodeID(id string) { s.nodeID.Store(&id) }

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
	maxID, err := s.st.MaxRunID(ctx)
	if err != nil {
		return err
	}
	s.held.seen(maxID)
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
	loops := []func(context.Context){s.claims.loop, s.starts.loop, s.heartbeatLoop, s.surveyLoop, s.claims.pollLoop}
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
	s.starts.cancelAll(errCrashed)
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
	err := s.st.RegisterNode(ctx, store.Node{ID: s.NodeID(), Host: host, PID: os.Getpid(), Version: s.opts.Version, Kinds: s.runKinds}, s.opts.Lease)
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
