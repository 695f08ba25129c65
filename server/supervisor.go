package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/pipeline"
	"github.com/sluice-db/sluice/store"
)

// supervisor runs, on this node, the pipelines marked running that this
// node holds the lease of. Each tick it reads the pipelines table, takes
// the leases of pipelines nobody runs, renews its own (storing a status
// sample for the other nodes), stops what was stopped, edited, deleted or
// whose lease was lost, and restarts runners that exited, with backoff.
//
// A pipeline never runs twice: a node starts one only while it holds its
// lease row (expiry on the meta store's clock), and stops it when a renewal
// fails for longer than the lease; should two runners overlap anyway (a
// node frozen past its lease), the target checkpoint's epoch, claimed by
// each runner at start, makes the stale one's commits fail.
type supervisor struct {
	st     *store.Store
	log    *slog.Logger
	node   string
	lease  time.Duration
	tick   time.Duration
	hooks  supervisorHooks
	wake   chan struct{}
	mu     sync.Mutex
	byName map[string]*managed
	wg     sync.WaitGroup
}

// supervisorHooks let the server see samples and state changes: metrics,
// alerts and the event stream.
type supervisorHooks struct {
	onSample func(p store.Pipeline, st pipelineStatusJSON, prev pipelineStatusJSON)
}

// managed is one pipeline this node runs.
type managed struct {
	name          string
	configVersion int64
	resumeSeq     int64
	cancel        context.CancelFunc
	done          chan struct{}
	def           store.Pipeline

	mu        sync.Mutex
	runner    *pipeline.Runner
	setupErr  error
	setupAt   time.Time
	restarts  int
	sample    pipelineStatusJSON
	stopping  bool
	lastRenew time.Time
	// Totals carried across runner restarts, so counters only grow.
	baseRows, baseTxns uint64
	errors             int
	lastErrTime        time.Time
}

func newSupervisor(st *store.Store, log *slog.Logger, node string, lease, tick time.Duration, hooks supervisorHooks) *supervisor {
	return &supervisor{st: st, log: log.With("component", "supervisor"), node: node, lease: lease, tick: tick, hooks: hooks,
		wake: make(chan struct{}, 1), byName: map[string]*managed{}}
}

// kick makes the supervisor look at the pipelines table now.
func (sv *supervisor) kick() {
	select {
	case sv.wake <- struct{}{}:
	default:
	}
}

// run supervises until ctx ends, then stops every runner and releases
// their leases.
func (sv *supervisor) run(ctx context.Context) {
	// Sampling runs apart from the meta store work, so that a slow meta
	// store never makes the statuses the API and the metrics show stale.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		st := time.NewTicker(sv.tick)
		defer st.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-st.C:
				sv.sampleAll()
			}
		}
	}()
	defer func() { <-sampled }()
	t := time.NewTicker(sv.tick)
	defer t.Stop()
	for {
		sv.reconcile(ctx)
		select {
		case <-ctx.Done():
			sv.stopAll()
			return
		case <-t.C:
		case <-sv.wake:
		}
	}
}

func (sv *supervisor) reconcile(ctx context.Context) {
	ps, err := sv.st.Pipelines(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			sv.log.Warn("read pipelines", "error", err)
		}
		sv.fenceStale()
		return
	}
	want := map[string]store.Pipeline{}
	for _, p := range ps {
		want[p.Name] = p
	}
	// Stop what should not run here (any more, or not in this version).
	sv.mu.Lock()
	for name, m := range sv.byName {
		p, ok := want[name]
		switch {
		case !ok:
			sv.stopLocked(m, "the pipeline was deleted")
		case p.DesiredState != desiredRun:
			sv.stopLocked(m, "stop requested")
		case p.ConfigVersion != m.configVersion:
			sv.stopLocked(m, "the pipeline's config changed; restarting with the new one")
		case p.ResumeSeq != m.resumeSeq:
			m.resumeSeq = p.ResumeSeq
			m.mu.Lock()
			r := m.runner
			m.mu.Unlock()
			if r != nil {
				sv.log.Info("resuming pipeline", "pipeline", name)
				r.Resume()
			}
		}
	}
	sv.mu.Unlock()
	// Start what should run and nobody runs.
	for _, p := range ps {
		if p.DesiredState != desiredRun || ctx.Err() != nil {
			continue
		}
		sv.mu.Lock()
		_, have := sv.byName[p.Name]
		sv.mu.Unlock()
		if have {
			continue
		}
		ok, err := sv.st.AcquirePipelineLease(ctx, p.Name, sv.node, sv.lease)
		if err != nil {
			if ctx.Err() == nil {
				sv.log.Warn("acquire pipeline lease", "pipeline", p.Name, "error", err)
			}
			continue
		}
		if ok {
			sv.start(ctx, p)
		}
	}
	sv.renewAll(ctx, want)
}

// start runs a pipeline whose lease this node just took.
func (sv *supervisor) start(ctx context.Context, p store.Pipeline) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m := &managed{name: p.Name, configVersion: p.ConfigVersion, resumeSeq: p.ResumeSeq, cancel: cancel, done: make(chan struct{}),
		def: p, lastRenew: time.Now()}
	m.sample = pipelineStatusJSON{Name: p.Name, State: string(pipeline.Starting), Node: sv.node, SampledAt: time.Now().UTC()}
	sv.mu.Lock()
	sv.byName[p.Name] = m
	sv.mu.Unlock()
	sv.log.Info("pipeline taken by this node", "pipeline", p.Name, "node", sv.node)
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		defer close(m.done)
		sv.runManaged(rctx, m)
	}()
	// Forget the pipeline and give its lease back once the runner is done.
	sv.wg.Add(1)
	go func() {
		defer sv.wg.Done()
		<-m.done
		sv.mu.Lock()
		if sv.byName[p.Name] == m {
			delete(sv.byName, p.Name)
		}
		sv.mu.Unlock()
		final := m.snapshot()
		final.State, final.LagSeconds, final.RowsPerSecond, final.TxnsPerSecond, final.Node = string(pipeline.Stopped), 0, 0, 0, ""
		b, _ := json.Marshal(final)
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sv.st.ReleasePipelineLease(rctx, p.Name, sv.node, string(b)); err != nil {
			sv.log.Warn("release pipeline lease", "pipeline", p.Name, "error", err)
		}
		if sv.hooks.onSample != nil {
			sv.hooks.onSample(p, final, m.snapshot())
		}
		sv.kick() // a new config version starts at once
	}()
}

// runManaged runs the pipeline's runner until ctx ends, building a new
// runner with backoff whenever one cannot be made or exits by itself.
func (sv *supervisor) runManaged(ctx context.Context, m *managed) {
	log := sv.log.With("pipeline", m.name)
	backoff := time.Second
	for ctx.Err() == nil {
		err := sv.runOnce(ctx, m, log)
		if ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		m.restarts++
		if err != nil {
			m.setupErr, m.setupAt = err, time.Now()
		}
		if r := m.runner; r != nil {
			st := r.Status()
			m.baseRows += st.RowsApplied
			m.baseTxns += st.TxnsApplied
			m.runner = nil
		}
		m.mu.Unlock()
		log.Warn("pipeline runner exited; restarting", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

func (sv *supervisor) runOnce(ctx context.Context, m *managed, log *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pipeline runner panicked: %v\n%s", p, debug.Stack())
		}
	}()
	m.mu.Lock()
	def := m.def
	m.mu.Unlock()
	cfg, err := sv.runtimeConfig(ctx, def)
	if err != nil {
		return err
	}
	r, err := pipeline.NewRunner(cfg, log)
	if err != nil {
		return fmt.Errorf("pipeline %q: %w", m.name, err)
	}
	m.mu.Lock()
	m.runner, m.setupErr = r, nil
	m.mu.Unlock()
	if err := r.Run(ctx, false); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return errors.New("the runner stopped by itself")
	}
	return nil
}

// runtimeConfig resolves a stored pipeline's data sources (opening their
// passwords) into the runner's config.
func (sv *supervisor) runtimeConfig(ctx context.Context, p store.Pipeline) (*pipeline.Config, error) {
	var c pipelineConfigJSON
	if err := json.Unmarshal([]byte(p.Config), &c); err != nil {
		return nil, fmt.Errorf("pipeline %q: stored config: %w", p.Name, err)
	}
	var urls [2]string
	for i, name := range []string{p.Source, p.Target} {
		d, err := sv.st.DataSource(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("pipeline %q: %w", p.Name, err)
		}
		sc, err := dataSourceConfig(d)
		if err != nil {
			return nil, fmt.Errorf("pipeline %q: %w", p.Name, err)
		}
		urls[i] = sc.URL()
	}
	return c.runtimeConfig(p.Name, urls[0], urls[1])
}

// stopLocked cancels a runner; the goroutine started with it releases the
// lease when the runner has returned.
func (sv *supervisor) stopLocked(m *managed, why string) {
	m.mu.Lock()
	already := m.stopping
	m.stopping = true
	m.mu.Unlock()
	if !already {
		sv.log.Info("stopping pipeline", "pipeline", m.name, "why", why)
		m.cancel()
	}
}

// fenceStale stops the runners whose lease could not be renewed for a
// whole lease period: another node may hold it by now.
func (sv *supervisor) fenceStale() {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	for _, m := range sv.byName {
		m.mu.Lock()
		stale := time.Since(m.lastRenew) > sv.lease
		m.mu.Unlock()
		if stale {
			sv.stopLocked(m, "its lease could not be renewed (meta store unreachable)")
		}
	}
}

// sampleAll takes each runner's status, computes rates and tells the
// hooks (metrics, alerts).
func (sv *supervisor) sampleAll() {
	for _, m := range sv.managedList() {
		prev := m.snapshot()
		cur := m.takeSample(sv.node)
		if sv.hooks.onSample != nil {
			m.mu.Lock()
			def := m.def
			m.mu.Unlock()
			sv.hooks.onSample(def, cur, prev)
		}
	}
}

func (sv *supervisor) managedList() []*managed {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	ms := make([]*managed, 0, len(sv.byName))
	for _, m := range sv.byName {
		ms = append(ms, m)
	}
	return ms
}

// renewAll extends the leases of the pipelines this node runs, storing
// each one's latest sample for the other nodes, and stops those whose
// lease is lost.
func (sv *supervisor) renewAll(ctx context.Context, defs map[string]store.Pipeline) {
	for _, m := range sv.managedList() {
		if d, ok := defs[m.name]; ok {
			m.mu.Lock()
			// Alert thresholds may change without a new config version.
			m.def.AlertLagSeconds, m.def.AlertLagFor = d.AlertLagSeconds, d.AlertLagFor
			m.mu.Unlock()
		}
		b, _ := json.Marshal(m.snapshot())
		ok, err := sv.st.RenewPipelineLease(ctx, m.name, sv.node, sv.lease, string(b))
		m.mu.Lock()
		if err == nil && ok {
			m.lastRenew = time.Now()
		}
		stale := time.Since(m.lastRenew) > sv.lease
		m.mu.Unlock()
		switch {
		case err == nil && !ok:
			sv.mu.Lock()
			sv.stopLocked(m, "this node lost its lease")
			sv.mu.Unlock()
		case err != nil && stale:
			sv.mu.Lock()
			sv.stopLocked(m, "its lease could not be renewed: "+err.Error())
			sv.mu.Unlock()
		}
	}
}

// takeSample reads the runner's status into the API's shape.
func (m *managed) takeSample(node string) pipelineStatusJSON {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	prev := m.sample
	s := pipelineStatusJSON{Name: m.name, Node: node, Restarts: m.restarts, SampledAt: now.UTC()}
	if m.runner == nil {
		s.State, s.Position, s.ReadPosition = string(pipeline.Starting), prev.Position, prev.ReadPosition
		if m.setupErr != nil {
			s.State, s.Error, s.ErrorTime = string(pipeline.Retrying), m.setupErr.Error(), timePtr(m.setupAt)
		}
		s.RowsApplied, s.TxnsApplied = m.baseRows, m.baseTxns
	} else {
		st := m.runner.Status()
		s.State = string(st.State)
		s.Position, s.ReadPosition = posPtr(st.Position), posPtr(st.ReadPosition)
		if s.Position == nil {
			s.Position = prev.Position
		}
		s.LagSeconds = st.Lag.Seconds()
		s.RowsApplied, s.TxnsApplied = m.baseRows+st.RowsApplied, m.baseTxns+st.TxnsApplied
		s.DDLsApplied, s.TxnsSkipped, s.Conflicts = st.DDLsApplied, st.TxnsSkipped, st.Conflicts
		s.Error, s.ErrorTime = st.Error, timePtr(st.ErrorTime)
		s.StartedAt, s.LastCommitAt = timePtr(st.StartedAt), timePtr(st.LastCommitAt)
		if !st.ErrorTime.IsZero() && !st.ErrorTime.Equal(m.lastErrTime) {
			m.errors++
			m.lastErrTime = st.ErrorTime
		}
	}
	if m.stopping {
		s.State = stateStopping
	}
	if dt := now.Sub(prev.SampledAt).Seconds(); dt > 0.2 && !prev.SampledAt.IsZero() && s.RowsApplied >= prev.RowsApplied {
		s.RowsPerSecond = float64(s.RowsApplied-prev.RowsApplied) / dt
		s.TxnsPerSecond = float64(s.TxnsApplied-prev.TxnsApplied) / dt
	} else {
		s.RowsPerSecond, s.TxnsPerSecond = prev.RowsPerSecond, prev.TxnsPerSecond
	}
	m.sample = s
	return s
}

func (m *managed) snapshot() pipelineStatusJSON {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sample
}

func posPtr(p change.Position) *change.Position {
	if p.IsZero() {
		return nil
	}
	return &p
}

// sample is this node's latest status of a pipeline it runs.
func (sv *supervisor) sample(name string) (pipelineStatusJSON, bool) {
	sv.mu.Lock()
	m, ok := sv.byName[name]
	sv.mu.Unlock()
	if !ok {
		return pipelineStatusJSON{}, false
	}
	return m.snapshot(), true
}

// owns reports whether this node runs the pipeline.
func (sv *supervisor) owns(name string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	_, ok := sv.byName[name]
	return ok
}

// counters are the growing totals of the pipelines this node runs, for
// metrics.
type pipelineCounters struct {
	Status   pipelineStatusJSON
	Errors   int
	Restarts int
}

func (sv *supervisor) counters() []pipelineCounters {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	out := make([]pipelineCounters, 0, len(sv.byName))
	for _, m := range sv.byName {
		m.mu.Lock()
		out = append(out, pipelineCounters{Status: m.sample, Errors: m.errors, Restarts: m.restarts})
		m.mu.Unlock()
	}
	return out
}

// forgetSample records a reset position in the lease row's last sample,
// so that a stopped pipeline shows where it will start.
func (sv *supervisor) forgetSample(name string, pos change.Position) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leases, err := sv.st.PipelineLeases(ctx)
	if err != nil {
		return
	}
	l, ok := leases[name]
	if !ok || l.Live {
		return
	}
	var st pipelineStatusJSON
	json.Unmarshal([]byte(l.Status), &st)
	st.Position, st.ReadPosition, st.Error, st.ErrorTime = &pos, nil, "", nil
	b, _ := json.Marshal(st)
	if err := sv.st.SetPipelineLeaseStatus(ctx, name, l.NodeID, string(b)); err != nil {
		sv.log.Warn("record reset position", "pipeline", name, "error", err)
	}
}

// stopAll stops every runner and waits for them to return and release
// their leases.
func (sv *supervisor) stopAll() {
	sv.mu.Lock()
	for _, m := range sv.byName {
		sv.stopLocked(m, "the server is stopping")
	}
	sv.mu.Unlock()
	sv.wg.Wait()
}
