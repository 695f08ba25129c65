package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Run statuses. A run row exists once per (job, scheduled time): the unique
// key is what makes a fire happen once across nodes.
const (
	RunClaimed   = "claimed"   // a node won the fire and will start it at its time
	RunRunning   = "running"   // started; attempt says which try
	RunQueued    = "queued"    // waiting for the job's previous run (overlap policy queue)
	RunRetrying  = "retrying"  // an attempt failed; the next starts at retry_at
	RunSucceeded = "succeeded" // final
	RunFailed    = "failed"    // final: the last attempt failed
	RunTimedOut  = "timed_out" // final: the last attempt ran past the job's timeout
	RunCancelled = "cancelled" // final: replaced by a newer run, or the job was deleted
	RunSkipped   = "skipped"   // final: not started (overlap policy forbid, job paused)
	RunMissed    = "missed"    // final: not fired, by the misfire policy
)

// ActiveRunStatuses are the statuses of a run that a node still owns.
var ActiveRunStatuses = []string{RunClaimed, RunRunning, RunQueued, RunRetrying}

// Run is one row of job_runs.
type Run struct {
	ID              int64
	JobID           int64
	ScheduledTime   time.Time
	NodeID          string
	Status          string
	Attempt         int
	Misfire         bool // fired later than its misfire threshold, by the policy
	ClaimedAt       time.Time
	StartedAt       time.Time
	FinishedAt      time.Time
	RetryAt         time.Time
	CancelRequested bool
	Output          string
	Error           string
}

const runColumns = `id, job_id, scheduled_time, node_id, status, attempt, misfire, claimed_at, started_at,
 finished_at, retry_at, cancel_requested, output, error`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var sched, claimed, started, finished, retry NullTime
	var misfire, cancel int
	var output, errText sql.NullString
	err := sc.Scan(&r.ID, &r.JobID, &sched, &r.NodeID, &r.Status, &r.Attempt, &misfire, &claimed, &started,
		&finished, &retry, &cancel, &output, &errText)
	r.ScheduledTime, r.ClaimedAt, r.StartedAt, r.FinishedAt, r.RetryAt = sched.Time, claimed.Time, started.Time, finished.Time, retry.Time
	r.Misfire, r.CancelRequested = misfire != 0, cancel != 0
	r.Output, r.Error = output.String, errText.String
	return r, err
}

// retryable says whether a MySQL error is a deadlock or lock wait timeout,
// after which the statement can simply run again.
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func collectRuns(rows *sql.Rows) ([]Run, error) {
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("read runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	return out, nil
}

func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Run reads one run.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE id = ?", id))
	if err == sql.ErrNoRows {
		return r, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("read run %d: %w", id, err)
	}
	return r, nil
}

// JobRuns lists a job's latest runs, newest first.
func (s *Store) JobRuns(ctx context.Context, jobID int64, limit int) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE job_id = ? ORDER BY scheduled_time DESC LIMIT ?", jobID, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs of job %d: %w", jobID, err)
	}
	return collectRuns(rows)
}

// RunsBetween lists the runs scheduled in [from, to), for reports and tests.
func (s *Store) RunsBetween(ctx context.Context, from, to time.Time) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE scheduled_time >= ? AND scheduled_time < ? ORDER BY job_id, scheduled_time",
		FormatTime(from), FormatTime(to))
	if err != nil {
		return nil, fmt.Errorf("list runs scheduled from %s to %s: %w", from, to, err)
	}
	return collectRuns(rows)
}

// NodeRuns lists the runs a node still owns (claimed, running, queued,
// retrying): what a node that takes over a dead one has to settle. No index
// leads to them; the node published where they are (Node.RunsFrom and
// OldRuns), so this reads the end of the primary key and the listed rows.
// A node that published nothing has every row of it read.
func (s *Store) NodeRuns(ctx context.Context, n Node) ([]Run, error) {
	args := []any{n.ID, RunClaimed, RunRunning, RunQueued, RunRetrying}
	where := "node_id = ? AND status IN (?, ?, ?, ?)"
	var out []Run
	read := func(q string, args ...any) error {
		rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE "+q, args...)
		if err != nil {
			return fmt.Errorf("list active runs of node %s: %w", n.ID, err)
		}
		rs, err := collectRuns(rows)
		out = append(out, rs...)
		return err
	}
	if n.RunsFrom <= 0 {
		if err := read(where, args...); err != nil {
			return nil, err
		}
	} else {
		if err := read("id >= ? AND "+where, append([]any{n.RunsFrom}, args...)...); err != nil {
			return nil, err
		}
		for start := 0; start < len(n.OldRuns); start += 1000 {
			chunk := n.OldRuns[start:min(start+1000, len(n.OldRuns))]
			q, ids := inList(chunk)
			if err := read("id IN ("+q+") AND id < ? AND "+where, append(append(ids, n.RunsFrom), args...)...); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(out, func(a, b Run) int {
		if a.JobID != b.JobID {
			return cmp.Compare(a.JobID, b.JobID)
		}
		return a.ScheduledTime.Compare(b.ScheduledTime)
	})
	return out, nil
}

// inList is "?, ?, ..." for ids, and the ids as arguments.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "?" + strings.Repeat(", ?", len(ids)-1), args
}

// TakeOverRun moves a run from a dead node to this one, if it is still the
// dead node's. Exactly one caller wins.
func (s *Store) TakeOverRun(ctx context.Context, runID int64, from, to string, token int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE job_runs SET node_id = ?, claim_token = ? WHERE id = ? AND node_id = ?", to, token, runID, from)
	if err != nil {
		return false, fmt.Errorf("take over run %d from node %s: %w", runID, from, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ActiveJobRuns lists a job's runs that are running or queued, other than
// run except: what the overlap policy looks at. from and old say where the
// alive nodes' runs are (the least Node.RunsFrom of them, and the union of
// their OldRuns); from 0 reads every run of the job.
func (s *Store) ActiveJobRuns(ctx context.Context, jobID, except, from int64, old []int64) ([]Run, error) {
	var out []Run
	read := func(q string, args ...any) error {
		rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE "+q, args...)
		if err != nil {
			return fmt.Errorf("list active runs of job %d: %w", jobID, err)
		}
		rs, err := collectRuns(rows)
		out = append(out, rs...)
		return err
	}
	// The unary + keeps SQLite's planner, which has no statistics, off the
	// job's key (a job may have hundreds of thousands of rows) and on the
	// end of the primary key.
	where := "+job_id = ? AND status IN (?, ?) AND id <> ?"
	args := []any{jobID, RunRunning, RunQueued, except}
	if from <= 0 {
		if err := read(where, args...); err != nil {
			return nil, err
		}
	} else {
		if err := read("id >= ? AND "+where, append([]any{from}, args...)...); err != nil {
			return nil, err
		}
		for start := 0; start < len(old); start += 1000 {
			q, ids := inList(old[start:min(start+1000, len(old))])
			if err := read("id IN ("+q+") AND id < ? AND "+where, append(append(ids, from), args...)...); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(out, func(a, b Run) int { return a.ScheduledTime.Compare(b.ScheduledTime) })
	return out, nil
}

// RequestCancel asks the node that owns a run to cancel it.
func (s *Store) RequestCancel(ctx context.Context, runID int64) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE job_runs SET cancel_requested = 1 WHERE id = ?", runID); err != nil {
		return fmt.Errorf("request cancel of run %d: %w", runID, err)
	}
	return nil
}

// CancelRequests lists which of the given runs (the node's running and
// queued ones) someone asked to cancel.
func (s *Store) CancelRequests(ctx context.Context, nodeID string, ids []int64) ([]int64, error) {
	var out []int64
	for start := 0; start < len(ids); start += 1000 {
		q, args := inList(ids[start:min(start+1000, len(ids))])
		rows, err := s.db.QueryContext(ctx, "SELECT id FROM job_runs WHERE id IN ("+q+") AND node_id = ? AND status IN (?, ?) AND cancel_requested = 1",
			append(args, nodeID, RunRunning, RunQueued)...)
		if err != nil {
			return nil, fmt.Errorf("list cancel requests of node %s: %w", nodeID, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("list cancel requests of node %s: %w", nodeID, err)
			}
			out = append(out, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list cancel requests of node %s: %w", nodeID, err)
		}
	}
	return out, nil
}

// LatestFires maps each job to its latest scheduled time that has a run row:
// where a node that starts picks up each job's schedule, so that fires
// missed while every node was down are found.
func (s *Store) LatestFires(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT job_id, MAX(scheduled_time) FROM job_runs GROUP BY job_id")
	if err != nil {
		return nil, fmt.Errorf("read latest fires: %w", err)
	}
	defer rows.Close()
	out := map[int64]time.Time{}
	for rows.Next() {
		var id int64
		var t NullTime
		if err := rows.Scan(&id, &t); err != nil {
			return nil, fmt.Errorf("read latest fires: %w", err)
		}
		out[id] = t.Time
	}
	return out, rows.Err()
}

// DeleteRunsBefore removes finished runs scheduled before cutoff, keeping
// each job's latest run (a restarted node reads it to find missed fires).
// It deletes in chunks so that a large backlog does not hold locks long.
func (s *Store) DeleteRunsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	latest, err := s.LatestFires(ctx)
	if err != nil {
		return 0, err
	}
	final := []any{RunSucceeded, RunFailed, RunTimedOut, RunCancelled, RunSkipped, RunMissed}
	var total int64
	for jobID, last := range latest {
		bound := cutoff
		if !last.After(bound) {
			bound = last
		}
		for {
			args := append([]any{jobID, FormatTime(bound)}, final...)
			var q string
			if s.dialect == MySQL {
				q = "DELETE FROM job_runs WHERE job_id = ? AND scheduled_time < ? AND status IN (?, ?, ?, ?, ?, ?) LIMIT 5000"
			} else {
				q = "DELETE FROM job_runs WHERE id IN (SELECT id FROM job_runs WHERE job_id = ? AND scheduled_time < ? AND status IN (?, ?, ?, ?, ?, ?) LIMIT 5000)"
			}
			res, err := s.db.ExecContext(ctx, q, args...)
			if err != nil {
				return total, fmt.Errorf("delete runs of job %d before %s: %w", jobID, FormatTime(bound), err)
			}
			n, _ := res.RowsAffected()
			total += n
			if n < 5000 {
				break
			}
		}
	}
	return total, nil
}
