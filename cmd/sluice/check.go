package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/check"
	"github.com/sluice-db/sluice/mysql/source"
)

func newCheckCommand(g *globalFlags) *cobra.Command {
	var (
		src, tgt, format, repair, repairOut, position, hash string
		markTable, markColumns, markOrigin, channel         string
		tables, maps, exclude                               []string
		o                                                   check.Options
	)
	cmd := &cobra.Command{
		Use:   "check --source URL --target URL --tables 'shop.*'",
		Short: "Compare a target with its source, and repair what differs",
		Long: `Compare source and target tables in key-range chunks with checksums computed
inside each server, narrow mismatches down to rows and report them. Rows in
flight are re-checked once the target has applied the source position they
were read at. Exit status: 0 equal, 1 differences found, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			o.Logger = log
			if o.Source, err = source.Parse(src); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--source: %w", err)}
			}
			if o.Target, err = source.Parse(tgt); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--target: %w", err)}
			}
			o.Tables = splitList(tables)
			o.ExcludeColumns = splitList(exclude)
			for _, m := range splitList(maps) {
				r, err := check.ParseMapRule(m)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--map: %w", err)}
				}
				o.Map = append(o.Map, r)
			}
			o.TargetPosition = check.PositionMode(position)
			o.Hash = hash
			if format != "text" && format != "json" {
				return &exitError{code: 2, err: fmt.Errorf("--format must be text or json, not %q", format)}
			}
			report := cmd.OutOrStdout()
			switch repair {
			case "", "none":
			case "print":
				o.Repair = check.RepairPrint
				if repairOut == "" || repairOut == "-" {
					// The SQL takes stdout so that it can be piped to a
					// client; the report moves to stderr.
					o.RepairOutput = cmd.OutOrStdout()
					report = cmd.ErrOrStderr()
				} else {
					f, err := os.Create(repairOut)
					if err != nil {
						return &exitError{code: 2, err: fmt.Errorf("--repair-output: %w", err)}
					}
					defer f.Close()
					o.RepairOutput = f
				}
			case "apply":
				o.Repair = check.RepairApply
			default:
				return &exitError{code: 2, err: fmt.Errorf("--repair must be print or apply, not %q", repair)}
			}
			if channel != "" || cmd.Flags().Changed("mark-table") {
				m, err := parseMark(markTable, channel, markOrigin, markColumns)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				o.Mark = m
			}
			rep, err := check.Run(cmd.Context(), o)
			if rep != nil {
				if werr := writeReport(report, rep, format); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if code := rep.ExitStatus(); code != 0 {
				var why error
				if code == 2 {
					why = errors.New("some tables could not be checked")
				}
				return &exitError{code: code, err: why}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&src, "source", "", "source data source URL, mysql://user:pass@host:port")
	f.StringVar(&tgt, "target", "", "target data source URL")
	f.StringSliceVar(&tables, "tables", nil, "source tables to check: schema.table patterns with * and ?, comma-separated")
	f.StringArrayVar(&maps, "map", nil, "rename on the target, from:to, e.g. 'shop.*:shop_copy.*' (repeatable)")
	f.StringSliceVar(&exclude, "exclude-columns", nil, "columns left out, schema.table.column (source names), comma-separated")
	f.StringVar(&position, "target-position", "auto", "how the target's applied source position is learned: auto, pipeline, replica or none")
	f.StringVar(&o.Pipeline, "pipeline", "", "the sluice pipeline that feeds the target: its checkpoint row tells the target's position")
	f.StringVar(&o.CheckpointSchema, "checkpoint-schema", "sluice", "schema of the pipeline's checkpoint table in the target")
	f.DurationVar(&o.WaitTimeout, "wait-timeout", 5*time.Minute, "longest wait for the target to apply a source position")
	f.DurationVar(&o.ChunkTime, "chunk-time", 500*time.Millisecond, "time one chunk checksum should take; chunk sizes adapt to it")
	f.Int64Var(&o.InitialChunkRows, "chunk-size", 2000, "rows in the first chunk")
	f.Int64Var(&o.MaxRowsPerSecond, "max-rows-per-second", 0, "cap on source rows read per second (0: none)")
	f.Int64Var(&o.MaxThreadsRunning, "max-threads-running", 25, "pause while the source's Threads_running is above this (0: never)")
	f.IntVar(&o.Parallel, "parallel", 2, "chunk checksums running at once on each server")
	f.Int64Var(&o.LeafRows, "leaf-rows", 10000, "a mismatching range this small has its per-row hashes compared")
	f.StringVar(&o.StateFile, "state", "", "file that keeps progress so that a killed check resumes from its last chunk")
	f.StringVar(&o.StateName, "state-name", "", "keep progress in the target's sluice.check_progress under this name, so that a killed check resumes from any machine")
	f.StringVar(&o.StateSchema, "state-schema", "sluice", "schema of check_progress in the target, for --state-name")
	f.StringVar(&format, "format", "text", "report format: text or json")
	f.StringVar(&repair, "repair", "", "print: write repair SQL; apply: apply it, guarded, to the target")
	f.StringVar(&repairOut, "repair-output", "", "file for --repair=print (default stdout, and the report goes to stderr)")
	f.StringVar(&channel, "channel", "", "two-way channel: every repair transaction also writes a mark row naming it, so the channel does not send the repair back")
	f.StringVar(&markTable, "mark-table", "sluice.mark", "the channel's mark table on the target (schema.table)")
	f.StringVar(&markOrigin, "mark-origin", "sluice-check", "origin written in the mark row (in a star or mesh, the source's site)")
	f.StringVar(&markColumns, "mark-columns", "channel=channel,pipeline=pipeline,worker=worker,origin=origin,counter=n",
		"the mark table's columns; '-' leaves pipeline, worker or origin out")
	f.StringVar(&hash, "hash", "auto", "row hash: auto, crc (CRC32+CRC32C, MariaDB 10.8+) or md5")
	_ = cmd.MarkFlagRequired("source")
	_ = cmd.MarkFlagRequired("target")
	_ = cmd.MarkFlagRequired("tables")
	return cmd
}

// parseMark builds the mark options from --mark-table, --channel,
// --mark-origin and --mark-columns ("channel=c,pipeline=p,worker=w,
// origin=o,counter=n"; "-" leaves an optional column out).
func parseMark(table, channel, origin, columns string) (*check.Mark, error) {
	if channel == "" {
		return nil, errors.New("--mark-table needs --channel, the two-way channel's name")
	}
	m := &check.Mark{Table: table, Channel: channel, Origin: origin}
	for _, kv := range splitList([]string{columns}) {
		k, v, ok := strings.Cut(kv, "=")
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			return nil, fmt.Errorf("--mark-columns: %q must be key=column", kv)
		}
		switch strings.TrimSpace(k) {
		case "channel":
			m.Columns.Channel = v
		case "pipeline":
			m.Columns.Writer = v
		case "worker":
			m.Columns.Worker = v
		case "origin":
			m.Columns.Origin = v
		case "counter":
			m.Columns.Counter = v
		default:
			return nil, fmt.Errorf("--mark-columns: unknown key %q (want channel, pipeline, worker, origin or counter)", k)
		}
	}
	return m, nil
}

func writeReport(w io.Writer, rep *check.Report, format string) error {
	if format == "json" {
		return rep.WriteJSON(w)
	}
	return rep.WriteText(w)
}

func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
