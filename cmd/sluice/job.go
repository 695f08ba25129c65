package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/server"
	"github.com/sluice-db/sluice/store"
)

// jobFlags are the options every job subcommand shares.
type jobFlags struct {
	meta string
	data string
}

func (f *jobFlags) open(ctx context.Context) (*store.Store, error) {
	meta := f.meta
	if meta == "" {
		meta = server.DefaultMeta(f.data)
	}
	return store.Open(ctx, meta, store.Options{})
}

func newJobCommand(g *globalFlags) *cobra.Command {
	f := &jobFlags{}
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Add, list, pause, resume and delete scheduled jobs, and read their runs",
		Long: `Jobs are rows of the jobs table in the meta store (see docs/jobs.md): this
command, the REST API and plain SQL all edit the same rows, and a running
server picks up every change within a second.`,
	}
	cmd.PersistentFlags().StringVar(&f.meta, "meta", "", "meta store: mysql://user:pass@host:port/db or sqlite:path (default: sluice.db in --data)")
	cmd.PersistentFlags().StringVar(&f.data, "data", "sluice-data", "data directory of a single-node server")
	cmd.AddCommand(newJobAddCommand(f), newJobListCommand(f), newJobRunsCommand(f), newJobNextCommand(f),
		newJobSetPausedCommand(f, "pause", true), newJobSetPausedCommand(f, "resume", false), newJobDeleteCommand(f))
	_ = g
	return cmd
}

// findJob finds a job by name, or by id when the argument is a number that
// names no job.
func findJob(ctx context.Context, st *store.Store, arg string) (store.Job, error) {
	j, err := st.JobByName(ctx, arg)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return j, err
	}
	if id, perr := strconv.ParseInt(arg, 10, 64); perr == nil {
		return st.Job(ctx, id)
	}
	return j, err
}

type jobAddOptions struct {
	job          store.Job
	misfire      string
	config       string
	url, method  string
	headers      []string
	body         string
	expectStatus []int
	dataSource   string
	statement    string
	command      string
	replace      bool
}

func newJobAddCommand(f *jobFlags) *cobra.Command {
	o := &jobAddOptions{job: store.JobDefaults()}
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a job (or replace one of the same name with --replace)",
		Example: `  sluice job add --name ping --schedule '*/10 * * * * *' --kind http --url http://127.0.0.1:9000/ping
  sluice job add --name nightly --schedule '30 2 * * *' --tz Europe/Berlin --kind sql \
      --data-source dc1 --sql 'DELETE FROM shop.carts WHERE updated_at < NOW() - INTERVAL 30 DAY'
  sluice job add --name check-orders --schedule @hourly --kind check \
      --config '{"source":"dc1","target":"dc2","tables":["shop.orders"]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			j, err := o.build()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			st, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := schedule.Compile(j, schedule.DefaultKinds(st, true, nil)); err != nil {
				return err
			}
			verb := "added"
			if old, err := st.JobByName(ctx, j.Name); err == nil && o.replace {
				j.ID = old.ID
				if err := st.UpdateJob(ctx, j); err != nil {
					return err
				}
				verb = "replaced"
			} else if err == nil {
				return fmt.Errorf("job %q exists (id %d); use --replace to change it", j.Name, old.ID)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			} else if j.ID, err = st.CreateJob(ctx, j); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s job %q (id %d)\n", verb, j.Name, j.ID)
			if j.Kind == "shell" {
				fmt.Fprintln(out, "note: shell jobs run only on nodes started with --enable-shell-jobs")
			}
			next, _ := schedule.Preview(j, time.Now(), 3)
			printNext(out, next, j.TimeZone)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.job.Name, "name", "", "job name (unique)")
	fl.StringVar(&o.job.Description, "description", "", "what the job is for")
	fl.StringVar(&o.job.Schedule, "schedule", "", "cron spec (5 or 6 fields), @every 1m, @hourly..., or @at 2026-01-02 03:04")
	fl.StringVar(&o.job.TimeZone, "tz", "UTC", "IANA time zone the schedule is read in")
	fl.StringVar(&o.job.Kind, "kind", "", "http, sql, shell or check")
	fl.StringVar(&o.config, "config", "", "the kind's config as JSON (instead of the kind's flags)")
	fl.StringVar(&o.url, "url", "", "http: URL")
	fl.StringVar(&o.method, "method", "GET", "http: method")
	fl.StringArrayVar(&o.headers, "header", nil, "http: header 'Name: value' (repeatable)")
	fl.StringVar(&o.body, "body", "", "http: request body")
	fl.IntSliceVar(&o.expectStatus, "expect-status", nil, "http: statuses that mean success (default any 2xx)")
	fl.StringVar(&o.dataSource, "data-source", "", "sql: data source name")
	fl.StringVar(&o.statement, "sql", "", "sql: statement")
	fl.StringVar(&o.command, "command", "", "shell: command for /bin/sh -c")
	fl.StringVar(&o.misfire, "misfire", "fire_once", "fires missed while no node ran: skip, fire_once or catch_up:N")
	fl.DurationVar(&o.job.MisfireThreshold, "misfire-threshold", 5*time.Second, "how late a fire may start and still be on time")
	fl.StringVar(&o.job.OverlapPolicy, "overlap", "allow", "when the previous run is still going: allow, forbid, replace or queue")
	fl.IntVar(&o.job.MaxRetries, "retries", 0, "retries of a failed attempt")
	fl.DurationVar(&o.job.RetryBackoff, "retry-backoff", time.Second, "wait before the first retry (doubles each time)")
	fl.DurationVar(&o.job.Timeout, "timeout", 0, "cancel an attempt after this long (0: no timeout)")
	fl.StringVar(&o.job.AlertURL, "alert-url", "", "webhook for failures and missed fires")
	fl.BoolVar(&o.job.Paused, "paused", false, "add the job paused")
	fl.BoolVar(&o.replace, "replace", false, "replace a job of the same name")
	return cmd
}

func (o *jobAddOptions) build() (store.Job, error) {
	j := o.job
	if j.Name == "" || j.Schedule == "" || j.Kind == "" {
		return j, errors.New("job add: --name, --schedule and --kind are required")
	}
	policy, n, _ := strings.Cut(o.misfire, ":")
	j.MisfirePolicy = policy
	if n != "" {
		v, err := strconv.Atoi(n)
		if err != nil {
			return j, fmt.Errorf("--misfire %q: N must be a number", o.misfire)
		}
		j.MisfireCatchUp = v
	}
	if o.config != "" {
		j.Config = o.config
		return j, nil
	}
	var cfg any
	switch j.Kind {
	case "http":
		h := schedule.HTTPConfig{Method: o.method, URL: o.url, Body: o.body, ExpectStatus: o.expectStatus}
		for _, kv := range o.headers {
			k, v, ok := strings.Cut(kv, ":")
			if !ok {
				return j, fmt.Errorf("--header %q: want 'Name: value'", kv)
			}
			if h.Headers == nil {
				h.Headers = map[string]string{}
			}
			h.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		cfg = h
	case "sql":
		cfg = schedule.SQLConfig{DataSource: o.dataSource, Statement: o.statement}
	case "shell":
		cfg = schedule.ShellConfig{Command: o.command}
	default:
		return j, fmt.Errorf("job add: kind %s takes its options as --config JSON", j.Kind)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return j, err
	}
	j.Config = string(b)
	return j, nil
}

func printNext(out io.Writer, next []time.Time, tz string) {
	loc, err := schedule.LoadZone(tz)
	if err != nil {
		loc = time.UTC
	}
	if len(next) == 0 {
		fmt.Fprintln(out, "next fires: none")
		return
	}
	fmt.Fprintln(out, "next fires:")
	for _, t := range next {
		fmt.Fprintf(out, "  %s  (%s)\n", t.In(loc).Format("2006-01-02 15:04:05 MST"), t.UTC().Format(time.RFC3339))
	}
}

func newJobListCommand(f *jobFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List jobs with their next fire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			jobs, err := st.Jobs(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tKIND\tSCHEDULE\tTZ\tSTATE\tNEXT FIRE")
			now := time.Now()
			for _, j := range jobs {
				state, next := "active", ""
				if j.Paused {
					state = "paused"
				}
				if _, err := schedule.Compile(j, schedule.DefaultKinds(st, true, nil)); err != nil {
					state = "invalid: " + err.Error()
				} else if ts, _ := schedule.Preview(j, now, 1); len(ts) > 0 && !j.Paused {
					loc, _ := schedule.LoadZone(j.TimeZone)
					next = ts[0].In(loc).Format("2006-01-02 15:04:05 MST")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Name, j.Kind, j.Schedule, j.TimeZone, state, next)
			}
			return tw.Flush()
		},
	}
}

func newJobRunsCommand(f *jobFlags) *cobra.Command {
	var limit int
	var output bool
	cmd := &cobra.Command{
		Use:   "runs JOB",
		Short: "Show a job's latest runs, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			j, err := findJob(ctx, st, args[0])
			if err != nil {
				return err
			}
			rs, err := st.JobRuns(ctx, j.ID, limit)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSCHEDULED (UTC)\tSTATUS\tATTEMPT\tNODE\tDELAY\tDURATION\tERROR")
			for _, r := range rs {
				delay, took := "", ""
				if !r.StartedAt.IsZero() {
					delay = r.StartedAt.Sub(r.ScheduledTime).Round(time.Millisecond).String()
					if !r.FinishedAt.IsZero() {
						took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
					}
				}
				errText := strings.ReplaceAll(r.Error, "\n", " ")
				if len(errText) > 80 {
					errText = errText[:77] + "..."
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.ScheduledTime.Format("2006-01-02 15:04:05.000"), r.Status, r.Attempt, r.NodeID, delay, took, errText)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if output {
				for _, r := range rs {
					fmt.Fprintf(out, "\n--- run %d output ---\n%s\n", r.ID, r.Output)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	cmd.Flags().BoolVar(&output, "output", false, "also print each run's output")
	return cmd
}

func newJobNextCommand(f *jobFlags) *cobra.Command {
	var count int
	var spec, tz string
	cmd := &cobra.Command{
		Use:   "next [JOB]",
		Short: "Preview a job's next fires (or a --schedule's, without a job)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			j := store.Job{Name: "preview", Schedule: spec, TimeZone: tz}
			if len(args) == 1 {
				st, err := f.open(ctx)
				if err != nil {
					return err
				}
				defer st.Close()
				if j, err = findJob(ctx, st, args[0]); err != nil {
					return err
				}
			} else if spec == "" {
				return errors.New("job next: name a job or give --schedule")
			}
			next, err := schedule.Preview(j, time.Now(), count)
			if err != nil {
				return err
			}
			printNext(cmd.OutOrStdout(), next, j.TimeZone)
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 5, "how many fires")
	cmd.Flags().StringVar(&spec, "schedule", "", "a schedule to preview instead of a job's")
	cmd.Flags().StringVar(&tz, "tz", "UTC", "time zone of --schedule")
	return cmd
}

func newJobSetPausedCommand(f *jobFlags, verb string, paused bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " JOB",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			j, err := findJob(ctx, st, args[0])
			if err != nil {
				return err
			}
			if err := st.SetJobPaused(ctx, j.ID, paused); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%sd job %q\n", verb, j.Name)
			return nil
		},
	}
}

func newJobDeleteCommand(f *jobFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete JOB",
		Short: "Delete a job (its runs stay until retention removes them)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := f.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			j, err := findJob(ctx, st, args[0])
			if err != nil {
				return err
			}
			if err := st.DeleteJob(ctx, j.ID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted job %q\n", j.Name)
			return nil
		},
	}
}
