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
			cfg, err := f.pipelineConfig()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			log, err := g.logger()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return runSync(cmd.Context(), cfg, f, cmd.OutOrStdout(), log)
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
	return cmd
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

// runSync runs a pipeline in the foreground and prints its progress.
func runSync(ctx context.Context, cfg *pipeline.Config, f *syncFlags, out io.Writer, log *slog.Logger) error {
	runner, err := pipeline.NewRunner(cfg, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	// SIGHUP resumes a paused pipeline.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx, f.exitOnPause) }()
	var tick <-chan time.Time
	if f.progressEach > 0 {
		t := time.NewTicker(f.progressEach)
		defer t.Stop()
		tick = t.C
	}
	fmt.Fprintf(out, "pipeline %s: %s -> %s\n", cfg.Name, source.Redact(cfg.Source), source.Redact(cfg.Target))
	var last pipeline.Status
	lastAt := time.Now()
	for {
		select {
		case err := <-done:
			printProgress(out, runner.Status(), last, time.Since(lastAt))
			if err != nil {
				return &exitError{code: 3, err: err}
			}
			return nil
		case <-hup:
			runner.Resume()
		case <-tick:
			s := runner.Status()
			printProgress(out, s, last, time.Since(lastAt))
			last, lastAt = s, time.Now()
		}
	}
}

func printProgress(out io.Writer, s, prev pipeline.Status, since time.Duration) {
	rate := 0.0
	if secs := since.Seconds(); secs > 0 {
		rate = float64(s.RowsApplied-prev.RowsApplied) / secs
	}
	line := fmt.Sprintf("%s state=%s txns=%d rows=%d rows/s=%.0f lag=%s position=%s",
		time.Now().Format("15:04:05"), s.State, s.TxnsApplied, s.RowsApplied, rate, s.Lag.Round(time.Millisecond), s.Position)
	if s.Error != "" && (s.State == pipeline.Paused || s.State == pipeline.Retrying) {
		line += " error=" + s.Error
	}
	fmt.Fprintln(out, line)
}
