package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/internal/demo"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
	"github.com/sluice-db/sluice/pipeline"
)

type demoFlags struct {
	rate     int
	duration time.Duration
	dir      string
}

func newDemoCommand(g *globalFlags) *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a sync between two throwaway local MariaDB servers",
		Long: `demo starts two throwaway MariaDB servers on 127.0.0.1 (mariadbd must be
installed), fills the first with a sample shop database, runs a light write
load on it, and syncs it to the second with a sluice pipeline, printing
progress and lag. Ctrl-C stops the load, lets the target catch up, compares
the two copies and removes the servers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return runDemo(cmd.Context(), f, cmd.OutOrStdout(), log)
		},
	}
	cmd.Flags().IntVar(&f.rate, "rate", 20, "write transactions per second on the source")
	cmd.Flags().DurationVar(&f.duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	cmd.Flags().StringVar(&f.dir, "dir", "", "where the servers' files go (default: a temporary directory)")
	return cmd
}

func runDemo(ctx context.Context, f *demoFlags, out io.Writer, log *slog.Logger) error {
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	dir := f.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	// The servers must outlive ctx (cancelled by Ctrl-C) long enough to
	// compare the copies.
	bg := context.Background()
	fmt.Fprintln(out, "starting two MariaDB servers on 127.0.0.1 ...")
	src, err := testdb.New(bg, testdb.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer src.Close()
	tgt, err := testdb.New(bg, testdb.Options{Dir: dir, NoBinlog: true})
	if err != nil {
		return err
	}
	defer tgt.Close()
	fmt.Fprintf(out, "source: %s\ntarget: %s\n", src.URL(), tgt.URL())

	srcDB, err := src.Open("")
	if err != nil {
		return err
	}
	defer srcDB.Close()
	if err := demo.Seed(bg, srcDB, 500, 200); err != nil {
		return err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadErr := make(chan error, 1)
	go func() { loadErr <- demo.Load(loadCtx, srcDB, f.rate) }()
	fmt.Fprintf(out, "writing about %d transactions/s to the source; Ctrl-C to stop\n", f.rate)

	cfg := &pipeline.Config{
		Name:   "demo",
		Source: src.URL(),
		Target: tgt.URL(),
		From:   "start",
		Tables: []pipeline.TableRule{{Source: "shop.*"}},
	}
	flags := &syncFlags{progressEach: 2 * time.Second}
	syncCtx, stopSync := context.WithCancel(bg)
	defer stopSync()
	syncDone := make(chan error, 1)
	go func() {
		syncDone <- runSync(syncCtx, []*pipeline.Config{cfg}, flags, out, log)
	}()

	select {
	case <-ctx.Done():
	case err := <-syncDone:
		return err
	case err := <-loadErr:
		if err != nil {
			return err
		}
	}
	stopLoad()
	fmt.Fprintln(out, "stopping the load; waiting for the target to catch up ...")
	tgtDB, err := tgt.Open("")
	if err != nil {
		return err
	}
	defer tgtDB.Close()
	equal, report := waitEqual(bg, srcDB, tgtDB, []string{"shop.customers", "shop.products", "shop.orders"}, 60*time.Second)
	stopSync()
	<-syncDone
	fmt.Fprint(out, report)
	if !equal {
		return errors.New("the copies differ")
	}
	fmt.Fprintln(out, "source and target are identical.")
	return nil
}

// waitEqual compares row counts and CHECKSUM TABLE of the tables until they
// match or the timeout passes.
func waitEqual(ctx context.Context, a, b *sql.DB, tables []string, timeout time.Duration) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		var sb strings.Builder
		equal := true
		for _, t := range tables {
			ca, ka := tableSummary(ctx, a, t)
			cb, kb := tableSummary(ctx, b, t)
			mark := "="
			if ca != cb || ka != kb {
				mark = "!="
				equal = false
			}
			fmt.Fprintf(&sb, "  %-16s source rows=%s checksum=%s %s target rows=%s checksum=%s\n", t, ca, ka, mark, cb, kb)
		}
		if equal || time.Now().After(deadline) {
			return equal, sb.String()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func tableSummary(ctx context.Context, db *sql.DB, table string) (count, checksum string) {
	schema, name, _ := strings.Cut(table, ".")
	q := sqlbuild.QuoteTable(schema, name)
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q).Scan(&count); err != nil {
		return "error", err.Error()
	}
	var tname string
	var sum sql.NullString
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+q).Scan(&tname, &sum); err != nil {
		return count, "error"
	}
	return count, sum.String
}
