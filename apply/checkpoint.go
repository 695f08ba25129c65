package apply

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// Checkpoint is a pipeline's progress as recorded in the target: the source
// position up to which the target holds every change (docs/target-schema.md).
type Checkpoint struct {
	Pipeline string
	Epoch    uint64
	Position change.Position
	// SourceTime is the commit time of the last applied transaction.
	SourceTime time.Time
	// PendingDDL is the end position ("file:pos") of a DDL that was started
	// but not recorded as done: after a crash it may or may not have run.
	PendingDDL string
	UpdatedAt  time.Time
}

// checkpointDDL creates the state schema and the checkpoint table.
func checkpointDDL(schema string) []string {
	q := sqlbuild.QuoteIdent(schema)
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + q,
		"CREATE TABLE IF NOT EXISTS " + q + ".`checkpoint` (" +
			"`pipeline` VARCHAR(191) NOT NULL," +
			"`epoch` BIGINT UNSIGNED NOT NULL," +
			"`binlog_file` VARCHAR(255) NOT NULL DEFAULT ''," +
			"`binlog_pos` BIGINT UNSIGNED NOT NULL DEFAULT 0," +
			"`gtid` TEXT NOT NULL," +
			"`source_ts` DATETIME(6) NULL," +
			"`pending_ddl` VARCHAR(300) NULL," +
			"`updated_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)," +
			"PRIMARY KEY (`pipeline`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		// The source's heartbeat rows land here, so that the target shows
		// how far behind it is with one query.
		"CREATE TABLE IF NOT EXISTS " + q + ".`heartbeat` (" +
			"`pipeline` VARCHAR(191) NOT NULL," +
			"`ts` DATETIME(6) NOT NULL," +
			"PRIMARY KEY (`pipeline`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	}
}

// HeartbeatDDL creates the heartbeat table in a database: on the source,
// where the pipeline writes it, and on the target, where it lands.
func HeartbeatDDL(schema string) []string {
	ddl := checkpointDDL(schema)
	return []string{ddl[0], ddl[2]}
}

// EnsureStateSchema creates the state schema and its tables on the target
// when missing.
func EnsureStateSchema(ctx context.Context, db *sql.DB, schema string) error {
	for _, q := range checkpointDDL(schema) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create state table in %s: %w", sqlbuild.QuoteIdent(schema), err)
		}
	}
	return nil
}

// ClaimCheckpoint makes the caller the owner of the pipeline's checkpoint by
// raising its epoch, creating the row when the pipeline is new. Any earlier
// owner's next checkpoint write fails from then on (fencing). It returns the
// checkpoint with the new epoch; a new pipeline has a zero Position.
func ClaimCheckpoint(ctx context.Context, db *sql.DB, schema, pipeline string) (Checkpoint, error) {
	table := sqlbuild.QuoteIdent(schema) + ".`checkpoint`"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("claim checkpoint of pipeline %q: %w", pipeline, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT IGNORE INTO "+table+" (`pipeline`,`epoch`,`gtid`) VALUES (?,0,'')", pipeline); err != nil {
		return Checkpoint{}, fmt.Errorf("claim checkpoint of pipeline %q: %w", pipeline, err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET `epoch`=`epoch`+1 WHERE `pipeline`=?", pipeline); err != nil {
		return Checkpoint{}, fmt.Errorf("claim checkpoint of pipeline %q: %w", pipeline, err)
	}
	cp, err := readCheckpoint(ctx, tx, table, pipeline)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := tx.Commit(); err != nil {
		return Checkpoint{}, fmt.Errorf("claim checkpoint of pipeline %q: %w", pipeline, err)
	}
	return cp, nil
}

// LoadCheckpoint reads the pipeline's checkpoint without claiming it. ok is
// false when the pipeline has none.
func LoadCheckpoint(ctx context.Context, db *sql.DB, schema, pipeline string) (cp Checkpoint, ok bool, err error) {
	cp, err = readCheckpoint(ctx, db, sqlbuild.QuoteIdent(schema)+".`checkpoint`", pipeline)
	if err == sql.ErrNoRows {
		return Checkpoint{}, false, nil
	}
	return cp, err == nil, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func readCheckpoint(ctx context.Context, q queryer, table, pipeline string) (Checkpoint, error) {
	var (
		cp      = Checkpoint{Pipeline: pipeline}
		ts      sql.NullString
		pending sql.NullString
		updated string
	)
	err := q.QueryRowContext(ctx,
		"SELECT `epoch`,`binlog_file`,`binlog_pos`,`gtid`,`source_ts`,`pending_ddl`,`updated_at` FROM "+table+" WHERE `pipeline`=?",
		pipeline).Scan(&cp.Epoch, &cp.Position.File, &cp.Position.Offset, &cp.Position.GTID, &ts, &pending, &updated)
	if err == sql.ErrNoRows {
		return Checkpoint{}, err
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint of pipeline %q: %w", pipeline, err)
	}
	if ts.Valid {
		cp.SourceTime, _ = time.Parse("2006-01-02 15:04:05.999999", ts.String)
	}
	cp.UpdatedAt, _ = time.Parse("2006-01-02 15:04:05.999999", updated)
	cp.PendingDDL = pending.String
	return cp, nil
}

// checkpointUpdate is the statement every group commits with. It matches
// the owner's epoch, so a fenced owner updates no row.
func checkpointUpdate(schema string) string {
	return "UPDATE " + sqlbuild.QuoteIdent(schema) + ".`checkpoint` SET `binlog_file`=?,`binlog_pos`=?,`gtid`=?,`source_ts`=?,`pending_ddl`=? WHERE `pipeline`=? AND `epoch`=?"
}

func checkpointArgs(pipeline string, epoch uint64, pos change.Position, ts time.Time, pendingDDL string) []any {
	var sts any
	if !ts.IsZero() {
		sts = ts.UTC().Format("2006-01-02 15:04:05.999999")
	}
	var pending any
	if pendingDDL != "" {
		pending = pendingDDL
	}
	return []any{pos.File, pos.Offset, pos.GTID, sts, pending, pipeline, epoch}
}

// ResetCheckpoint moves a pipeline's checkpoint to pos (an operator's
// "reset to a position"). It takes effect the next time the pipeline
// starts, which claims a new epoch.
func ResetCheckpoint(ctx context.Context, db *sql.DB, schema, pipeline string, pos change.Position) error {
	if err := EnsureStateSchema(ctx, db, schema); err != nil {
		return err
	}
	table := sqlbuild.QuoteIdent(schema) + ".`checkpoint`"
	_, err := db.ExecContext(ctx,
		"INSERT INTO "+table+" (`pipeline`,`epoch`,`binlog_file`,`binlog_pos`,`gtid`) VALUES (?,0,?,?,?) "+
			"ON DUPLICATE KEY UPDATE `epoch`=`epoch`+1,`binlog_file`=VALUES(`binlog_file`),`binlog_pos`=VALUES(`binlog_pos`),`gtid`=VALUES(`gtid`),`source_ts`=NULL,`pending_ddl`=NULL",
		pipeline, pos.File, pos.Offset, pos.GTID)
	if err != nil {
		return fmt.Errorf("reset checkpoint of pipeline %q to %s: %w", pipeline, pos, err)
	}
	return nil
}

// SaveStart records pos as the checkpoint of a pipeline that has none yet
// (no group committed), so that a restart before the first commit resumes
// where this run began: a start "now" resolved again later would skip
// everything written in between. A checkpoint already set is left alone.
func (a *Applier) SaveStart(ctx context.Context, pos change.Position) error {
	q := checkpointUpdate(a.cfg.StateSchema) + " AND `binlog_file`='' AND `gtid`=''"
	if _, err := a.db.ExecContext(ctx, q, checkpointArgs(a.cfg.Pipeline, a.epoch, pos, time.Time{}, "")...); err != nil {
		return fmt.Errorf("pipeline %q: save start position %s: %w", a.cfg.Pipeline, pos, err)
	}
	return nil
}
