package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Check statuses.
const (
	CheckRunning   = "running"
	CheckEqual     = "equal"
	CheckDifferent = "different"
	CheckFailed    = "failed"
)

// Check is one consistency check run by the server and its stored report.
// Request and Report are JSON (the server's and the check package's
// shapes); RepairSQL is the statements that would repair the target.
type Check struct {
	ID         int64
	Status     string
	Request    string
	CreatedBy  string
	RepairOf   int64 // 0: not a repair
	NodeID     string
	Error      string
	Rows       int64
	Missing    int64
	Extra      int64
	Different  int64
	Unsettled  int64
	Repaired   int64
	Report     string
	RepairSQL  string
	StartedAt  time.Time
	FinishedAt time.Time
	// HasRepairSQL is set by listings, which leave RepairSQL out.
	HasRepairSQL bool
}

const checkSummaryColumns = `id, status, request, created_by, repair_of, node_id, error, rows_compared, missing, extra, different,
 unsettled, repaired, started_at, finished_at, CASE WHEN repair_sql IS NULL OR repair_sql = '' THEN 0 ELSE 1 END`

func scanCheck(sc interface{ Scan(...any) error }, full bool) (Check, error) {
	var c Check
	var repairOf sql.NullInt64
	var errText, report, repairSQL sql.NullString
	var started, finished NullTime
	var hasSQL int
	dest := []any{&c.ID, &c.Status, &c.Request, &c.CreatedBy, &repairOf, &c.NodeID, &errText, &c.Rows, &c.Missing, &c.Extra, &c.Different,
		&c.Unsettled, &c.Repaired, &started, &finished, &hasSQL}
	if full {
		dest = append(dest, &report, &repairSQL)
	}
	err := sc.Scan(dest...)
	c.RepairOf, c.Error, c.Report, c.RepairSQL = repairOf.Int64, errText.String, report.String, repairSQL.String
	c.StartedAt, c.FinishedAt, c.HasRepairSQL = started.Time, finished.Time, hasSQL != 0
	return c, err
}

// CreateCheck records a check that starts now and returns its id.
func (s *Store) CreateCheck(ctx context.Context, c Check) (int64, error) {
	var repairOf any
	if c.RepairOf != 0 {
		repairOf = c.RepairOf
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO checks (status, request, created_by, repair_of, node_id, started_at) VALUES (?, ?, ?, ?, ?, ?)",
		CheckRunning, c.Request, c.CreatedBy, repairOf, c.NodeID, FormatTime(c.StartedAt))
	if err != nil {
		return 0, fmt.Errorf("record check: %w", err)
	}
	return res.LastInsertId()
}

// FinishCheck writes a check's outcome.
func (s *Store) FinishCheck(ctx context.Context, c Check) error {
	_, err := s.db.ExecContext(ctx, `UPDATE checks SET status = ?, error = ?, rows_compared = ?, missing = ?, extra = ?, different = ?,
 unsettled = ?, repaired = ?, report = ?, repair_sql = ?, finished_at = ? WHERE id = ?`,
		c.Status, nullString(c.Error), c.Rows, c.Missing, c.Extra, c.Different, c.Unsettled, c.Repaired,
		nullString(c.Report), nullString(c.RepairSQL), FormatTime(c.FinishedAt), c.ID)
	if err != nil {
		return fmt.Errorf("record outcome of check %d: %w", c.ID, err)
	}
	return nil
}

// CheckByID reads a check with its report and repair SQL.
func (s *Store) CheckByID(ctx context.Context, id int64) (Check, error) {
	c, err := scanCheck(s.db.QueryRowContext(ctx, "SELECT "+checkSummaryColumns+", report, repair_sql FROM checks WHERE id = ?", id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("check %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("read check %d: %w", id, err)
	}
	return c, nil
}

// Checks lists the latest checks, newest first, without reports.
func (s *Store) Checks(ctx context.Context, limit int) ([]Check, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+checkSummaryColumns+" FROM checks ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	defer rows.Close()
	var out []Check
	for rows.Next() {
		c, err := scanCheck(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list checks: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCheck removes a check that is not running.
func (s *Store) DeleteCheck(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM checks WHERE id = ? AND status <> ?", id, CheckRunning)
	if err != nil {
		return fmt.Errorf("delete check %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.CheckByID(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("delete check %d: it is still running", id)
	}
	return nil
}

// FailOrphanChecks marks as failed the running checks of nodes other than
// except that are not alive: they stopped with the node that ran them.
func (s *Store) FailOrphanChecks(ctx context.Context, except string) error {
	now, args := s.nowSQL()
	q := "UPDATE checks SET status = ?, error = ?, finished_at = " + now + " WHERE status = ? AND node_id <> ? AND node_id NOT IN (SELECT id FROM nodes WHERE state = 'alive' AND lease_expires_at > " + now + ")"
	all := append([]any{CheckFailed, "the server node running this check stopped before it finished"}, args...)
	all = append(all, CheckRunning, except)
	all = append(all, args...)
	if _, err := s.db.ExecContext(ctx, q, all...); err != nil {
		return fmt.Errorf("settle checks of stopped nodes: %w", err)
	}
	return nil
}

// RunsChangedSince lists runs with an id above afterID, and the runs in ids
// (those that were not final when last seen), for watchers of run state.
func (s *Store) RunsChangedSince(ctx context.Context, afterID int64, ids []int64) ([]Run, error) {
	q := "SELECT " + runColumns + " FROM job_runs WHERE id > ?"
	args := []any{afterID}
	if len(ids) > 0 {
		q += " OR id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY id LIMIT 5000", args...)
	if err != nil {
		return nil, fmt.Errorf("read changed runs: %w", err)
	}
	return collectRuns(rows)
}

// MaxRunID is the highest run id, 0 when there is none.
func (s *Store) MaxRunID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM job_runs").Scan(&id); err != nil {
		return 0, fmt.Errorf("read latest run id: %w", err)
	}
	return id, nil
}
