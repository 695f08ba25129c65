package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Node states.
const (
	NodeAlive   = "alive"
	NodeDead    = "dead"    // its lease ran out; another node settled its runs
	NodeStopped = "stopped" // it stopped cleanly and started nothing after
)

// Node is one row of the nodes table: a scheduler process and its lease.
type Node struct {
	ID             string
	Host           string
	PID            int
	Version        string
	State          string
	StartedAt      time.Time
	HeartbeatAt    time.Time
	LeaseExpiresAt time.Time
	// Expired says the lease has run out by the meta store's clock.
	Expired bool
	// Kinds are the job kinds the node runs, sorted.
	Kinds []string
	// MembersHash names the view of the alive nodes the node last
	// scheduled by; ClaimedThrough is the time through which the node has a
	// run row for every fire of the jobs it owns in that view (zero: none
	// published). Nodes with the same view agree on who owns each job.
	MembersHash    int64
	ClaimedThrough time.Time
	// RunsFrom and OldRuns say where the node's runs that are not final
	// are: each has an id of at least RunsFrom, or is in OldRuns. RunsFrom
	// 0: not published (every row of the node must be looked at).
	RunsFrom int64
	OldRuns  []int64
}

// NodeProgress is what a node publishes with each lease renewal.
type NodeProgress struct {
	MembersHash    int64
	ClaimedThrough time.Time
	RunsFrom       int64
	OldRuns        []int64
}

func formatIDs(ids []int64) any {
	if len(ids) == 0 {
		return nil
	}
	b := make([]byte, 0, len(ids)*8)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(b)
}

func parseIDs(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]int64, len(parts))
	for i, p := range parts {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse run id list: %w", err)
		}
		out[i] = id
	}
	return out, nil
}

// RegisterNode adds a node with a lease of the given length, timed by the
// meta store's clock.
func (s *Store) RegisterNode(ctx context.Context, n Node, lease time.Duration) error {
	nowExpr, nowArgs := s.nowSQL()
	leaseExpr, leaseArgs := s.plusSQL(lease)
	args := append([]any{n.ID, n.Host, n.PID, n.Version, NodeAlive, strings.Join(n.Kinds, ",")}, nowArgs...)
	args = append(args, nowArgs...)
	args = append(args, leaseArgs...)
	_, err := s.db.ExecContext(ctx, `INSERT INTO nodes (id, host, pid, version, state, kinds, started_at, heartbeat_at, lease_expires_at)
 VALUES (?, ?, ?, ?, ?, ?, `+nowExpr+`, `+nowExpr+`, `+leaseExpr+`)`, args...)
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.ID, err)
	}
	return nil
}

// RenewLease extends an alive node's lease. It returns false when the node
// is no longer alive in the table (another node declared it dead) or its
// lease has already run out (another node may be settling its runs right
// now): the caller must stop starting runs and join again.
func (s *Store) RenewLease(ctx context.Context, id string, lease time.Duration) (bool, error) {
	nowExpr, nowArgs := s.nowSQL()
	leaseExpr, leaseArgs := s.plusSQL(lease)
	args := append(append(nowArgs, leaseArgs...), id, NodeAlive)
	args = append(args, nowArgs...)
	res, err := s.db.ExecContext(ctx, "UPDATE nodes SET heartbeat_at = "+nowExpr+", lease_expires_at = "+leaseExpr+
		" WHERE id = ? AND state = ? AND lease_expires_at >= "+nowExpr, args...)
	if err != nil {
		return false, fmt.Errorf("renew lease of node %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Heartbeat renews an alive node's lease, as RenewLease does (an expired
// lease is not renewed: a node that stalled past it joins again), and
// publishes its progress in the same statement.
func (s *Store) Heartbeat(ctx context.Context, id string, lease time.Duration, p NodeProgress) (bool, error) {
	nowExpr, nowArgs := s.nowSQL()
	leaseExpr, leaseArgs := s.plusSQL(lease)
	args := append(append(nowArgs, leaseArgs...), p.MembersHash, nullTime(p.ClaimedThrough), p.RunsFrom, formatIDs(p.OldRuns), id, NodeAlive)
	args = append(args, nowArgs...)
	res, err := s.db.ExecContext(ctx, "UPDATE nodes SET heartbeat_at = "+nowExpr+", lease_expires_at = "+leaseExpr+
		", members_hash = ?, claimed_through = ?, runs_from = ?, old_runs = ? WHERE id = ? AND state = ? AND lease_expires_at >= "+nowExpr, args...)
	if err != nil {
		return false, fmt.Errorf("renew lease of node %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PublishRuns records where an alive node's runs are (see Node.RunsFrom),
// between heartbeats: a node publishes the runs it is about to take over
// before it takes them.
func (s *Store) PublishRuns(ctx context.Context, id string, runsFrom int64, old []int64) error {
	if _, err := s.db.ExecContext(ctx, "UPDATE nodes SET runs_from = ?, old_runs = ? WHERE id = ? AND state = ?",
		runsFrom, formatIDs(old), id, NodeAlive); err != nil {
		return fmt.Errorf("publish the runs of node %s: %w", id, err)
	}
	return nil
}

// Nodes lists the nodes that are alive in the table, with whether each
// lease has expired by the meta store's clock, and those stopped cleanly
// whose runs are not yet settled.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	nowExpr, nowArgs := s.nowSQL()
	args := append(nowArgs, NodeAlive, NodeStopped)
	rows, err := s.db.QueryContext(ctx, `SELECT id, host, pid, version, state, started_at, heartbeat_at, lease_expires_at,
 kinds, members_hash, claimed_through, runs_from, old_runs, CASE WHEN lease_expires_at < `+nowExpr+` THEN 1 ELSE 0 END FROM nodes WHERE state IN (?, ?) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var started, hb, lease, claimed NullTime
		var kinds string
		var old sql.NullString
		var expired int
		if err := rows.Scan(&n.ID, &n.Host, &n.PID, &n.Version, &n.State, &started, &hb, &lease, &kinds, &n.MembersHash, &claimed,
			&n.RunsFrom, &old, &expired); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		var err error
		if n.OldRuns, err = parseIDs(old.String); err != nil {
			return nil, fmt.Errorf("list nodes: node %s: %w", n.ID, err)
		}
		n.StartedAt, n.HeartbeatAt, n.LeaseExpiresAt, n.Expired = started.Time, hb.Time, lease.Time, expired != 0
		n.ClaimedThrough = claimed.Time
		if kinds != "" {
			n.Kinds = strings.Split(kinds, ",")
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// SetNodeState moves a node from one state to another; exactly one caller
// wins a transition, so one node settles a dead node's runs.
func (s *Store) SetNodeState(ctx context.Context, id, from, to string) (bool, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE nodes SET state = ? WHERE id = ? AND state = ?", to, id, from)
	if err != nil {
		return false, fmt.Errorf("mark node %s %s: %w", id, to, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// StopNode records a clean stop: the node has started its last run, so the
// runs it still holds as claimed were never started.
func (s *Store) StopNode(ctx context.Context, id string) error {
	nowExpr, nowArgs := s.nowSQL()
	args := append([]any{NodeStopped}, nowArgs...)
	args = append(args, id, NodeAlive)
	if _, err := s.db.ExecContext(ctx, "UPDATE nodes SET state = ?, lease_expires_at = "+nowExpr+" WHERE id = ? AND state = ?", args...); err != nil {
		return fmt.Errorf("stop node %s: %w", id, err)
	}
	return nil
}

// DeleteNodesBefore removes dead and stopped nodes whose last heartbeat is
// older than cutoff.
func (s *Store) DeleteNodesBefore(ctx context.Context, cutoff time.Time) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM nodes WHERE state = ? AND heartbeat_at < ?", NodeDead, FormatTime(cutoff)); err != nil {
		return fmt.Errorf("delete old nodes: %w", err)
	}
	return nil
}
