package store

import (
	"context"
	"fmt"
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
}

// RegisterNode adds a node with a lease of the given length, timed by the
// meta store's clock.
func (s *Store) RegisterNode(ctx context.Context, n Node, lease time.Duration) error {
	nowExpr, nowArgs := s.nowSQL()
	leaseExpr, leaseArgs := s.plusSQL(lease)
	args := append([]any{n.ID, n.Host, n.PID, n.Version, NodeAlive}, nowArgs...)
	args = append(args, nowArgs...)
	args = append(args, leaseArgs...)
	_, err := s.db.ExecContext(ctx, `INSERT INTO nodes (id, host, pid, version, state, started_at, heartbeat_at, lease_expires_at)
 VALUES (?, ?, ?, ?, ?, `+nowExpr+`, `+nowExpr+`, `+leaseExpr+`)`, args...)
	if err != nil {
		return fmt.Errorf("register node %s: %w", n.ID, err)
	}
	return nil
}

// RenewLease extends an alive node's lease. It returns false when the node
// is no longer alive in the table (another node declared it dead): the
// caller must stop starting runs.
func (s *Store) RenewLease(ctx context.Context, id string, lease time.Duration) (bool, error) {
	nowExpr, nowArgs := s.nowSQL()
	leaseExpr, leaseArgs := s.plusSQL(lease)
	args := append(append(nowArgs, leaseArgs...), id, NodeAlive)
	res, err := s.db.ExecContext(ctx, "UPDATE nodes SET heartbeat_at = "+nowExpr+", lease_expires_at = "+leaseExpr+" WHERE id = ? AND state = ?", args...)
	if err != nil {
		return false, fmt.Errorf("renew lease of node %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Nodes lists the nodes that are alive in the table, with whether each
// lease has expired by the meta store's clock, and those stopped cleanly
// whose runs are not yet settled.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	nowExpr, nowArgs := s.nowSQL()
	args := append(nowArgs, NodeAlive, NodeStopped)
	rows, err := s.db.QueryContext(ctx, `SELECT id, host, pid, version, state, started_at, heartbeat_at, lease_expires_at,
 CASE WHEN lease_expires_at < `+nowExpr+` THEN 1 ELSE 0 END FROM nodes WHERE state IN (?, ?) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var started, hb, lease NullTime
		var expired int
		if err := rows.Scan(&n.ID, &n.Host, &n.PID, &n.Version, &n.State, &started, &hb, &lease, &expired); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		n.StartedAt, n.HeartbeatAt, n.LeaseExpiresAt, n.Expired = started.Time, hb.Time, lease.Time, expired != 0
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
