package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Job is one row of the jobs table: a schedule, a kind with its config, and
// the policies that govern its fires. What the policy values mean is the
// schedule package's (see docs/jobs.md); the store keeps them as written.
type Job struct {
	ID          int64
	Name        string
	Description string
	Schedule    string // cron spec, @every, @hourly..., or a one-off time
	TimeZone    string // IANA zone the schedule is read in; "" means UTC
	Kind        string // http, sql, shell, check, ...
	Config      string // the kind's options as JSON
	Paused      bool

	MisfirePolicy    string // skip, fire_once, catch_up
	MisfireCatchUp   int    // for catch_up: at most this many missed fires run
	MisfireThreshold time.Duration
	OverlapPolicy    string // allow, forbid, replace, queue
	MaxRetries       int
	RetryBackoff     time.Duration
	Timeout          time.Duration // 0: none
	AlertURL         string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// JobDefaults are the column defaults of the jobs table, for callers that
// build a Job from scratch (the CLI, the API).
func JobDefaults() Job {
	return Job{
		TimeZone:         "UTC",
		Config:           "{}",
		MisfirePolicy:    "fire_once",
		MisfireThreshold: 5 * time.Second,
		OverlapPolicy:    "allow",
		RetryBackoff:     time.Second,
	}
}

const jobColumns = `id, name, description, schedule, time_zone, kind, config, paused,
 misfire_policy, misfire_catch_up, misfire_threshold_ms, overlap_policy, max_retries,
 retry_backoff_ms, timeout_ms, alert_url, created_at, updated_at`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var config sql.NullString
	var paused int
	var thresholdMS, backoffMS, timeoutMS int64
	var created, updated NullTime
	err := sc.Scan(&j.ID, &j.Name, &j.Description, &j.Schedule, &j.TimeZone, &j.Kind, &config, &paused,
		&j.MisfirePolicy, &j.MisfireCatchUp, &thresholdMS, &j.OverlapPolicy, &j.MaxRetries,
		&backoffMS, &timeoutMS, &j.AlertURL, &created, &updated)
	if err != nil {
		return j, err
	}
	j.Config = config.String
	if strings.TrimSpace(j.Config) == "" {
		j.Config = "{}"
	}
	j.Paused = paused != 0
	j.MisfireThreshold = time.Duration(thresholdMS) * time.Millisecond
	j.RetryBackoff = time.Duration(backoffMS) * time.Millisecond
	j.Timeout = time.Duration(timeoutMS) * time.Millisecond
	j.CreatedAt, j.UpdatedAt = created.Time, updated.Time
	return j, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (j Job) args() []any {
	tz := j.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	return []any{j.Name, j.Description, j.Schedule, tz, j.Kind, j.Config, boolInt(j.Paused),
		j.MisfirePolicy, j.MisfireCatchUp, j.MisfireThreshold.Milliseconds(), j.OverlapPolicy, j.MaxRetries,
		j.RetryBackoff.Milliseconds(), j.Timeout.Milliseconds(), j.AlertURL}
}

// CreateJob inserts a job and returns its id.
func (s *Store) CreateJob(ctx context.Context, j Job) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO jobs (name, description, schedule, time_zone, kind, config, paused,
 misfire_policy, misfire_catch_up, misfire_threshold_ms, overlap_policy, max_retries, retry_backoff_ms, timeout_ms, alert_url)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.args()...)
	if err != nil {
		return 0, fmt.Errorf("create job %q: %w", j.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("create job %q: %w", j.Name, err)
	}
	return id, nil
}

// UpdateJob rewrites the job with j.ID.
func (s *Store) UpdateJob(ctx context.Context, j Job) error {
	args := append(j.args(), j.ID)
	res, err := s.db.ExecContext(ctx, `UPDATE jobs SET name = ?, description = ?, schedule = ?, time_zone = ?, kind = ?, config = ?, paused = ?,
 misfire_policy = ?, misfire_catch_up = ?, misfire_threshold_ms = ?, overlap_policy = ?, max_retries = ?, retry_backoff_ms = ?,
 timeout_ms = ?, alert_url = ? WHERE id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update job %q: %w", j.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// MySQL counts only changed rows; tell an unchanged row from a
		// missing one.
		if _, err := s.Job(ctx, j.ID); err != nil {
			return fmt.Errorf("update job %q: %w", j.Name, err)
		}
	}
	return nil
}

// Job reads a job by id.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("read job %d: %w", id, err)
	}
	return j, nil
}

// JobByName reads a job by name.
func (s *Store) JobByName(ctx context.Context, name string) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("read job %q: %w", name, err)
	}
	return j, nil
}

// Jobs lists every job by id.
func (s *Store) Jobs(ctx context.Context) ([]Job, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+jobColumns+" FROM jobs ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// DeleteJob removes a job. Its runs stay as history until retention
// removes them.
func (s *Store) DeleteJob(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM jobs WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("delete job %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete job %d: %w", id, ErrNotFound)
	}
	return nil
}

// SetJobPaused pauses or resumes a job.
func (s *Store) SetJobPaused(ctx context.Context, id int64, paused bool) error {
	res, err := s.db.ExecContext(ctx, "UPDATE jobs SET paused = ? WHERE id = ?", boolInt(paused), id)
	if err != nil {
		return fmt.Errorf("pause job %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Job(ctx, id); err != nil {
			return fmt.Errorf("pause job %d: %w", id, err)
		}
	}
	return nil
}

// JobsVersion is a cheap fingerprint of the jobs table: it changes when a
// row is inserted, edited (updated_at moves, by ON UPDATE on MySQL and a
// trigger on SQLite) or deleted (the count drops), whether through sluice
// or with plain SQL.
type JobsVersion struct {
	Count     int64
	MaxID     int64
	UpdatedAt string
}

// JobsVersion reads the fingerprint.
func (s *Store) JobsVersion(ctx context.Context) (JobsVersion, error) {
	var v JobsVersion
	var updated NullTime
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(MAX(id), 0), MAX(updated_at) FROM jobs").Scan(&v.Count, &v.MaxID, &updated)
	if err != nil {
		return v, fmt.Errorf("read jobs version: %w", err)
	}
	if updated.Valid {
		v.UpdatedAt = FormatTime(updated.Time)
	}
	return v, nil
}
