package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Pipeline is a sync pipeline the server runs. Config holds the sync
// options as JSON (the server's to interpret); Source and Target name data
// sources. DesiredState is what an operator asked for: "running" or
// "stopped"; which node runs it is in pipeline_leases.
type Pipeline struct {
	ID              int64
	Name            string
	Description     string
	Source          string
	Target          string
	Channel         string
	Config          string
	DesiredState    string
	AlertLagSeconds float64
	AlertLagFor     time.Duration
	// ConfigVersion moves on every edit, so that the node running the
	// pipeline restarts it with the new config.
	ConfigVersion int64
	// ResumeSeq moves on every resume request, so that the owning node,
	// whichever it is, resumes it.
	ResumeSeq int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

const pipelineColumns = `id, name, description, source, target, channel, config, desired_state,
 alert_lag_seconds, alert_lag_for_ms, config_version, resume_seq, created_at, updated_at`

func scanPipeline(sc interface{ Scan(...any) error }) (Pipeline, error) {
	var p Pipeline
	var forMS int64
	var created, updated NullTime
	err := sc.Scan(&p.ID, &p.Name, &p.Description, &p.Source, &p.Target, &p.Channel, &p.Config, &p.DesiredState,
		&p.AlertLagSeconds, &forMS, &p.ConfigVersion, &p.ResumeSeq, &created, &updated)
	p.AlertLagFor = time.Duration(forMS) * time.Millisecond
	p.CreatedAt, p.UpdatedAt = created.Time, updated.Time
	return p, err
}

// CreatePipeline inserts a pipeline.
func (s *Store) CreatePipeline(ctx context.Context, p Pipeline) (int64, error) {
	if p.DesiredState == "" {
		p.DesiredState = "stopped"
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO pipelines (name, description, source, target, channel, config, desired_state, alert_lag_seconds, alert_lag_for_ms)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Description, p.Source, p.Target, p.Channel, p.Config, p.DesiredState, p.AlertLagSeconds, p.AlertLagFor.Milliseconds())
	if isDuplicate(err) {
		return 0, fmt.Errorf("create pipeline %q: %w", p.Name, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create pipeline %q: %w", p.Name, err)
	}
	return res.LastInsertId()
}

// UpdatePipeline rewrites a pipeline's definition (not its desired state)
// and moves its config version.
func (s *Store) UpdatePipeline(ctx context.Context, p Pipeline) error {
	now, args := s.nowSQL()
	res, err := s.db.ExecContext(ctx, `UPDATE pipelines SET description = ?, source = ?, target = ?, channel = ?, config = ?,
 alert_lag_seconds = ?, alert_lag_for_ms = ?, config_version = config_version + 1, updated_at = `+now+` WHERE name = ?`,
		append(append([]any{p.Description, p.Source, p.Target, p.Channel, p.Config, p.AlertLagSeconds, p.AlertLagFor.Milliseconds()}, args...), p.Name)...)
	if err != nil {
		return fmt.Errorf("update pipeline %q: %w", p.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update pipeline %q: %w", p.Name, ErrNotFound)
	}
	return nil
}

// SetPipelineDesired records whether a pipeline should run.
func (s *Store) SetPipelineDesired(ctx context.Context, name, state string) error {
	now, args := s.nowSQL()
	res, err := s.db.ExecContext(ctx, "UPDATE pipelines SET desired_state = ?, updated_at = "+now+" WHERE name = ?", append(append([]any{state}, args...), name)...)
	if err != nil {
		return fmt.Errorf("set pipeline %q %s: %w", name, state, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set pipeline %q %s: %w", name, state, ErrNotFound)
	}
	return nil
}

// RequestPipelineResume asks the pipeline's owner to resume it.
func (s *Store) RequestPipelineResume(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE pipelines SET resume_seq = resume_seq + 1 WHERE name = ?", name)
	if err != nil {
		return fmt.Errorf("resume pipeline %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("resume pipeline %q: %w", name, ErrNotFound)
	}
	return nil
}

// SetPipelineChannel sets the channel of the named pipelines, and clears
// it from the channel's other pipelines.
func (s *Store) SetPipelineChannel(ctx context.Context, channel string, members []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE pipelines SET channel = '' WHERE channel = ?", channel); err != nil {
			return fmt.Errorf("set members of channel %q: %w", channel, err)
		}
		for _, m := range members {
			res, err := tx.ExecContext(ctx, "UPDATE pipelines SET channel = ? WHERE name = ?", channel, m)
			if err != nil {
				return fmt.Errorf("set members of channel %q: %w", channel, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("add pipeline %q to channel %q: %w", m, channel, ErrNotFound)
			}
		}
		return nil
	})
}

// PipelineByName reads a pipeline.
func (s *Store) PipelineByName(ctx context.Context, name string) (Pipeline, error) {
	p, err := scanPipeline(s.db.QueryRowContext(ctx, "SELECT "+pipelineColumns+" FROM pipelines WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("pipeline %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("read pipeline %q: %w", name, err)
	}
	return p, nil
}

// Pipelines lists pipelines by name; channel, when not empty, keeps that
// channel's.
func (s *Store) Pipelines(ctx context.Context, channel string) ([]Pipeline, error) {
	q, args := "SELECT "+pipelineColumns+" FROM pipelines", []any{}
	if channel != "" {
		q += " WHERE channel = ?"
		args = append(args, channel)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	var out []Pipeline
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePipeline removes a pipeline and its lease.
func (s *Store) DeletePipeline(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM pipelines WHERE name = ?", name)
		if err != nil {
			return fmt.Errorf("delete pipeline %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete pipeline %q: %w", name, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM pipeline_leases WHERE pipeline = ?", name); err != nil {
			return fmt.Errorf("delete pipeline %q: %w", name, err)
		}
		return nil
	})
}

// PipelinesUsing lists the pipelines whose source or target is the data
// source.
func (s *Store) PipelinesUsing(ctx context.Context, dataSource string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM pipelines WHERE source = ? OR target = ? ORDER BY name", dataSource, dataSource)
	if err != nil {
		return nil, fmt.Errorf("list pipelines using data source %q: %w", dataSource, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list pipelines using data source %q: %w", dataSource, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// PipelineLease says which node runs a pipeline, until when (the meta
// store's clock), and its latest status sample as JSON.
type PipelineLease struct {
	Pipeline   string
	NodeID     string
	AcquiredAt time.Time
	ExpiresAt  time.Time
	Status     string
	// Live is whether the lease had not expired when it was read.
	Live bool
}

// AcquirePipelineLease takes a pipeline for node for d, if no other node
// holds a lease that has not expired. Only the meta store's clock is
// compared, so nodes with skewed clocks agree. It reports whether node
// holds the lease now.
func (s *Store) AcquirePipelineLease(ctx context.Context, pipeline, node string, d time.Duration) (bool, error) {
	now, nowArgs := s.nowSQL()
	until, untilArgs := s.plusSQL(d)
	ins := "INSERT INTO pipeline_leases (pipeline, node_id, acquired_at, expires_at) VALUES (?, ?, " + now + ", " + until + ")"
	args := append(append([]any{pipeline, node}, nowArgs...), untilArgs...)
	if s.dialect == MySQL {
		ins += " ON DUPLICATE KEY UPDATE pipeline = pipeline"
	} else {
		ins += " ON CONFLICT(pipeline) DO NOTHING"
	}
	// The insert makes the row when no node ever ran the pipeline; the
	// update below then decides, on every path, who holds it.
	if _, err := s.db.ExecContext(ctx, ins, args...); err != nil {
		return false, fmt.Errorf("acquire lease of pipeline %q: %w", pipeline, err)
	}
	now2, nowArgs2 := s.nowSQL()
	until2, untilArgs2 := s.plusSQL(d)
	// MySQL evaluates SET assignments left to right, each seeing the ones
	// before: acquired_at must read node_id before it changes.
	q := "UPDATE pipeline_leases SET acquired_at = CASE WHEN node_id = ? THEN acquired_at ELSE " + now2 + " END, node_id = ?, expires_at = " + until2 +
		" WHERE pipeline = ? AND (node_id = ? OR expires_at < " + now2 + ")"
	uargs := []any{node}
	uargs = append(uargs, nowArgs2...)
	uargs = append(uargs, node)
	uargs = append(uargs, untilArgs2...)
	uargs = append(uargs, pipeline, node)
	uargs = append(uargs, nowArgs2...)
	res, err := s.db.ExecContext(ctx, q, uargs...)
	if err != nil {
		return false, fmt.Errorf("acquire lease of pipeline %q: %w", pipeline, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RenewPipelineLease extends node's lease by d and stores a status sample.
// It reports false when the node no longer holds the lease (it expired and
// another node took it, or the pipeline was deleted): the node must stop
// the pipeline.
func (s *Store) RenewPipelineLease(ctx context.Context, pipeline, node string, d time.Duration, status string) (bool, error) {
	until, untilArgs := s.plusSQL(d)
	now, nowArgs := s.nowSQL()
	args := append([]any{status}, untilArgs...)
	args = append(args, pipeline, node)
	args = append(args, nowArgs...)
	res, err := s.db.ExecContext(ctx, "UPDATE pipeline_leases SET status = ?, expires_at = "+until+" WHERE pipeline = ? AND node_id = ? AND expires_at >= "+now, args...)
	if err != nil {
		return false, fmt.Errorf("renew lease of pipeline %q: %w", pipeline, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleasePipelineLease gives a pipeline up, keeping the last status sample
// readable until the lease row is taken again.
func (s *Store) ReleasePipelineLease(ctx context.Context, pipeline, node, status string) error {
	now, args := s.nowSQL()
	_, err := s.db.ExecContext(ctx, "UPDATE pipeline_leases SET status = ?, expires_at = "+now+" WHERE pipeline = ? AND node_id = ?",
		append(append([]any{status}, args...), pipeline, node)...)
	if err != nil {
		return fmt.Errorf("release lease of pipeline %q: %w", pipeline, err)
	}
	return nil
}

// PipelineLeases reads every lease, with Live computed on the meta store's
// clock.
func (s *Store) PipelineLeases(ctx context.Context) (map[string]PipelineLease, error) {
	now, args := s.nowSQL()
	rows, err := s.db.QueryContext(ctx, "SELECT pipeline, node_id, acquired_at, expires_at, COALESCE(status, ''), CASE WHEN expires_at > "+now+" THEN 1 ELSE 0 END FROM pipeline_leases", args...)
	if err != nil {
		return nil, fmt.Errorf("read pipeline leases: %w", err)
	}
	defer rows.Close()
	out := map[string]PipelineLease{}
	for rows.Next() {
		var l PipelineLease
		var acquired, expires NullTime
		var live int
		if err := rows.Scan(&l.Pipeline, &l.NodeID, &acquired, &expires, &l.Status, &live); err != nil {
			return nil, fmt.Errorf("read pipeline leases: %w", err)
		}
		l.AcquiredAt, l.ExpiresAt, l.Live = acquired.Time, expires.Time, live != 0
		out[l.Pipeline] = l
	}
	return out, rows.Err()
}

// SetPipelineLeaseStatus rewrites the status sample of a lease row that
// node last held (a stopped pipeline's last known position).
func (s *Store) SetPipelineLeaseStatus(ctx context.Context, pipeline, node, status string) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE pipeline_leases SET status = ? WHERE pipeline = ? AND node_id = ?", status, pipeline, node); err != nil {
		return fmt.Errorf("write status of pipeline %q: %w", pipeline, err)
	}
	return nil
}
