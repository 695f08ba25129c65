// Package server owns the sluice server process: the meta store, the
// scheduler, the supervisor that runs pipelines, and the HTTP side (the REST
// API under /api/v1 with its auth and roles, metrics, live events, alerts).
// openapi.yaml in this directory describes the API and is served with it.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

// Config is what `sluice server` is started with.
type Config struct {
	// Meta is the meta store DSN; default a SQLite file in DataDir.
	Meta string
	// DataDir holds the SQLite meta store and a generated secret key.
	DataDir string
	// Listen is the HTTP address, e.g. 127.0.0.1:8440.
	Listen string
	// SecretKeyFile holds the key that seals data source passwords; when
	// empty, SLUICE_SECRET_KEY is used, and failing that a key is generated
	// in DataDir on first start.
	SecretKeyFile   string
	EnableShellJobs bool
	// AlertWebhook receives alerts of jobs without their own alert_url.
	AlertWebhook string
	// NodeID names this node; default a random id.
	NodeID  string
	Version string
	Logger  *slog.Logger
	// Scheduler overrides scheduler options (kinds, timings); Logger,
	// NodeID, AlertURL and Version are filled from the fields above.
	Scheduler schedule.Options
	// Check runs check jobs; default CheckRunner (the check package).
	Check schedule.CheckRunner

	// AdminUser and AdminPassword name the first admin, created on a meta
	// store without users. Without a password SLUICE_ADMIN_PASSWORD is
	// used, and failing that one is generated and printed to Stderr.
	AdminUser     string
	AdminPassword string
	// Stderr receives the generated admin password; default os.Stderr.
	Stderr io.Writer
	// BcryptCost hashes passwords; default 12, at least 10.
	BcryptCost int
	// SecureCookies marks session cookies Secure even on plain HTTP, for a
	// server behind a proxy that terminates TLS.
	SecureCookies bool
	// TLSCertFile and TLSKeyFile, when both set, serve HTTPS.
	TLSCertFile string
	TLSKeyFile  string
	// MetricsToken, when set, is required as a bearer token by /metrics.
	MetricsToken string
	// PipelineLease is how long a node holds a pipeline without renewing
	// it (default 15s); PipelineTick is how often the supervisor looks at
	// the pipelines (default 1s).
	PipelineLease time.Duration
	PipelineTick  time.Duration
	// StatusInterval is how often the event stream carries pipeline
	// status samples; RunWatchInterval how often runs are polled for it.
	// Default 1s each.
	StatusInterval   time.Duration
	RunWatchInterval time.Duration
	// LoginWindow, LoginPerIP and LoginPerUser rate-limit failed logins;
	// defaults 15m, 10 and 5.
	LoginWindow  time.Duration
	LoginPerIP   int
	LoginPerUser int
}

// Server is one sluice server node.
type Server struct {
	Config    Config
	Store     *store.Store
	Scheduler *schedule.Scheduler
	// Mux serves every HTTP route; add routes before Run.
	Mux *http.ServeMux
	log *slog.Logger

	// nodeID names this process in pipeline leases and check rows; it is
	// the scheduler's first node id, and unlike that one never changes.
	nodeID     string
	kinds      schedule.Kinds
	supervisor *supervisor
	metrics    *metrics
	events     *hub
	alerts     *alerter
	logins     *loginLimiter
	bcryptCost int
	dummyHash  []byte
	// bgCtx is cancelled when the server stops; bg counts the background
	// work (checks) that must end before the store closes.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	stopping chan struct{}
}

// DefaultMeta is the SQLite meta store in a data directory.
func DefaultMeta(dataDir string) string {
	return "sqlite:" + filepath.Join(dataDir, "sluice.db")
}

// New opens the meta store (applying migrations) and builds the scheduler
// and the HTTP routes.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("server: --data is required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if cfg.Meta == "" {
		cfg.Meta = DefaultMeta(cfg.DataDir)
	}
	secret, err := loadOrCreateSecret(cfg)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Meta, store.Options{Secret: secret})
	if err != nil {
		return nil, err
	}
	setDefaults(&cfg)
	opts := cfg.Scheduler
	opts.Logger, opts.NodeID, opts.AlertURL, opts.Version = cfg.Logger, cfg.NodeID, cfg.AlertWebhook, cfg.Version
	if cfg.Check == nil {
		cfg.Check = CheckRunner(st, cfg.Logger.With("component", "check"))
	}
	if opts.Kinds == nil {
		opts.Kinds = schedule.DefaultKinds(st, cfg.EnableShellJobs, cfg.Check)
	}
	s := &Server{Config: cfg, Store: st, Mux: http.NewServeMux(), log: cfg.Logger, kinds: opts.Kinds,
		events: newHub(), bcryptCost: cfg.BcryptCost, stopping: make(chan struct{}),
		logins: newLoginLimiter(cfg.LoginWindow, cfg.LoginPerIP, cfg.LoginPerUser)}
	s.bgCtx, s.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	var alerts *alerter
	opts.AlertURLFunc = func() string { return alerts.webhookURL() }
	sched, err := schedule.New(st, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.Scheduler, s.nodeID = sched, sched.NodeID()
	s.supervisor = newSupervisor(st, cfg.Logger, s.nodeID, cfg.PipelineLease, cfg.PipelineTick, supervisorHooks{
		onSample: func(p store.Pipeline, cur, prev pipelineStatusJSON) { s.alerts.observe(s.bgCtx, p, cur, prev) },
	})
	s.metrics = newMetrics(s.supervisor)
	alerts = newAlerter(st, cfg.Logger, s.nodeID, cfg.AlertWebhook, s.metrics)
	s.alerts = alerts
	if s.dummyHash, err = bcrypt.GenerateFromPassword([]byte(randomString(16)), s.bcryptCost); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := s.bootstrapAdmin(ctx, cfg.Stderr); err != nil {
		st.Close()
		return nil, err
	}
	s.Mux.HandleFunc("GET /healthz", s.healthz)
	s.registerRoutes()
	return s, nil
}

func setDefaults(cfg *Config) {
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 12
	}
	cfg.BcryptCost = max(cfg.BcryptCost, 10)
	if cfg.PipelineLease <= 0 {
		cfg.PipelineLease = 15 * time.Second
	}
	if cfg.PipelineTick <= 0 {
		cfg.PipelineTick = time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = time.Second
	}
	if cfg.RunWatchInterval <= 0 {
		cfg.RunWatchInterval = time.Second
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = 15 * time.Minute
	}
	if cfg.LoginPerIP <= 0 {
		cfg.LoginPerIP = 10
	}
	if cfg.LoginPerUser <= 0 {
		cfg.LoginPerUser = 5
	}
}

// loadOrCreateSecret finds the server's key. A single node started without
// one gets a generated key file in its data dir; nodes sharing a MySQL meta
// store must all be given the same key.
func loadOrCreateSecret(cfg Config) (*store.Secret, error) {
	sec, err := store.LoadSecret(cfg.SecretKeyFile)
	if err != nil || sec != nil {
		return sec, err
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := store.GenerateSecretKeyFile(path); err != nil {
			return nil, err
		}
		cfg.Logger.Warn("generated a secret key for data source passwords; back it up, and give the same key to every node sharing this meta store",
			"file", path)
	}
	return store.LoadSecret(path)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.Store.DB().PingContext(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"status":"unavailable","node":%q,"error":"meta store unreachable"}`+"\n", s.Scheduler.NodeID())
		return
	}
	fmt.Fprintf(w, `{"status":"ok","node":%q}`+"\n", s.Scheduler.NodeID())
}

// Run serves HTTP on Config.Listen and runs the scheduler until ctx ends,
// then shuts both down. ready, if not nil, receives the bound address once
// the listener is open.
func (s *Server) Run(ctx context.Context, ready chan<- string) error {
	defer s.Store.Close()
	ln, err := net.Listen("tcp", s.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Config.Listen, err)
	}
	hs := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	httpErr := make(chan error, 1)
	tls := s.Config.TLSCertFile != "" && s.Config.TLSKeyFile != ""
	go func() {
		if tls {
			httpErr <- hs.ServeTLS(ln, s.Config.TLSCertFile, s.Config.TLSKeyFile)
			return
		}
		httpErr <- hs.Serve(ln)
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", tls, "meta", s.Store.String(), "node", s.nodeID)
	if err := s.Store.FailOrphanChecks(ctx, s.nodeID); err != nil {
		s.log.Warn("settle checks of stopped nodes", "error", err)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	schedCtx, stopSched := context.WithCancel(ctx)
	schedErr := make(chan error, 1)
	go func() { schedErr <- s.Scheduler.Run(schedCtx) }()
	workCtx, stopWork := context.WithCancel(ctx)
	var work sync.WaitGroup
	for _, f := range []func(context.Context){s.supervisor.run, s.alerts.loop, s.statusLoop, newRunWatcher(s, s.Config.RunWatchInterval).loop, s.cleanSessions} {
		work.Add(1)
		go func() { defer work.Done(); f(workCtx) }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-schedErr:
		schedErr <- err
		if err != nil {
			runErr = fmt.Errorf("scheduler: %w", err)
		}
	}
	close(s.stopping) // ends event streams, which Shutdown would wait for
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	hs.Shutdown(shutCtx)
	// Pipelines stop (and give their leases back) before the scheduler
	// and the store go.
	stopWork()
	work.Wait()
	s.bgCancel()
	s.bg.Wait()
	stopSched()
	// A scheduler stopped while it was still starting reports the
	// cancellation; that is the stop asked for, not a failure.
	if err := <-schedErr; err != nil && runErr == nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
		runErr = fmt.Errorf("scheduler: %w", err)
	}
	return runErr
}

// cleanSessions removes expired sessions now and then.
func (s *Server) cleanSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := s.Store.DeleteExpiredSessions(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("delete expired sessions", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
