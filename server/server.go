// Package server owns the sluice server process: it opens the meta store,
// runs the scheduler and serves HTTP. It is the place the REST API, auth,
// metrics and the console attach to: each registers its routes on Mux.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

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
}

// Server is one sluice server node.
type Server struct {
	Config    Config
	Store     *store.Store
	Scheduler *schedule.Scheduler
	// Mux serves every HTTP route; add routes before Run.
	Mux *http.ServeMux
	log *slog.Logger
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
	opts := cfg.Scheduler
	opts.Logger, opts.NodeID, opts.AlertURL, opts.Version = cfg.Logger, cfg.NodeID, cfg.AlertWebhook, cfg.Version
	if cfg.Check == nil {
		cfg.Check = CheckRunner(st, cfg.Logger.With("component", "check"))
	}
	if opts.Kinds == nil {
		opts.Kinds = schedule.DefaultKinds(st, cfg.EnableShellJobs, cfg.Check)
	}
	sched, err := schedule.New(st, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{Config: cfg, Store: st, Scheduler: sched, Mux: http.NewServeMux(), log: cfg.Logger}
	s.Mux.HandleFunc("GET /healthz", s.healthz)
	return s, nil
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
	hs := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "meta", s.Store.String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	schedCtx, stopSched := context.WithCancel(ctx)
	schedErr := make(chan error, 1)
	go func() { schedErr <- s.Scheduler.Run(schedCtx) }()

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
	stopSched()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	hs.Shutdown(shutCtx)
	if err := <-schedErr; err != nil && runErr == nil {
		runErr = fmt.Errorf("scheduler: %w", err)
	}
	return runErr
}
