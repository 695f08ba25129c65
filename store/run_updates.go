package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// batchTx runs fn in a SQLite transaction whose statements do not watch
// ctx: with a context that can end, the driver and database/sql start a
// goroutine per statement to watch it, which for thousands of one-row
// statements costs more than the statements. fn checks ctx itself between
// rows; a batch cut short is rolled back.
func (s *Store) batchTx(ctx context.Context, fn func(context.Context, *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bctx := context.WithoutCancel(ctx)
	return s.inTx(bctx, func(tx *sql.Tx) error { return fn(bctx, tx) })
}

// RunUpdate is the state a node writes for a run it owns. JobID and
// ScheduledTime name the fire again: on MySQL the write is an upsert keyed
// by the run id, and a row that was deleted by hand meanwhile comes back
// whole. Zero values are looked up.
type RunUpdate struct {
	ID            int64
	JobID         int64
	ScheduledTime time.Time
	Status        string
	Attempt       int
	StartedAt     time.Time
	FinishedAt    time.Time
	RetryAt       time.Time
	Output        string
	Error         string
}

// sqliteUpdateChunk bounds the rows of one UPDATE on SQLite (8 values a
// row; at most 32766 per statement).
const sqliteUpdateChunk = 2000

// updateChunk bounds the rows of one batched write; updateBytes bounds its
// size (outputs can be 64 KiB each; max_allowed_packet is 16 MiB by default).
const (
	updateChunk = 5000
	updateBytes = 4 << 20
)

// UpdateRuns writes the state of runs the node owns, many per statement.
// Rows that another node has taken over (node_id moved) are not touched:
// the count written says how many were.
func (s *Store) UpdateRuns(ctx context.Context, nodeID string, ups []RunUpdate) (int64, error) {
	if s.dialect == MySQL {
		var err error
		if ups, err = s.fillFires(ctx, ups); err != nil {
			return 0, fmt.Errorf("write %d runs of node %s: %w", len(ups), nodeID, err)
		}
	}
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

// fillFires completes updates that do not name their fire, from the rows;
// updates of rows that no longer exist are dropped (nothing to write to).
func (s *Store) fillFires(ctx context.Context, ups []RunUpdate) ([]RunUpdate, error) {
	var ids []any
	for _, u := range ups {
		if u.JobID == 0 || u.ScheduledTime.IsZero() {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return ups, nil
	}
	type fire struct {
		job int64
		at  time.Time
	}
	found := map[int64]fire{}
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		rows, err := s.db.QueryContext(ctx, "SELECT id, job_id, scheduled_time FROM job_runs WHERE id IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", chunk...)
		if err != nil {
			return nil, fmt.Errorf("read the fires of runs: %w", err)
		}
		for rows.Next() {
			var id, job int64
			var at NullTime
			if err := rows.Scan(&id, &job, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read the fires of runs: %w", err)
			}
			found[id] = fire{job, at.Time}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the fires of runs: %w", err)
		}
	}
	out := make([]RunUpdate, 0, len(ups))
	for _, u := range ups {
		if u.JobID == 0 || u.ScheduledTime.IsZero() {
			f, ok := found[u.ID]
			if !ok {
				continue
			}
			u.JobID, u.ScheduledTime = f.job, f.at
		}
		out = append(out, u)
	}
	return out, nil
}

// simpleUpdate says whether an update leaves attempt, retry_at, output and
// error at their defaults, as the row already has them: the first attempt,
// with no output and no error, which is nearly every run. Such updates go
// in a statement that sets fewer columns.
func simpleUpdate(u RunUpdate) bool {
	return u.Attempt <= 1 && u.RetryAt.IsZero() && u.Output == "" && u.Error == ""
}

// updateColumns are the columns an update sets, with their values.
func updateColumns(simple bool) []string {
	if simple {
		return []string{"status", "started_at", "finished_at"}
	}
	return []string{"status", "attempt", "started_at", "finished_at", "retry_at", "output", "error"}
}

func updateValues(u RunUpdate, simple bool, args []any) []any {
	if simple {
		return append(args, u.Status, nullTime(u.StartedAt), nullTime(u.FinishedAt))
	}
	return append(args, u.Status, u.Attempt, nullTime(u.StartedAt), nullTime(u.FinishedAt), nullTime(u.RetryAt),
		nullString(u.Output), nullString(u.Error))
}

func (s *Store) updateRunChunk(ctx context.Context, nodeID string, ups []RunUpdate) (int64, error) {
	var groups [2][]RunUpdate // simple, full
	for _, u := range ups {
		if simpleUpdate(u) {
			groups[0] = append(groups[0], u)
		} else {
			groups[1] = append(groups[1], u)
		}
	}
	if s.dialect == SQLite {
		// One statement per chunk joining a VALUES list on the rowid: one
		// parse, and none of database/sql's work per row.
		var total int64
		err := s.batchTx(ctx, func(bctx context.Context, tx *sql.Tx) error {
			for g, group := range groups {
				cols := updateColumns(g == 0)
				for start := 0; start < len(group); start += sqliteUpdateChunk {
					chunk := group[start:min(start+sqliteUpdateChunk, len(group))]
					var b strings.Builder
					b.Grow(len(chunk)*20 + 400)
					b.WriteString("UPDATE job_runs SET ")
					for i, c := range cols {
						if i > 0 {
							b.WriteString(", ")
						}
						b.WriteString(c + " = u.column" + strconv.Itoa(i+2))
					}
					b.WriteString(" FROM (VALUES ")
					row := "(?" + strings.Repeat(",?", len(cols)) + ")"
					args := make([]any, 0, len(chunk)*(len(cols)+1)+1)
					for i, u := range chunk {
						if i > 0 {
							b.WriteByte(',')
						}
						b.WriteString(row)
						args = updateValues(u, g == 0, append(args, u.ID))
					}
					b.WriteString(") AS u WHERE job_runs.id = u.column1 AND job_runs.node_id = ?")
					args = append(args, nodeID)
					res, err := tx.ExecContext(bctx, b.String(), args...)
					if err != nil {
						return err
					}
					n, _ := res.RowsAffected()
					total += n
				}
			}
			return nil
		})
		return total, err
	}
	// MySQL: one multi-row upsert keyed by the run id. Every row exists
	// (the node made it), so each takes the UPDATE branch, and each column
	// is set only where the row is still this node's. It parses and runs
	// faster than a round trip per row, a CASE per column, or a temporary
	// table joined in an UPDATE.
	var total int64
	for g, group := range groups {
		if len(group) == 0 {
			continue
		}
		cols := updateColumns(g == 0)
		var b strings.Builder
		b.Grow(len(group)*40 + 600)
		args := make([]any, 0, len(group)*(len(cols)+4))
		b.WriteString("INSERT INTO job_runs (id, job_id, scheduled_time, node_id, " + strings.Join(cols, ", ") + ") VALUES ")
		row := "(?,?,?,?" + strings.Repeat(",?", len(cols)) + ")"
		for i, u := range group {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
			args = updateValues(u, g == 0, append(args, u.ID, u.JobID, FormatTime(u.ScheduledTime), nodeID))
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			// node_id is never assigned here, so every IF sees the row's own.
			b.WriteString(c + " = IF(node_id = VALUES(node_id), VALUES(" + c + "), " + c + ")")
		}
		res, err := s.db.ExecContext(ctx, b.String(), args...)
		if err != nil {
			return total, err
		}
		// With CLIENT_FOUND_ROWS an upsert counts 2 for a row it changed and 1
		// for a row it left as it was (another node's).
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += max(n-int64(len(group)), 0)
	}
	return total, nil
}

// TakeOverRuns moves runs from a gone node to this one, each only if it is
// still the gone node's, and returns the ids this call won: of several
// nodes settling the same node at once, each run goes to exactly one.
func (s *Store) TakeOverRuns(ctx context.Context, ids []int64, from, to string, token int64) ([]int64, error) {
	var won []int64
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		in := "?" + strings.Repeat(", ?", len(chunk)-1)
		args := []any{to, token}
		for _, id := range chunk {
			args = append(args, id)
		}
		args = append(args, from)
		var err error
		for try := 0; ; try++ {
			// Nodes settling the same node at once can deadlock; the
			// statement is then simply run again.
			_, err = s.db.ExecContext(ctx, "UPDATE job_runs SET node_id = ?, claim_token = ? WHERE id IN ("+in+") AND node_id = ?", args...)
			if err == nil || !retryable(err) || try == 10 {
				break
			}
		}
		if err != nil {
			return won, fmt.Errorf("take over %d runs from node %s: %w", len(chunk), from, err)
		}
		rows, err := s.db.QueryContext(ctx, "SELECT id FROM job_runs WHERE id IN ("+in+") AND node_id = ? AND claim_token = ?", append(args[2:len(args)-1:len(args)-1], to, token)...)
		if err != nil {
			return won, fmt.Errorf("read runs taken over from node %s: %w", from, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return won, fmt.Errorf("read runs taken over from node %s: %w", from, err)
			}
			won = append(won, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return won, fmt.Errorf("read runs taken over from node %s: %w", from, err)
		}
	}
	return won, nil
}
