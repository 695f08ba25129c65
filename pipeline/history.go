package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/schema"
	"github.com/sluice-db/sluice/mysql/source"
)

// openHistory opens the pipeline's schema history, persisted in the
// target's state schema, in the state it had at the checkpoint: a restart
// decodes old events with the definitions of their time. It tracks only the
// tables the pipeline selects.
func openHistory(ctx context.Context, cfg *Config, flavor change.Flavor, target *sql.DB, at change.Position, wanted func(schema, table string) bool, log *slog.Logger) (*schema.History, error) {
	store, err := schema.NewMySQLStore(ctx, target, cfg.StateSchema, "schema_history")
	if err != nil {
		return nil, fmt.Errorf("open schema history store in the target: %w", err)
	}
	opts := schema.Options{
		Name:   cfg.Name,
		Flavor: flavor,
		Store:  store,
		Logger: log,
		Filter: wanted,
	}
	h, err := schema.Open(ctx, opts, at)
	if err != nil {
		return nil, fmt.Errorf("open schema history at %s: %w", at, err)
	}
	return h, nil
}

// sourceFlavor asks the source whether it is MySQL or MariaDB.
func sourceFlavor(ctx context.Context, src source.Config) (change.Flavor, error) {
	db, err := sql.Open("mysql", src.DSN())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return 0, fmt.Errorf("connect to source %s: %w", src, err)
	}
	if strings.Contains(strings.ToLower(v), "mariadb") {
		return change.MariaDB, nil
	}
	return change.MySQL, nil
}
