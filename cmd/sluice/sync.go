package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/source"
	"github.com/sluice-db/sluice/pipeline"
	"github.com/sluice-db/sluice/snapshot"
)

type syncFlags struct {
	config       string
	name         string
	source       string
	target       string
	tables       string
	exclude      string
	from         string
	snapshot     string
	ddl          string
	workers      int
	serverID     uint32
	stateSchema  string
	heartbeat    time.Duration
	skip         []string
	exitOnPause  bool
	progressEach time.Duration
	copyWorkers  int
	copyRate     int
	copyMethod   string
	twoWay       bool
	sourceSite   string
	targetSite   string
	conflicts    string
	tsColumn     string
}

func newSyncCommand(g *globalFlags) *cobra.Command {
	f := &syncFlags{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Keep a target MySQL in step with a source, exactly once",
		Long: `sync reads the source's binlog as a replica and applies every change to the
target, with the pipeline's checkpoint committed in the same target
transaction as the data it covers: a crash at any moment loses nothing and
applies nothing twice.

The simple case takes flags:

  sluice sync --source mysql://repl:pw@db1:3306 --target mysql://app:pw@db2:3306 --tables 'shop.*,crm.users'

The full case takes a YAML file (see docs/sync.md):

  sluice sync --config shop.yaml

A pipeline resumes from its checkpoint in the target. When the target
refuses a change (a missing column, a constraint), the pipeline pauses
without moving the checkpoint and prints the position, table and key; fix
the cause and send SIGHUP (or restart) to resume, or skip the transaction
with --skip-txn.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfgs, err := f.configs()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			log, err := g.logger()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return runSync(cmd.Context(), cfgs, f, cmd.OutOrStdout(), log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "pipeline YAML file (flags below override its values)")
	fl.StringVar(&f.name, "name", "", "pipeline name: keys its checkpoint (default derived from source and target)")
	fl.StringVar(&f.source, "source", "", "source data source, mysql://user:pass@host:port")
	fl.StringVar(&f.target, "target", "", "target data source, mysql://user:pass@host:port")
	fl.StringVar(&f.tables, "tables", "", "tables to replicate, comma-separated schema.table globs (e.g. 'shop.*,crm.users')")
	fl.StringVar(&f.exclude, "exclude", "", "tables never to replicate, comma-separated globs")
	fl.StringVar(&f.from, "from", "", "where a new pipeline starts: start, now, FILE:POS, a GTID set or a time; an explicit --from means no initial copy")
	fl.StringVar(&f.snapshot, "snapshot", "", "initial copy: auto, none or only (default auto)")
	fl.StringVar(&f.ddl, "ddl", "", "DDL: replicate or skip (default replicate)")
	fl.IntVar(&f.workers, "workers", 0, "target connections applying in parallel (default 4)")
	fl.Uint32Var(&f.serverID, "server-id", 0, "replica server id (default derived from the name)")
	fl.StringVar(&f.stateSchema, "state-schema", "", "target database for sluice's tables (default sluice)")
	fl.DurationVar(&f.heartbeat, "heartbeat", 0, "write a heartbeat row on the source this often, for precise lag (needs write access)")
	fl.StringArrayVar(&f.skip, "skip-txn", nil, "skip a source transaction by GTID or end position FILE:POS (repeatable)")
	fl.BoolVar(&f.exitOnPause, "exit-on-pause", false, "exit with status 3 when the pipeline pauses, instead of waiting for SIGHUP")
	fl.DurationVar(&f.progressEach, "progress", 5*time.Second, "print progress this often (0 for never)")
	fl.IntVar(&f.copyWorkers, "copy-workers", 0, "initial copy: chunks read in parallel (default 4)")
	fl.IntVar(&f.copyRate, "copy-rate", 0, "initial copy: at most this many rows read per second (default no limit)")
	fl.StringVar(&f.copyMethod, "copy-method", "", "initial copy: snapshot (MariaDB, no source writes), watermark (writes a watermark table on the source) or auto")
	fl.BoolVar(&f.twoWay, "two-way", false, "sync both ways (active-active): source to target and target to source, without loops, with conflict resolution")
	fl.StringVar(&f.sourceSite, "source-site", "source", "two-way: the source side's site name")
	fl.StringVar(&f.targetSite, "target-site", "target", "two-way: the target side's site name")
	fl.StringVar(&f.conflicts, "conflicts", "", "two-way conflict policy: site-priority (the source side wins; default), last-writer-wins, source-wins or target-wins")
	fl.StringVar(&f.tsColumn, "timestamp-column", "", "two-way: the column last-writer-wins compares (e.g. updated_at)")
	return cmd
}

// configs returns the pipelines to run: one, or both directions of a
// two-way sync.
func (f *syncFlags) configs() ([]*pipeline.Config, error) {
	cfg, err := f.pipelineConfig()
	if err != nil {
		return nil, err
	}
	if !f.twoWay {
		return []*pipeline.Config{cfg}, nil
	}
	conflicts := pipeline.ConflictConfig{Policy: f.conflicts, TimestampColumn: f.tsColumn}
	fwd := *cfg
	fwd.TwoWay = &pipeline.TwoWayConfig{Channel: cfg.Name, SourceSite: f.sourceSite, TargetSite: f.targetSite, Conflicts: conflicts}
	rev := *cfg
	rev.Name = cfg.Name + "-reverse"
	rev.Source, rev.Target = cfg.Target, cfg.Source
	// The initial copy, if any, goes one way; the way back starts now.
	rev.Snapshot, rev.From = "none", "now"
	rev.TwoWay = &pipeline.TwoWayConfig{Channel: cfg.Name, SourceSite: f.targetSite, TargetSite: f.sourceSite, Conflicts: conflicts}
	if rev.TwoWay.Conflicts.Policy == "" || rev.TwoWay.Conflicts.Policy == "site-priority" {
		// Both directions rank the sites the same way: the source side first.
		fwd.TwoWay.Conflicts.SitePriority = []string{f.sourceSite, f.targetSite}
		rev.TwoWay.Conflicts.SitePriority = []string{f.sourceSite, f.targetSite}
	}
	fwd.DDL, rev.DDL = "", ""
	if cfg.DDL == "replicate" && f.ddl == "replicate" {
		fwd.DDL = "replicate" // asked for explicitly: DDL goes one way only
	}
	for _, c := range []*pipeline.Config{&fwd, &rev} {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	return []*pipeline.Config{&fwd, &rev}, nil
}

// pipelineConfig builds the pipeline config from the file and the flags.
func (f *syncFlags) pipelineConfig() (*pipeline.Config, error) {
	cfg := &pipeline.Config{}
	if f.config != "" {
		c, err := pipeline.LoadConfig(f.config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Source, f.source)
	set(&cfg.Target, f.target)
	set(&cfg.From, f.from)
	set(&cfg.Snapshot, f.snapshot)
	set(&cfg.DDL, f.ddl)
	set(&cfg.StateSchema, f.stateSchema)
	set(&cfg.Name, f.name)
	if f.tables != "" {
		cfg.Tables = pipeline.ParseTableList(f.tables)
	}
	if f.exclude != "" {
		for _, r := range pipeline.ParseTableList(f.exclude) {
			cfg.Exclude = append(cfg.Exclude, r.Source)
		}
	}
	if f.workers != 0 {
		cfg.Apply.Workers = f.workers
	}
	if f.copyWorkers != 0 {
		cfg.Copy.Workers = f.copyWorkers
	}
	if f.copyRate != 0 {
		cfg.Copy.MaxRowsPerSecond = f.copyRate
	}
	if f.copyMethod != "" {
		cfg.Copy.Method = snapshot.Method(f.copyMethod)
	}
	if f.serverID != 0 {
		cfg.ServerID = f.serverID
	}
	if f.heartbeat != 0 {
		cfg.Heartbeat = pipeline.Duration(f.heartbeat)
	}
	for _, s := range f.skip {
		if _, ok := change.ParseFilePos(s); ok {
			cfg.Skip = append(cfg.Skip, pipeline.SkipRule{Position: s})
		} else {
			cfg.Skip = append(cfg.Skip, pipeline.SkipRule{GTID: s})
		}
	}
	if cfg.Name == "" && cfg.Source != "" && cfg.Target != "" {
		sum := sha256.Sum256([]byte(cfg.Source + "\x00" + cfg.Target))
		cfg.Name = "sync-" + hex.EncodeToString(sum[:4])
	}
	if cfg.Source == "" || cfg.Target == "" {
		return nil, errors.New("give --source and --target (or --config FILE)")
	}
	if len(cfg.Tables) == 0 {
		return nil, errors.New("give --tables (e.g. 'shop.*,crm.users') or tables: in the config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// runSync runs pipelines in the foreground (one, or the two directions of a
// two-way sync) and prints their progress.
func runSync(ctx context.Context, cfgs []*pipeline.Config, f *syncFlags, out io.Writer, log *slog.Logger) error {
	runners := make([]*pipeline.Runner, len(cfgs))
	for i, cfg := range cfgs {
		r, err := pipeline.NewRunner(cfg, log)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		runners[i] = r
	}
	// SIGHUP resumes paused pipelines.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, len(runners))
	for _, r := range runners {
		go func() { done <- r.Run(ctx, f.exitOnPause) }()
	}
	var tick <-chan time.Time
	if f.progressEach > 0 {
		t := time.NewTicker(f.progressEach)
		defer t.Stop()
		tick = t.C
	}
	for _, cfg := range cfgs {
		fmt.Fprintf(out, "pipeline %s: %s -> %s\n", cfg.Name, source.Redact(cfg.Source), source.Redact(cfg.Target))
	}
	last := make([]pipeline.Status, len(runners))
	lastAt := time.Now()
	print := func() {
		for i, r := range runners {
			s := r.Status()
			printProgress(out, s, last[i], time.Since(lastAt), len(runners) > 1)
			last[i] = s
		}
		lastAt = time.Now()
	}
	var firstErr error
	for running := len(runners); running > 0; {
		select {
		case err := <-done:
			running--
			if err != nil && firstErr == nil {
				firstErr = err
				cancel() // one direction stopped: stop the other too
			}
		case <-hup:
			for _, r := range runners {
				r.Resume()
			}
		case <-tick:
			print()
		}
	}
	print()
	if firstErr != nil {
		return &exitError{code: 3, err: firstErr}
	}
	return nil
}

func printProgress(out io.Writer, s, prev pipeline.Status, since time.Duration, named bool) {
	rate := 0.0
	if secs := since.Seconds(); secs > 0 {
		rate = float64(s.RowsApplied-prev.RowsApplied) / secs
	}
	line := time.Now().Format("15:04:05")
	if named {
		line += " " + s.Name
	}
	line += fmt.Sprintf(" state=%s txns=%d rows=%d rows/s=%.0f lag=%s position=%s",
		s.State, s.TxnsApplied, s.RowsApplied, rate, s.Lag.Round(time.Millisecond), s.Position)
	if s.Conflicts > 0 {
		line += fmt.Sprintf(" conflicts=%d", s.Conflicts)
	}
	if c := s.Copy; c != nil && !c.Done {
		line += " " + copyProgress(c)
	}
	if s.Error != "" && (s.State == pipeline.Paused || s.State == pipeline.Retrying) {
		line += " error=" + s.Error
	}
	fmt.Fprintln(out, line)
}

// copyProgress formats the initial copy's progress for a progress line.
func copyProgress(c *snapshot.Progress) string {
	pct := 0.0
	if c.RowsEstimated > 0 {
		pct = min(100, 100*float64(c.RowsCopied)/float64(c.RowsEstimated))
	}
	s := fmt.Sprintf("copy: tables=%d/%d rows=%d/~%d (%.0f%%) copy_rows/s=%.0f", c.TablesDone, c.TablesTotal, c.RowsCopied, c.RowsEstimated, pct, c.Rate)
	if c.ETA > 0 {
		s += " eta=" + c.ETA.String()
	}
	return s
}
