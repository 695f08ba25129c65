package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// ReplicaOptions choose how a server replicates from a source with MariaDB's
// own replication (CHANGE MASTER TO ... ; START SLAVE).
type ReplicaOptions struct {
	// FilePos starts from binlog coordinates instead of the GTID position
	// (MASTER_USE_GTID=no). File empty means the source's first binlog file
	// at offset 4, so that the replica replays everything the source holds.
	FilePos bool
	File    string
	Pos     uint64
	// GTIDSlavePos, with GTIDs, is set as gtid_slave_pos before starting;
	// empty means from the beginning of the source's binlog.
	GTIDSlavePos string
	// Delay is MASTER_DELAY: the replica applies each event this long after
	// the source committed it.
	Delay time.Duration
	// ParallelThreads is slave_parallel_threads (0: one SQL thread).
	ParallelThreads int
}

// ReplicateFrom makes s a native replica of source and starts replication.
// Both servers are on 127.0.0.1 and the source's root user needs no
// password, so the replica logs in as root.
func (s *Server) ReplicateFrom(ctx context.Context, source *Server, opts ReplicaOptions) error {
	stmts := []string{"STOP SLAVE", "RESET SLAVE ALL"}
	if opts.ParallelThreads > 0 {
		stmts = append(stmts, "SET GLOBAL slave_parallel_threads = "+strconv.Itoa(opts.ParallelThreads))
	}
	change := fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_CONNECT_RETRY=1",
		source.Port, quoteString(source.User), quoteString(source.Password))
	if opts.Delay > 0 {
		change += fmt.Sprintf(", MASTER_DELAY=%d", int(opts.Delay.Round(time.Second)/time.Second))
	}
	if opts.FilePos {
		file, pos := opts.File, opts.Pos
		if file == "" {
			first, err := source.firstBinlog(ctx)
			if err != nil {
				return err
			}
			file, pos = first, 4
		}
		change += fmt.Sprintf(", MASTER_LOG_FILE=%s, MASTER_LOG_POS=%d, MASTER_USE_GTID=no", quoteString(file), pos)
	} else {
		stmts = append(stmts, "SET GLOBAL gtid_slave_pos = "+quoteString(opts.GTIDSlavePos))
		change += ", MASTER_USE_GTID=slave_pos"
	}
	stmts = append(stmts, change, "START SLAVE")
	if err := s.ExecContext(ctx, stmts...); err != nil {
		return fmt.Errorf("make %s a replica of %s: %w", s.Addr(), source.Addr(), err)
	}
	return nil
}

// Replicate is ReplicateFrom for a test, failing it on error. It stops
// replication when the test ends, before the servers stop.
func (s *Server) Replicate(tb testing.TB, source *Server, opts ReplicaOptions) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.ReplicateFrom(ctx, source, opts); err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() {
		if s.Running() {
			_ = s.ExecContext(context.Background(), "STOP SLAVE")
		}
	})
}

func (s *Server) firstBinlog(ctx context.Context) (string, error) {
	db, err := s.Open("")
	if err != nil {
		return "", err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return "", fmt.Errorf("%s: show binary logs: %w", s.Addr(), err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("%s: show binary logs: %w", s.Addr(), err)
		}
		return "", fmt.Errorf("%s has no binary logs", s.Addr())
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", fmt.Errorf("%s: show binary logs: %w", s.Addr(), err)
	}
	return string(vals[0]), nil
}

// SourceStatus is where a source's binlog ends now: SHOW MASTER STATUS's file
// and position, and @@gtid_binlog_pos.
type SourceStatus struct {
	File string
	Pos  uint64
	GTID string
}

// SourceStatus reads the end of s's binlog.
func (s *Server) SourceStatus(ctx context.Context) (SourceStatus, error) {
	db, err := s.Open("")
	if err != nil {
		return SourceStatus{}, err
	}
	defer db.Close()
	var st SourceStatus
	m, err := queryRowMap(ctx, db, "SHOW MASTER STATUS")
	if err != nil {
		return st, fmt.Errorf("%s: show master status: %w", s.Addr(), err)
	}
	if m == nil {
		return st, fmt.Errorf("%s: show master status: the binlog is off", s.Addr())
	}
	st.File = m["File"]
	st.Pos, _ = strconv.ParseUint(m["Position"], 10, 64)
	if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&st.GTID); err != nil {
		return st, fmt.Errorf("%s: read gtid_binlog_pos: %w", s.Addr(), err)
	}
	return st, nil
}

// ReplicaStatus returns SHOW SLAVE STATUS as column name to value, or nil
// when s is not a replica.
func (s *Server) ReplicaStatus(ctx context.Context) (map[string]string, error) {
	db, err := s.Open("")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	m, err := queryRowMap(ctx, db, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("%s: show slave status: %w", s.Addr(), err)
	}
	return m, nil
}

// WaitCaughtUp waits until replica s has applied everything source has
// written to its binlog when the call starts. It uses MASTER_GTID_WAIT when
// the replica uses GTIDs and MASTER_POS_WAIT otherwise, and fails early when
// a replication thread stops with an error.
func (s *Server) WaitCaughtUp(ctx context.Context, source *Server) error {
	st, err := source.SourceStatus(ctx)
	if err != nil {
		return err
	}
	return s.WaitApplied(ctx, st)
}

// WaitApplied waits until replica s has applied the source position st: by
// GTID when the replica uses GTIDs and st has one, else by file and offset.
func (s *Server) WaitApplied(ctx context.Context, st SourceStatus) error {
	db, err := s.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	for {
		status, err := queryRowMap(ctx, db, "SHOW SLAVE STATUS")
		if err != nil {
			return fmt.Errorf("%s: show slave status: %w", s.Addr(), err)
		}
		if status == nil {
			return fmt.Errorf("%s is not a replica", s.Addr())
		}
		if e := status["Last_SQL_Error"]; e != "" {
			return fmt.Errorf("%s: replication SQL thread stopped: %s", s.Addr(), e)
		}
		if e := status["Last_IO_Error"]; e != "" && status["Slave_IO_Running"] == "No" {
			return fmt.Errorf("%s: replication IO thread stopped: %s", s.Addr(), e)
		}
		var res sql.NullInt64
		if status["Using_Gtid"] != "No" && st.GTID != "" {
			err = db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 1)", st.GTID).Scan(&res)
		} else {
			err = db.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, 1)", st.File, st.Pos).Scan(&res)
		}
		if err != nil {
			return fmt.Errorf("%s: wait for source position %s:%d gtid %s: %w", s.Addr(), st.File, st.Pos, st.GTID, err)
		}
		// MASTER_GTID_WAIT returns 0 when reached; MASTER_POS_WAIT returns the
		// number of events waited for (>= 0). -1 is a timeout and NULL means
		// the SQL thread is not running: look at the status again.
		if res.Valid && res.Int64 >= 0 {
			return nil
		}
		if !res.Valid {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// StopReplicaSQLThread pauses applying on replica s; events keep arriving in
// the relay log.
func (s *Server) StopReplicaSQLThread(ctx context.Context) error {
	return s.ExecContext(ctx, "STOP SLAVE SQL_THREAD")
}

// StartReplicaSQLThread resumes applying on replica s.
func (s *Server) StartReplicaSQLThread(ctx context.Context) error {
	return s.ExecContext(ctx, "START SLAVE SQL_THREAD")
}

// queryRowMap runs a query expected to return at most one row and returns it
// as column name to text, or nil when there is no row.
func queryRowMap(ctx context.Context, db *sql.DB, query string) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		m[c] = vals[i].String
	}
	return m, rows.Err()
}

// quoteString renders s as a SQL string literal for the statements that take
// no placeholders (CHANGE MASTER TO, SET GLOBAL).
func quoteString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b = append(b, '\\', c)
		case 0:
			b = append(b, '\\', '0')
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '\''))
}
