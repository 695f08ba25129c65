package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/internal/demo"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
	"github.com/sluice-db/sluice/server"
)

type demoFlags struct {
	rate     int
	duration time.Duration
	dir      string
	listen   string
	password string
}

func newDemoCommand(g *globalFlags) *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Sync two throwaway local MariaDB servers, with the console up",
		Long: `demo starts two throwaway MariaDB servers on 127.0.0.1 (mariadbd must be
installed) and a sluice server with its web console. It fills the first
MariaDB with a sample shop database, runs a light write load on it, and
creates and starts a pipeline that copies the existing rows to the second
and then follows the binlog, through the server's API, as a user would in
the console. It prints the console's address and login, and the pipeline's
progress and lag. Ctrl-C stops the load, lets the target catch up, compares
the two copies and removes everything.`,
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
	cmd.Flags().StringVar(&f.listen, "listen", "127.0.0.1:8440", "address of the console and API")
	cmd.Flags().StringVar(&f.password, "admin-password", "sluice-demo", "password of the console's admin user")
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
	// The servers outlive ctx (cancelled by Ctrl-C) long enough to compare
	// the copies.
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
	srcDB, err := src.Open("")
	if err != nil {
		return err
	}
	defer srcDB.Close()
	if err := demo.Seed(bg, srcDB, 500, 200); err != nil {
		return err
	}

	// The sluice server: meta store, API, console.
	srvCtx, stopServer := context.WithCancel(bg)
	defer stopServer()
	srv, err := server.New(srvCtx, server.Config{
		DataDir: filepath.Join(dir, "sluice"), Listen: f.listen, Logger: log, Version: version,
		AdminUser: "admin", AdminPassword: f.password, BcryptCost: 10,
	})
	if err != nil {
		return err
	}
	ready := make(chan string, 1)
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Run(srvCtx, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-srvDone:
		return fmt.Errorf("sluice server: %w", err)
	}
	api, err := newDemoAPI("http://"+addr, "admin", f.password)
	if err != nil {
		return err
	}
	for _, ds := range []struct {
		name string
		s    *testdb.Server
	}{{"shop-source", src}, {"shop-target", tgt}} {
		if err := api.do("POST", "/api/v1/data-sources", map[string]any{
			"name": ds.name, "host": ds.s.Host, "port": ds.s.Port, "user": ds.s.User, "password": ds.s.Password}, nil); err != nil {
			return err
		}
	}
	if err := api.do("POST", "/api/v1/pipelines", map[string]any{
		"name": "demo", "source": "shop-source", "target": "shop-target",
		"description": "the demo's shop database, copied and then followed",
		"config":      map[string]any{"tables": []map[string]string{{"source": "shop.*"}}},
	}, nil); err != nil {
		return err
	}
	if err := api.do("POST", "/api/v1/pipelines/demo/start", nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nconsole: http://%s  (user admin, password %s)\nsource:  %s\ntarget:  %s\n\n", addr, f.password, src.URL(), tgt.URL())

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadErr := make(chan error, 1)
	go func() { loadErr <- demo.Load(loadCtx, srcDB, f.rate) }()
	fmt.Fprintf(out, "writing about %d transactions/s to the source; Ctrl-C to stop\n", f.rate)

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-srvDone:
			return fmt.Errorf("sluice server stopped: %w", err)
		case err := <-loadErr:
			if err != nil {
				return err
			}
			break loop
		case <-tick.C:
			var p struct {
				Status map[string]any `json:"status"`
			}
			if err := api.do("GET", "/api/v1/pipelines/demo", nil, &p); err != nil {
				fmt.Fprintln(out, "status:", err)
				continue
			}
			s := p.Status
			line := fmt.Sprintf("%s pipeline demo: state=%v rows=%v rows/s=%.0f lag=%.3fs", time.Now().Format("15:04:05"),
				s["state"], s["rows_applied"], num(s["rows_per_second"]), num(s["lag_seconds"]))
			if c, ok := s["copy"].(map[string]any); ok && c["done"] != true {
				line += fmt.Sprintf(" copy=%v/%v rows", c["rows_copied"], c["rows_estimated"])
			}
			if e, _ := s["error"].(string); e != "" {
				line += " error=" + e
			}
			fmt.Fprintln(out, line)
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
	stopServer()
	<-srvDone
	fmt.Fprint(out, report)
	if !equal {
		return errors.New("the copies differ")
	}
	fmt.Fprintln(out, "source and target are identical.")
	return nil
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// demoAPI is a logged-in client of the sluice server's API, as the console
// is: a session cookie and the CSRF header.
type demoAPI struct {
	base   string
	client *http.Client
	csrf   string
}

func newDemoAPI(base, user, password string) (*demoAPI, error) {
	jar, _ := cookiejar.New(nil)
	a := &demoAPI{base: base, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	if err := a.do("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": password}, nil); err != nil {
		return nil, fmt.Errorf("log in to the sluice server: %w", err)
	}
	var me struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := a.do("GET", "/api/v1/me", nil, &me); err != nil {
		return nil, err
	}
	a.csrf = me.CSRFToken
	return a, nil
}

func (a *demoAPI) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
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
