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

// Fire is one (job, scheduled time) a node wants to own, and the status its
// row starts with: claimed for a fire to run, missed for one the misfire
// policy drops.
type Fire struct {
	JobID         int64
	ScheduledTime time.Time
	Status        string
	Misfire       bool
	Error         string
}

// claimChunk bounds the rows of one INSERT: SQLite binds at most 32766
// values per statement (9 a row).
const claimChunk = 2000

// ClaimFires inserts a run row for each fire and returns the rows this call
// created; fires another node already holds are left out. token must be
// unique to the call (it finds the rows it made). This is the whole of the
// exactly-once rule: the unique key (job_id, scheduled_time) admits one row
// per fire, whichever node asks first.
func (s *Store) ClaimFires(ctx context.Context, nodeID string, token int64, fires []Fire) ([]Run, error) {
	if len(fires) == 0 {
		return nil, nil
	}
	// Rows go in key order so that nodes claiming overlapping fires take
	// their locks in the same order; InnoDB can still report a deadlock
	// between two such inserts, and then the chunk is simply tried again.
	fires = slices.Clone(fires)
	slices.SortFunc(fires, func(a, b Fire) int {
		if a.JobID != b.JobID {
			return cmp.Compare(a.JobID, b.JobID)
		}
		return a.ScheduledTime.Compare(b.ScheduledTime)
	})
	insert := func(db execQuerier, chunk []Fire) error {
		nowExpr, nowArgs := s.nowSQL()
		var b strings.Builder
		b.WriteString("INSERT INTO job_runs (job_id, scheduled_time, node_id, status, attempt, misfire, claim_token, claimed_at, finished_at, error) VALUES ")
		args := make([]any, 0, len(chunk)*10)
		for i, f := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, 1, ?, ?, " + nowExpr + ", ?, ?)")
			var finished any
			if f.Status == RunMissed {
				finished = FormatTime(f.ScheduledTime)
			}
			args = append(args, f.JobID, FormatTime(f.ScheduledTime), nodeID, f.Status, boolInt(f.Misfire), token)
			args = append(args, nowArgs...)
			args = append(args, finished, nullString(f.Error))
		}
		b.WriteString(s.onConflictDoNothing("job_id, scheduled_time"))
		_, err := db.ExecContext(ctx, b.String(), args...)
		return err
	}
	var err error
	if s.dialect == SQLite {
		// One transaction: one fsync for the whole batch.
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			for start := 0; start < len(fires); start += claimChunk {
				if err := insert(tx, fires[start:min(start+claimChunk, len(fires))]); err != nil {
					return err
				}
			}
			return nil
		})
	} else {
		// Each chunk commits on its own: short lock sets, and a retried
		// chunk does not redo the others.
		for start := 0; start < len(fires) && err == nil; start += claimChunk {
			chunk := fires[start:min(start+claimChunk, len(fires))]
			for try := 0; ; try++ {
				err = insert(s.db, chunk)
				if err == nil || !retryable(err) || try == 10 {
					break
				}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim %d fires for node %s: %w", len(fires), nodeID, err)
	}
	// The node's claimed rows are few (those waiting to start): the
	// (node_id, status) index finds them, and the token picks this call's.
	rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE node_id = ? AND status IN (?, ?) AND claim_token = ?",
		nodeID, RunClaimed, RunMissed, token)
	if err != nil {
		return nil, fmt.Errorf("read claimed fires of node %s: %w", nodeID, err)
	}
	return collectRuns(rows)
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

// RunUpdate is the state a node writes for a run it owns.
type RunUpdate struct {
	ID         int64
	Status     string
	Attempt    int
	StartedAt  time.Time
	FinishedAt time.Time
	RetryAt    time.Time
	Output     string
	Error      string
}

// updateChunk bounds the rows of one batched UPDATE; updateBytes bounds its
// size (outputs can be 64 KiB each; max_allowed_packet is 16 MiB by default).
const (
	updateChunk = 5000
	updateBytes = 4 << 20
)

// UpdateRuns writes the state of runs the node owns, many per statement.
// Rows that another node has taken over (node_id moved) are not touched:
// the count written says how many were.
func (s *Store) UpdateRuns(ctx context.Context, nodeID string, ups []RunUpdate) (int64, error) {
	var total int64
	for start := 0; start < len(ups); {
		end, size := start, 0
		for end < len(ups) && end-start < updateChunk && (size < updateBytes || end == start) {
			size += len(ups[end].Output) + len(ups[end].Error)
			end++
		}
		var n int64
		var err error
		for try := 0; ; try++ {
			n, err = s.updateRunChunk(ctx, nodeID, ups[start:end])
			if err == nil || !retryable(err) || try == 10 {
				break
			}
		}
		if err != nil {
			return total, fmt.Errorf("write %d runs of node %s: %w", end-start, nodeID, err)
		}
		total += n
		start = end
	}
	return total, nil
}

func (s *Store) updateRunChunk(ctx context.Context, nodeID string, ups []RunUpdate) (int64, error) {
	vals := func(u RunUpdate) []any {
		return []any{u.Status, u.Attempt, nullTime(u.StartedAt), nullTime(u.FinishedAt), nullTime(u.RetryAt), nullString(u.Output), nullString(u.Error)}
	}
	if s.dialect == SQLite {
		// In-process: one prepared statement per row inside one
		// transaction is the fastest way SQLite has.
		var total int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx, `UPDATE job_runs SET status = ?, attempt = ?, started_at = ?, finished_at = ?, retry_at = ?, output = ?, error = ?
 WHERE id = ? AND node_id = ?`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, u := range ups {
				res, err := stmt.ExecContext(ctx, append(vals(u), u.ID, nodeID)...)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				total += n
			}
			return nil
		})
		return total, err
	}
	// MySQL: the new values go into a temporary table in one multi-row
	// INSERT, and one UPDATE joins them on the primary key: a round trip
	// per row, or a CASE per column, is the bottleneck at thousands of runs
	// a second.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS run_updates (
  id BIGINT NOT NULL PRIMARY KEY, status VARCHAR(16) NOT NULL, attempt INT NOT NULL,
  started_at DATETIME(6) NULL, finished_at DATETIME(6) NULL, retry_at DATETIME(6) NULL,
  output MEDIUMTEXT NULL, error TEXT NULL)`); err != nil {
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, "DELETE FROM run_updates"); err != nil {
		return 0, err
	}
	var b strings.Builder
	args := make([]any, 0, len(ups)*8)
	b.WriteString("INSERT INTO run_updates (id, status, attempt, started_at, finished_at, retry_at, output, error) VALUES ")
	for i, u := range ups {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, u.ID)
		args = append(args, vals(u)...)
	}
	if _, err := conn.ExecContext(ctx, b.String(), args...); err != nil {
		return 0, err
	}
	res, err := conn.ExecContext(ctx, `UPDATE job_runs r JOIN run_updates u ON r.id = u.id SET r.status = u.status, r.attempt = u.attempt,
 r.started_at = u.started_at, r.finished_at = u.finished_at, r.retry_at = u.retry_at, r.output = u.output, r.error = u.error
 WHERE r.node_id = ?`, nodeID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
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
// retrying): what a node that takes over a dead one has to settle.
func (s *Store) NodeRuns(ctx context.Context, nodeID string) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE node_id = ? AND status IN (?, ?, ?, ?) ORDER BY job_id, scheduled_time",
		nodeID, RunClaimed, RunRunning, RunQueued, RunRetrying)
	if err != nil {
		return nil, fmt.Errorf("list active runs of node %s: %w", nodeID, err)
	}
	return collectRuns(rows)
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
// run except: what the overlap policy looks at.
func (s *Store) ActiveJobRuns(ctx context.Context, jobID, except int64) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+runColumns+" FROM job_runs WHERE job_id = ? AND status IN (?, ?) AND id <> ? ORDER BY scheduled_time",
		jobID, RunRunning, RunQueued, except)
	if err != nil {
		return nil, fmt.Errorf("list active runs of job %d: %w", jobID, err)
	}
	return collectRuns(rows)
}

// RequestCancel asks the node that owns a run to cancel it.
func (s *Store) RequestCancel(ctx context.Context, runID int64) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE job_runs SET cancel_requested = 1 WHERE id = ?", runID); err != nil {
		return fmt.Errorf("request cancel of run %d: %w", runID, err)
	}
	return nil
}

// CancelRequests lists the node's running runs that someone asked to cancel.
func (s *Store) CancelRequests(ctx context.Context, nodeID string) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id FROM job_runs WHERE node_id = ? AND status IN (?, ?) AND cancel_requested = 1", nodeID, RunRunning, RunQueued)
	if err != nil {
		return nil, fmt.Errorf("list cancel requests of node %s: %w", nodeID, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list cancel requests of node %s: %w", nodeID, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
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
