package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

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
	claimedAt := time.Now().UTC()
	run := func(f Fire, id int64) Run {
		r := Run{ID: id, JobID: f.JobID, ScheduledTime: f.ScheduledTime.UTC().Truncate(time.Microsecond), NodeID: nodeID, Status: f.Status,
			Attempt: 1, Misfire: f.Misfire, ClaimedAt: claimedAt, Error: f.Error}
		if f.Status == RunMissed {
			r.FinishedAt = r.ScheduledTime
		}
		return r
	}
	var out []Run
	var err error
	if s.dialect == SQLite {
		out, err = s.claimSQLite(ctx, nodeID, token, fires, run)
	} else {
		out, err = s.claimMySQL(ctx, nodeID, token, fires, run)
	}
	if err != nil {
		return nil, fmt.Errorf("claim %d fires for node %s: %w", len(fires), nodeID, err)
	}
	return out, nil
}

// plainFire says whether a fire's row takes the column defaults (attempt 1,
// not a misfire, no error, not finished): nearly every fire. Such rows go
// in a statement that names fewer columns, which the server parses faster.
func plainFire(f Fire) bool { return f.Status == RunClaimed && !f.Misfire && f.Error == "" }

// claimInsert builds the INSERT of fires that are all plain or all not.
func claimInsert(fires []Fire, plain bool, nodeID string, token int64, nowExpr string, nowArgs []any) (string, []any) {
	var b strings.Builder
	b.Grow(len(fires)*40 + 300)
	var args []any
	if plain {
		b.WriteString("INSERT INTO job_runs (job_id, scheduled_time, node_id, status, claim_token, claimed_at) VALUES ")
		args = make([]any, 0, len(fires)*(5+len(nowArgs)))
	} else {
		b.WriteString("INSERT INTO job_runs (job_id, scheduled_time, node_id, status, attempt, misfire, claim_token, claimed_at, finished_at, error) VALUES ")
		args = make([]any, 0, len(fires)*(8+len(nowArgs)))
	}
	for i, f := range fires {
		if i > 0 {
			b.WriteByte(',')
		}
		if plain {
			b.WriteString("(?,?,?,?,?," + nowExpr + ")")
			args = append(args, f.JobID, FormatTime(f.ScheduledTime), nodeID, f.Status, token)
		} else {
			b.WriteString("(?,?,?,?,1,?,?," + nowExpr + ",?,?)")
			args = append(args, f.JobID, FormatTime(f.ScheduledTime), nodeID, f.Status, boolInt(f.Misfire), token)
		}
		args = append(args, nowArgs...)
		if !plain {
			args = append(args, finishedAt(f), nullString(f.Error))
		}
	}
	return b.String(), args
}

// splitPlain returns the fires in groups that are all plain or all not,
// each at most chunk long.
func splitPlain(fires []Fire, chunk int) [][]Fire {
	var plain, other []Fire
	for _, f := range fires {
		if plainFire(f) {
			plain = append(plain, f)
		} else {
			other = append(other, f)
		}
	}
	var out [][]Fire
	for _, g := range [][]Fire{plain, other} {
		for start := 0; start < len(g); start += chunk {
			out = append(out, g[start:min(start+chunk, len(g))])
		}
	}
	return out
}

func finishedAt(f Fire) any {
	if f.Status == RunMissed {
		return FormatTime(f.ScheduledTime)
	}
	return nil
}

// sqliteClaimChunk bounds the rows of one INSERT: SQLite binds at most
// 32766 values per statement (9 a row).
const sqliteClaimChunk = 2000

// claimSQLite inserts many rows per statement in one transaction, and
// RETURNING tells which rows went in. (A prepared one-row statement per
// fire costs more here: database/sql's work per call outweighs parsing a
// long VALUES list once.)
func (s *Store) claimSQLite(ctx context.Context, nodeID string, token int64, fires []Fire, run func(Fire, int64) Run) ([]Run, error) {
	type key struct {
		job int64
		at  int64
	}
	byKey := make(map[key]Fire, len(fires))
	var out []Run
	err := s.batchTx(ctx, func(bctx context.Context, tx *sql.Tx) error {
		now := FormatTime(time.Now())
		for _, f := range fires {
			byKey[key{f.JobID, f.ScheduledTime.UnixMicro()}] = f
		}
		for _, chunk := range splitPlain(fires, sqliteClaimChunk) {
			if err := ctx.Err(); err != nil {
				return err
			}
			q, args := claimInsert(chunk, plainFire(chunk[0]), nodeID, token, "?", []any{now})
			rows, err := tx.QueryContext(bctx, q+" ON CONFLICT(job_id, scheduled_time) DO NOTHING RETURNING id, job_id, scheduled_time", args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id, job int64
				var at NullTime
				if err := rows.Scan(&id, &job, &at); err != nil {
					rows.Close()
					return err
				}
				if f, ok := byKey[key{job, at.Time.UnixMicro()}]; ok {
					out = append(out, run(f, id))
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// mysqlClaimChunk bounds the rows of one INSERT on MySQL (about 100 bytes a
// row, far below max_allowed_packet).
const mysqlClaimChunk = 5000

// claimMySQL inserts many rows per statement in one transaction, then reads
// back which rows are this call's. One transaction: a batch that fails part
// way must leave no rows, or its fires would be held by this node and never
// run (the retry would find them taken, by itself). A deadlock with another
// node's insert rolls it back, and it is run again.
func (s *Store) claimMySQL(ctx context.Context, nodeID string, token int64, fires []Fire, run func(Fire, int64) Run) ([]Run, error) {
	type key struct {
		job int64
		at  int64
	}
	byKey := make(map[key]Fire, len(fires))
	for _, f := range fires {
		byKey[key{f.JobID, f.ScheduledTime.UnixMicro()}] = f
	}
	attempt := func() ([]Run, error) {
		var out []Run
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			// The rows this call makes get ids above the highest id before
			// it (ids only grow) and carry its token: reading them back is
			// a short scan of the primary key's end, with no index on who
			// holds a run.
			var floor int64
			if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM job_runs").Scan(&floor); err != nil {
				return fmt.Errorf("read the highest run id: %w", err)
			}
			for _, chunk := range splitPlain(fires, mysqlClaimChunk) {
				q, args := claimInsert(chunk, plainFire(chunk[0]), nodeID, token, "UTC_TIMESTAMP(6)", nil)
				if _, err := tx.ExecContext(ctx, q+s.onConflictDoNothing("job_id, scheduled_time"), args...); err != nil {
					return err
				}
			}
			rows, err := tx.QueryContext(ctx, "SELECT id, job_id, scheduled_time FROM job_runs WHERE id > ? AND claim_token = ?", floor, token)
			if err != nil {
				return fmt.Errorf("read claimed fires: %w", err)
			}
			defer rows.Close()
			out = make([]Run, 0, len(fires))
			for rows.Next() {
				var id, job int64
				var at NullTime
				if err := rows.Scan(&id, &job, &at); err != nil {
					return fmt.Errorf("read claimed fires: %w", err)
				}
				if f, ok := byKey[key{job, at.Time.UnixMicro()}]; ok {
					out = append(out, run(f, id))
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read claimed fires: %w", err)
			}
			return rows.Close()
		})
		return out, err
	}
	for try := 0; ; try++ {
		out, err := attempt()
		if err == nil || !retryable(err) || try == 10 {
			return out, err
		}
	}
}
