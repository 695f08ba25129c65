package main

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

// benchSchedule fires 10,000 jobs, half every second and half once a minute
// (spread over the minute's seconds), on a SQLite meta store with one node
// and on a MariaDB meta store with one and with several nodes. One node runs
// in the benchmark process; several run each in its own process (the
// benchmark binary started again), as nodes of a cluster would: nodes that
// shared a Go runtime would queue each other's starts behind their own.
//
// The fire delay is measured by the job kind itself, in the process that
// runs the fire: the time its Run is entered minus the fire's scheduled
// time, for every attempt of every fire in the window. Duplicates and
// misses are counted from the run rows in the database (a fire of the
// window without exactly one succeeded row is missed), and executions are
// counted by the kind too (an attempt of a fire executed twice is a
// duplicate). The run rows' started_at gives the same delay as the
// scheduler stamps it, as a cross-check, and Options.Trace shows where the
// delay went: the starter's wakeup after the instant, the claim arriving
// late, and the goroutines starting.
func benchSchedule(ctx context.Context, args []string) error {
	if env := os.Getenv(nodeEnv); env != "" {
		return nodeProcess(ctx, env)
	}
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	jobs := fs.Int("jobs", 10000, "number of jobs")
	every := fs.Float64("every-second", 0.5, "share of the jobs that fire every second; the rest fire once a minute")
	window := fs.Duration("duration", 20*time.Second, "measured window per configuration")
	nodes := fs.Int("nodes", 3, "nodes sharing the MariaDB meta store in the multi-node run")
	metas := fs.String("meta", "sqlite,mysql,mysql-multi", "configurations to run: sqlite, mysql (one node), mysql-multi")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured windows to this file")
	execTrace := fs.String("trace", "", "write a Go execution trace of the measured windows to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile to this file at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if *execTrace != "" {
		f, err := os.Create(*execTrace)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	var srv *testdb.Server
	defer func() {
		if srv != nil {
			srv.Close()
		}
	}()
	fmt.Printf("schedule: %d jobs (%.0f%% every second, the rest every minute), %s measured per configuration, GOMAXPROCS %d, %s\n",
		*jobs, *every*100, *window, runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))
	for _, m := range strings.Split(*metas, ",") {
		var dsn string
		n := 1
		switch m {
		case "sqlite":
			dir, err := os.MkdirTemp("", "sluice-bench-schedule-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			dsn = "sqlite:" + filepath.Join(dir, "meta.db")
		case "mysql", "mysql-multi":
			if srv == nil {
				var err error
				// A redo log sized for thousands of row writes a second: with
				// testdb's 64M, InnoDB stalls writes to flush pages every few
				// seconds at this rate.
				if srv, err = testdb.New(ctx, testdb.Options{NoBinlog: true, BufferPool: "512M", Args: []string{"--innodb-log-file-size=512M"}}); err != nil {
					return err
				}
			}
			dsn = fmt.Sprintf("mysql://root@%s/bench_%s", srv.Addr(), strings.ReplaceAll(m, "-", "_"))
			if m == "mysql-multi" {
				n = *nodes
			}
		default:
			return fmt.Errorf("unknown configuration %q", m)
		}
		res, err := runScheduleBench(ctx, dsn, n, *jobs, *every, *window)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		res.print(m, n)
	}
	return nil
}

type scheduleResult struct {
	fires        int
	executed     int           // attempts of the window's fires the kind ran
	delay        durationStats // kind-observed: Run entered minus scheduled time
	rowDelay     durationStats // started_at - scheduled_time of the run rows
	wake         durationStats // starter woke minus scheduled time
	spawn        durationStats // attempt started minus starter woke
	lateClaims   int           // attempts whose claim reached the starter after their instant
	minLead      time.Duration // smallest scheduled-minus-claimed of the window
	duplicates   int           // attempts executed more than once
	dupRows      int           // fires with more than one run row
	missing      int           // fires without a run row
	failed       int           // fires whose row did not succeed
	lost, filled int64
	worst        []string // the instants with the latest starts
	gcs          uint32
	gcPauseMax   time.Duration
	loadBefore   string
	loadAfter    string
}

func (r scheduleResult) print(name string, nodes int) {
	fmt.Printf("%-12s nodes=%d fires=%d executed=%d delay p50=%s p99=%s max=%s (rows: p50=%s p99=%s max=%s) duplicates=%d (rows %d) missed=%d (no row %d, not succeeded %d)\n",
		name, nodes, r.fires, r.executed, r.delay.p50, r.delay.p99, r.delay.max, r.rowDelay.p50, r.rowDelay.p99, r.rowDelay.max,
		r.duplicates, r.dupRows, r.missing+r.failed, r.missing, r.failed)
	fmt.Printf("%-12s   wakeup after the instant p50=%s p99=%s max=%s; start after wakeup p50=%s p99=%s max=%s; claims late=%d, least lead %s\n",
		"", r.wake.p50, r.wake.p99, r.wake.max, r.spawn.p50, r.spawn.p99, r.spawn.max, r.lateClaims, r.minLead)
	fmt.Printf("%-12s   in the window: lost claims %d, filled in %d, GC cycles %d (longest pause %s), load average before %s, after %s\n",
		"", r.lost, r.filled, r.gcs, r.gcPauseMax, r.loadBefore, r.loadAfter)
	fmt.Printf("%-12s   latest instants: %s\n", "", strings.Join(r.worst, "; "))
}

type durationStats struct{ p50, p99, max time.Duration }

func percentiles(ds []time.Duration) durationStats {
	if len(ds) == 0 {
		return durationStats{}
	}
	slices.Sort(ds)
	pick := func(q float64) time.Duration {
		return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(10 * time.Microsecond)
	}
	return durationStats{p50: pick(0.50), p99: pick(0.99), max: ds[len(ds)-1].Round(10 * time.Microsecond)}
}

// benchKind records every attempt it runs: which, and how late it was
// entered. Records go to one of several buffers so that thousands of runs
// starting at once do not queue on one lock.
type benchKind struct {
	shards [16]struct {
		mu   sync.Mutex
		recs []attemptRec
	}
}

type attemptRec struct {
	Job     int64
	At      time.Time
	Attempt int
	Delay   time.Duration
}

func (k *benchKind) Validate(json.RawMessage) error { return nil }

func (k *benchKind) Run(_ context.Context, run schedule.RunInfo, _ json.RawMessage, _ io.Writer) error {
	delay := time.Since(run.ScheduledTime)
	sh := &k.shards[uint64(run.RunID)%uint64(len(k.shards))]
	sh.mu.Lock()
	sh.recs = append(sh.recs, attemptRec{Job: run.JobID, At: run.ScheduledTime, Attempt: run.Attempt, Delay: delay})
	sh.mu.Unlock()
	return nil
}

func (k *benchKind) records() []attemptRec {
	var out []attemptRec
	for i := range k.shards {
		k.shards[i].mu.Lock()
		out = append(out, k.shards[i].recs...)
		k.shards[i].mu.Unlock()
	}
	return out
}

// traces collects the scheduler's per-attempt traces, sharded as the kind's
// records are.
type traces struct {
	shards [16]struct {
		mu sync.Mutex
		ts []schedule.FireTrace
	}
}

func (t *traces) add(ft schedule.FireTrace) {
	sh := &t.shards[uint64(ft.RunID)%uint64(len(t.shards))]
	sh.mu.Lock()
	sh.ts = append(sh.ts, ft)
	sh.mu.Unlock()
}

func (t *traces) all() []schedule.FireTrace {
	var out []schedule.FireTrace
	for i := range t.shards {
		t.shards[i].mu.Lock()
		out = append(out, t.shards[i].ts...)
		t.shards[i].mu.Unlock()
	}
	return out
}

// reserve sizes the buffers for about n records, so that appending during
// a burst of starts does not copy them.
func (k *benchKind) reserve(n int) {
	for i := range k.shards {
		k.shards[i].recs = make([]attemptRec, 0, n/len(k.shards)+1)
	}
}

func (t *traces) reserve(n int) {
	for i := range t.shards {
		t.shards[i].ts = make([]schedule.FireTrace, 0, n/len(t.shards)+1)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func runScheduleBench(ctx context.Context, dsn string, nodes, jobs int, every float64, window time.Duration) (scheduleResult, error) {
	var res scheduleResult
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return res, err
	}
	defer st.Close()
	// Jobs go in with plain SQL, many rows per statement, as an operator
	// loading a job table would.
	perSecond := int(float64(jobs) * every)
	for start := 0; start < jobs; start += 1000 {
		var b strings.Builder
		var qargs []any
		b.WriteString("INSERT INTO jobs (name, schedule, kind, config) VALUES ")
		for i := start; i < min(start+1000, jobs); i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, 'bench', '{}')")
			spec := "* * * * * *"
			if i >= perSecond {
				spec = fmt.Sprintf("%d * * * * *", i%60)
			}
			qargs = append(qargs, fmt.Sprintf("bench-%05d", i), spec)
		}
		if _, err := st.DB().ExecContext(ctx, b.String(), qargs...); err != nil {
			return res, fmt.Errorf("insert jobs: %w", err)
		}
	}
	all, err := st.Jobs(ctx)
	if err != nil {
		return res, err
	}
	everySecond := map[int64]bool{}
	second := map[int64]int{} // minute jobs: the second they fire at
	for _, j := range all {
		if j.Schedule == "* * * * * *" {
			everySecond[j.ID] = true
		} else {
			var s int
			fmt.Sscanf(j.Schedule, "%d", &s)
			second[j.ID] = s
		}
	}

	// Warm up (every node started, loaded, its leases and views settled,
	// its first claims made), then measure the window. Node processes take
	// longer to start.
	now, err := st.Now(ctx)
	if err != nil {
		return res, err
	}
	warm := 6 * time.Second
	if nodes > 1 {
		warm = 12 * time.Second
	}
	from := now.Truncate(time.Second).Add(warm)
	to := from.Add(window)
	spec := nodeSpec{DSN: dsn, From: from, To: to, Expect: int(float64(perSecond+(jobs-perSecond)/60+1)*(window+10*time.Second).Seconds()) * 5 / 4}
	var out nodeOutput
	if nodes == 1 {
		out, err = runNode(ctx, spec)
	} else {
		out, err = runNodeProcesses(ctx, spec, nodes)
	}
	if err != nil {
		return res, err
	}
	res.lost, res.filled, res.gcs, res.gcPauseMax = out.Lost, out.Filled, out.GCs, out.GCPauseMax
	res.loadBefore, res.loadAfter = out.LoadBefore, out.LoadAfter

	runs, err := st.RunsBetween(ctx, from, to)
	if err != nil {
		return res, err
	}
	type fire struct {
		job int64
		at  int64
	}
	byFire := map[fire]store.Run{}
	var rowDelays []time.Duration
	for _, r := range runs {
		k := fire{r.JobID, r.ScheduledTime.UnixMicro()}
		if _, dup := byFire[k]; dup {
			res.dupRows++
		}
		byFire[k] = r
		if !r.StartedAt.IsZero() {
			rowDelays = append(rowDelays, r.StartedAt.Sub(r.ScheduledTime))
		}
	}
	for at := from; at.Before(to); at = at.Add(time.Second) {
		for _, j := range all {
			if !everySecond[j.ID] && second[j.ID] != at.Second() {
				continue
			}
			res.fires++
			r, ok := byFire[fire{j.ID, at.UnixMicro()}]
			switch {
			case !ok:
				res.missing++
			case r.Status != store.RunSucceeded:
				res.failed++
			}
		}
	}
	type attempt struct {
		fire
		n int
	}
	seen := map[attempt]int{}
	var delays []time.Duration
	for _, rec := range out.Records {
		if rec.At.Before(from) || !rec.At.Before(to) {
			continue
		}
		res.executed++
		k := attempt{fire{rec.Job, rec.At.UnixMicro()}, rec.Attempt}
		if seen[k]++; seen[k] > 1 {
			res.duplicates++
		}
		delays = append(delays, rec.Delay)
	}
	res.delay = percentiles(delays)
	res.rowDelay = percentiles(rowDelays)
	var wake, spawn []time.Duration
	res.minLead = time.Hour
	type instant struct {
		at         time.Time
		runs       int
		wake, last time.Duration
	}
	instants := map[time.Time]*instant{}
	for _, t := range out.Traces {
		if t.ScheduledTime.Before(from) || !t.ScheduledTime.Before(to) || t.Attempt != 1 {
			continue
		}
		in := instants[t.ScheduledTime]
		if in == nil {
			in = &instant{at: t.ScheduledTime}
			instants[t.ScheduledTime] = in
		}
		in.runs++
		in.wake = max(in.wake, t.Woke.Sub(t.ScheduledTime))
		in.last = max(in.last, t.Started.Sub(t.ScheduledTime))
		wake = append(wake, t.Woke.Sub(t.ScheduledTime))
		spawn = append(spawn, t.Started.Sub(t.Woke))
		lead := t.ScheduledTime.Sub(t.Ready)
		if lead < 0 {
			res.lateClaims++
		}
		res.minLead = min(res.minLead, lead.Round(time.Millisecond))
	}
	res.wake, res.spawn = percentiles(wake), percentiles(spawn)
	var ins []*instant
	for _, in := range instants {
		ins = append(ins, in)
	}
	slices.SortFunc(ins, func(a, b *instant) int { return int(b.last - a.last) })
	for _, in := range ins[:min(3, len(ins))] {
		res.worst = append(res.worst, fmt.Sprintf("%s %d runs, woke +%s, last start +%s", in.at.Format("15:04:05"), in.runs,
			in.wake.Round(100*time.Microsecond), in.last.Round(100*time.Microsecond)))
	}
	return res, nil
}

// nodeSpec tells a node of the benchmark what to run; nodeOutput is what it
// measured. Several nodes run as separate processes, as they would in
// production (each with its own Go runtime), the benchmark binary started
// again with the spec in nodeEnv.
type nodeSpec struct {
	DSN      string
	From, To time.Time // the measured window
	Expect   int       // about how many attempts the node may run
	Out      string    // where a node process writes its output
}

type nodeOutput struct {
	Records               []attemptRec
	Traces                []schedule.FireTrace
	Lost, Filled          int64
	GCs                   uint32
	GCPauseMax            time.Duration
	LoadBefore, LoadAfter string
}

const nodeEnv = "SLUICE_BENCH_SCHEDULE_NODE"

// runNode runs one scheduler node in this process from before the window
// until 3s after it, and returns what it measured.
func runNode(ctx context.Context, spec nodeSpec) (nodeOutput, error) {
	var out nodeOutput
	kind := &benchKind{}
	tr := &traces{}
	kind.reserve(spec.Expect)
	tr.reserve(spec.Expect)
	st, err := store.Open(ctx, spec.DSN, store.Options{})
	if err != nil {
		return out, err
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := schedule.New(st, schedule.Options{Kinds: schedule.Kinds{"bench": kind}, Logger: log, RunRetention: -1, Trace: tr.add})
	if err != nil {
		return out, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	stop := func() error {
		cancel()
		return <-done
	}
	wait := func(until time.Time) error {
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case err := <-done:
			return fmt.Errorf("scheduler stopped early: %v", err)
		case <-time.After(time.Until(until)):
			return nil
		}
	}
	if err := wait(spec.From); err != nil {
		return out, err
	}
	out.LoadBefore = loadAvg()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	lost0, filled0 := s.Stats().Lost.Load(), s.Stats().FilledIn.Load()
	if err := wait(spec.To.Add(3 * time.Second)); err != nil {
		return out, err
	}
	out.Lost, out.Filled = s.Stats().Lost.Load()-lost0, s.Stats().FilledIn.Load()-filled0
	runtime.ReadMemStats(&ms1)
	out.LoadAfter = loadAvg()
	out.GCs = ms1.NumGC - ms0.NumGC
	for i := ms0.NumGC + 1; i <= ms1.NumGC && ms1.NumGC-i < 256; i++ {
		out.GCPauseMax = max(out.GCPauseMax, time.Duration(ms1.PauseNs[(i+255)%256]))
	}
	if err := stop(); err != nil {
		return out, err
	}
	out.Records, out.Traces = kind.records(), tr.all()
	return out, nil
}

// runNodeProcesses runs n nodes, each in its own process, and merges what
// they measured.
func runNodeProcesses(ctx context.Context, spec nodeSpec, n int) (nodeOutput, error) {
	var out nodeOutput
	exe, err := os.Executable()
	if err != nil {
		return out, fmt.Errorf("find the benchmark binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "sluice-bench-nodes-")
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(dir)
	outs := make([]nodeOutput, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		node := spec
		node.Out = filepath.Join(dir, fmt.Sprintf("node-%d.gob", i))
		env, err := json.Marshal(node)
		if err != nil {
			return out, err
		}
		cmd := exec.CommandContext(ctx, exe, "schedule")
		cmd.Env = append(os.Environ(), nodeEnv+"="+string(env))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("node process %d: %w", i, err)
				return
			}
			f, err := os.Open(node.Out)
			if err != nil {
				errs[i] = err
				return
			}
			defer f.Close()
			errs[i] = gob.NewDecoder(f).Decode(&outs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	for i, o := range outs {
		out.Records = append(out.Records, o.Records...)
		out.Traces = append(out.Traces, o.Traces...)
		out.Lost += o.Lost
		out.Filled += o.Filled
		out.GCs += o.GCs
		out.GCPauseMax = max(out.GCPauseMax, o.GCPauseMax)
		if i == 0 {
			out.LoadBefore, out.LoadAfter = o.LoadBefore, o.LoadAfter
		}
	}
	return out, nil
}

// nodeProcess is the benchmark binary started as one node: it runs the
// node the spec describes and writes what it measured to spec.Out.
func nodeProcess(ctx context.Context, env string) error {
	var spec nodeSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		return fmt.Errorf("read node spec: %w", err)
	}
	out, err := runNode(ctx, spec)
	if err != nil {
		return err
	}
	f, err := os.Create(spec.Out)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(out); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
