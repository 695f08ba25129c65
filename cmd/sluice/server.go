package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/server"
)

func newServerCommand(g *globalFlags) *cobra.Command {
	var cfg server.Config
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a sluice node: the meta store, the scheduler and the HTTP server",
		Long: `Run a sluice node. The meta store holds jobs, runs, nodes and data sources:
a SQLite file in --data by default, or --meta mysql://user:pass@host:port/db so
that several nodes share it (each job fire then runs on exactly one node).

Data source passwords are sealed with the key in --secret-key-file or
SLUICE_SECRET_KEY (64 hex digits); without either, a key is generated in --data
on first start. Nodes sharing a meta store need the same key.

The REST API is under /api/v1 (described by /openapi.yaml), Prometheus
metrics at /metrics, liveness at /healthz. On a meta store without users the
first admin is created: its password is --admin-password, or
SLUICE_ADMIN_PASSWORD, or else generated and printed once to stderr.
Pipelines marked running are run by one node each (see docs/server.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Version = log, version
			s, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return s.Run(cmd.Context(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Meta, "meta", "", "meta store: mysql://user:pass@host:port/db or sqlite:path (default: sluice.db in --data)")
	f.StringVar(&cfg.DataDir, "data", "sluice-data", "data directory")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8440", "HTTP listen address")
	f.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "file with the key that seals data source passwords (or set SLUICE_SECRET_KEY)")
	f.BoolVar(&cfg.EnableShellJobs, "enable-shell-jobs", false, "allow jobs of kind shell to run on this node")
	f.StringVar(&cfg.AlertWebhook, "alert-webhook", "", "URL that receives alerts (pipeline lag and pauses, check differences, failed jobs without their own alert_url) until changed in the alert settings")
	f.StringVar(&cfg.NodeID, "node-id", "", "name of this node in the nodes table (default: host-pid-random)")
	f.StringVar(&cfg.AdminUser, "admin-user", "admin", "name of the first admin, created when the meta store has no users")
	f.StringVar(&cfg.AdminPassword, "admin-password", "", "password of the first admin (or set "+server.AdminPasswordEnv+"; default: generated and printed once)")
	f.StringVar(&cfg.MetricsToken, "metrics-token", "", "require Authorization: Bearer TOKEN on /metrics (default: public)")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "serve HTTPS with this certificate file (with --tls-key)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "serve HTTPS with this key file (with --tls-cert)")
	f.BoolVar(&cfg.SecureCookies, "secure-cookies", false, "mark session cookies Secure on plain HTTP (behind a proxy that terminates TLS)")
	f.DurationVar(&cfg.PipelineLease, "pipeline-lease", 15*time.Second, "how long a node holds a pipeline without renewing it; another node takes it over after that")
	f.DurationVar(&cfg.Scheduler.RunRetention, "run-retention", 7*24*time.Hour, "how long finished job runs are kept (each job's latest is always kept)")
	return cmd
}
