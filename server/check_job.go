package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sluice-db/sluice/check"
	"github.com/sluice-db/sluice/mysql/source"
	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

// CheckRunner runs check jobs with the check package: the job's source and
// target name data sources of the meta store, whose sealed passwords are
// opened here. The report goes to the run's output; differences fail the
// run (so they raise a job.failed alert).
func CheckRunner(st *store.Store, log *slog.Logger) schedule.CheckRunner {
	return func(ctx context.Context, cfg schedule.CheckConfig, out io.Writer) error {
		opts := check.Options{
			Tables:           cfg.Tables,
			ExcludeColumns:   cfg.ExcludeColumns,
			TargetPosition:   check.PositionMode(cfg.TargetPosition),
			Pipeline:         cfg.Pipeline,
			MaxRowsPerSecond: cfg.MaxRowsPerSecond,
			Repair:           check.RepairMode(cfg.Repair),
			Logger:           log,
		}
		var err error
		if opts.Source, err = sourceConfig(ctx, st, cfg.Source); err != nil {
			return err
		}
		if opts.Target, err = sourceConfig(ctx, st, cfg.Target); err != nil {
			return err
		}
		for _, m := range cfg.Map {
			r, err := check.ParseMapRule(m)
			if err != nil {
				return err
			}
			opts.Map = append(opts.Map, r)
		}
		if cfg.ChunkTime != "" {
			if opts.ChunkTime, err = time.ParseDuration(cfg.ChunkTime); err != nil {
				return fmt.Errorf("chunk_time: %w", err)
			}
		}
		rep, err := check.Run(ctx, opts)
		if err != nil {
			return fmt.Errorf("check %s against %s: %w", cfg.Source, cfg.Target, err)
		}
		if err := rep.WriteText(out); err != nil {
			return fmt.Errorf("write check report: %w", err)
		}
		switch rep.ExitStatus() {
		case 0:
			return nil
		case 1:
			_, missing, extra, different, _ := rep.Totals()
			return fmt.Errorf("check %s against %s found differences: %d missing, %d extra, %d different rows", cfg.Source, cfg.Target, missing, extra, different)
		}
		return errors.New("check could not compare some tables; see the output")
	}
}

// sourceConfig turns a named data source into the check package's
// connection settings.
func sourceConfig(ctx context.Context, st *store.Store, name string) (source.Config, error) {
	d, err := st.DataSource(ctx, name)
	if err != nil {
		return source.Config{}, err
	}
	return dataSourceConfig(d)
}
