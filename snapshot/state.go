package snapshot

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// The copy's progress lives in the target's state schema, next to the
// checkpoint, and moves in the same target transactions as the rows it
// covers (docs/target-schema.md):
//
//   - snapshot_table: one row per source table of the copy, written when
//     the copy is planned; done is set by the transaction that applies the
//     table's last chunk.
//   - snapshot_chunk: one row per chunk applied, written by the chunk's
//     own transaction. A restart resumes each table after the longest run
//     of chunks 1..n that are all applied.

func stateDDL(schema string) []string {
	q := sqlbuild.QuoteIdent(schema)
	return []string{
		"CREATE DATABASE IF NOT EXISTS " + q,
		"CREATE TABLE IF NOT EXISTS " + q + ".`snapshot_table` (" +
			"`pipeline` VARCHAR(191) COLLATE utf8mb4_bin NOT NULL," +
			"`source_schema` VARCHAR(64) COLLATE utf8mb4_bin NOT NULL," +
			"`source_table` VARCHAR(64) COLLATE utf8mb4_bin NOT NULL," +
			"`target_schema` VARCHAR(64) COLLATE utf8mb4_bin NOT NULL DEFAULT ''," +
			"`target_table` VARCHAR(64) COLLATE utf8mb4_bin NOT NULL DEFAULT ''," +
			"`rows_estimated` BIGINT UNSIGNED NOT NULL DEFAULT 0," +
			"`done` TINYINT NOT NULL DEFAULT 0," +
			"`planned_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)," +
			"`finished_at` DATETIME(6) NULL," +
			"PRIMARY KEY (`pipeline`,`source_schema`,`source_table`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		"CREATE TABLE IF NOT EXISTS " + q + ".`snapshot_chunk` (" +
			"`pipeline` VARCHAR(191) COLLATE utf8mb4_bin NOT NULL," +
			"`source_schema` VARCHAR(64) COLLATE utf8mb4_bin NOT NULL," +
			"`source_table` VARCHAR(64) COLLATE utf8mb4_bin NOT NULL," +
			"`seq` BIGINT UNSIGNED NOT NULL," +
			"`lower_key` TEXT NULL," +
			"`upper_key` TEXT NULL," +
			"`rows` BIGINT UNSIGNED NOT NULL," +
			"PRIMARY KEY (`pipeline`,`source_schema`,`source_table`,`seq`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	}
}

// stateTables are the definitions of the progress tables as row changes
// name them. Their text keys are compared byte-wise (utf8mb4_bin), which
// lets the applier run chunks of one table in parallel.
type stateTables struct {
	table, chunk *change.Table
}

func newStateTables(schema string) stateTables {
	name := func(n string) change.Column {
		return change.Column{Name: n, Type: change.TypeVarChar, Charset: "utf8mb4", Collation: "utf8mb4_bin", Length: 191}
	}
	u64 := func(n string) change.Column {
		return change.Column{Name: n, Type: change.TypeBigInt, Unsigned: true}
	}
	text := func(n string) change.Column {
		return change.Column{Name: n, Type: change.TypeText, Charset: "utf8mb4", Collation: "utf8mb4_general_ci", Nullable: true}
	}
	return stateTables{
		table: &change.Table{Schema: schema, Name: "snapshot_table", Columns: []change.Column{
			name("pipeline"), name("source_schema"), name("source_table"), name("target_schema"), name("target_table"),
			u64("rows_estimated"), {Name: "done", Type: change.TypeTinyInt},
			{Name: "planned_at", Type: change.TypeTimestamp, Scale: 6},
			{Name: "finished_at", Type: change.TypeDateTime, Scale: 6, Nullable: true},
		}, PrimaryKey: []int{0, 1, 2}},
		chunk: &change.Table{Schema: schema, Name: "snapshot_chunk", Columns: []change.Column{
			name("pipeline"), name("source_schema"), name("source_table"), u64("seq"),
			text("lower_key"), text("upper_key"), u64("rows"),
		}, PrimaryKey: []int{0, 1, 2, 3}},
	}
}

// chunkDone is the row change that records an applied chunk.
func (s stateTables) chunkDone(pipeline string, ch *chunk, rows int) (change.RowChange, error) {
	lo, err := encodeBound(ch.lower)
	if err != nil {
		return change.RowChange{}, err
	}
	hi, err := encodeBound(ch.upper)
	if err != nil {
		return change.RowChange{}, err
	}
	bound := func(b []byte) change.Value {
		if b == nil {
			return change.Null()
		}
		return change.String(b)
	}
	def := ch.table.def
	return change.RowChange{Table: s.chunk, Op: change.Insert, After: change.Row{
		change.String([]byte(pipeline)), change.String([]byte(def.Schema)), change.String([]byte(def.Name)),
		change.Uint(ch.seq), bound(lo), bound(hi), change.Uint(uint64(rows)),
	}}, nil
}

// tableDone is the row change that marks a table copied. planned_at keeps
// its value.
func (s stateTables) tableDone(pipeline string, tb *table, now time.Time) change.RowChange {
	t := now.UTC()
	return change.RowChange{Table: s.table, Op: change.Insert, After: change.Row{
		change.String([]byte(pipeline)), change.String([]byte(tb.def.Schema)), change.String([]byte(tb.def.Name)),
		change.String([]byte(tb.target.Schema)), change.String([]byte(tb.target.Name)), change.Uint(tb.estimate),
		change.Int(1), change.Absent(),
		change.DateTime(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000, 6),
	}}
}

// EnsureState creates the progress tables in the target's state schema.
func EnsureState(ctx context.Context, target *sql.DB, schema string) error {
	for _, q := range stateDDL(schema) {
		if _, err := target.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create copy progress tables in %s: %w", sqlbuild.QuoteIdent(schema), err)
		}
	}
	return nil
}

// TableState is one table's copy progress as the target records it.
type TableState struct {
	Schema, Name             string // source
	TargetSchema, TargetName string
	RowsEstimated            uint64
	Done                     bool
	// Chunks are the applied chunks, by seq.
	Chunks []ChunkState
}

// ChunkState is one applied chunk.
type ChunkState struct {
	Seq          uint64
	Lower, Upper []byte // encoded bounds; nil is open
	Rows         uint64
}

// State is a pipeline's copy as the target records it. Planned is false
// when the pipeline never planned a copy.
type State struct {
	Planned bool
	Tables  []TableState
}

// Complete reports whether every planned table is copied.
func (s State) Complete() bool {
	if !s.Planned {
		return false
	}
	for _, t := range s.Tables {
		if !t.Done {
			return false
		}
	}
	return true
}

// LoadState reads a pipeline's copy progress from the target. The tables
// are created when missing.
func LoadState(ctx context.Context, target *sql.DB, schema, pipeline string) (State, error) {
	if err := EnsureState(ctx, target, schema); err != nil {
		return State{}, err
	}
	q := sqlbuild.QuoteIdent(schema)
	rows, err := target.QueryContext(ctx, "SELECT `source_schema`,`source_table`,`target_schema`,`target_table`,`rows_estimated`,`done` FROM "+
		q+".`snapshot_table` WHERE `pipeline`=? ORDER BY `source_schema`,`source_table`", pipeline)
	if err != nil {
		return State{}, fmt.Errorf("read copy progress of pipeline %q: %w", pipeline, err)
	}
	var st State
	index := map[[2]string]int{}
	for rows.Next() {
		var t TableState
		if err := rows.Scan(&t.Schema, &t.Name, &t.TargetSchema, &t.TargetName, &t.RowsEstimated, &t.Done); err != nil {
			rows.Close()
			return State{}, fmt.Errorf("read copy progress of pipeline %q: %w", pipeline, err)
		}
		index[[2]string{t.Schema, t.Name}] = len(st.Tables)
		st.Tables = append(st.Tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return State{}, fmt.Errorf("read copy progress of pipeline %q: %w", pipeline, err)
	}
	st.Planned = len(st.Tables) > 0
	crows, err := target.QueryContext(ctx, "SELECT `source_schema`,`source_table`,`seq`,`lower_key`,`upper_key`,`rows` FROM "+
		q+".`snapshot_chunk` WHERE `pipeline`=?", pipeline)
	if err != nil {
		return State{}, fmt.Errorf("read copied chunks of pipeline %q: %w", pipeline, err)
	}
	defer crows.Close()
	for crows.Next() {
		var s, n string
		var c ChunkState
		if err := crows.Scan(&s, &n, &c.Seq, &c.Lower, &c.Upper, &c.Rows); err != nil {
			return State{}, fmt.Errorf("read copied chunks of pipeline %q: %w", pipeline, err)
		}
		if i, ok := index[[2]string{s, n}]; ok {
			st.Tables[i].Chunks = append(st.Tables[i].Chunks, c)
		}
	}
	if err := crows.Err(); err != nil {
		return State{}, fmt.Errorf("read copied chunks of pipeline %q: %w", pipeline, err)
	}
	for i := range st.Tables {
		sort.Slice(st.Tables[i].Chunks, func(a, b int) bool { return st.Tables[i].Chunks[a].Seq < st.Tables[i].Chunks[b].Seq })
	}
	return st, nil
}

// resumePoint returns where a table's copy goes on: the applied chunks
// 1..n with no gap, the upper bound of chunk n, and the rows they hold.
// Chunks after a gap were applied out of order before a stop; they are
// copied again.
func (t *TableState) resumePoint() (n uint64, upper []byte, rows uint64, final bool) {
	for _, c := range t.Chunks {
		if c.Seq != n+1 {
			break
		}
		n = c.Seq
		upper = c.Upper
		rows += c.Rows
		final = c.Upper == nil
	}
	return n, upper, rows, final
}

// planState records a new copy's tables in the target, replacing what an
// earlier copy of the same pipeline left.
func planState(ctx context.Context, target *sql.DB, schema, pipeline string, tables []TableState) error {
	q := sqlbuild.QuoteIdent(schema)
	tx, err := target.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record the copy plan of pipeline %q: %w", pipeline, err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{"DELETE FROM " + q + ".`snapshot_table` WHERE `pipeline`=?", "DELETE FROM " + q + ".`snapshot_chunk` WHERE `pipeline`=?"} {
		if _, err := tx.ExecContext(ctx, stmt, pipeline); err != nil {
			return fmt.Errorf("record the copy plan of pipeline %q: %w", pipeline, err)
		}
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+q+".`snapshot_table` (`pipeline`,`source_schema`,`source_table`,`target_schema`,`target_table`,`rows_estimated`,`done`) VALUES (?,?,?,?,?,?,?)",
			pipeline, t.Schema, t.Name, t.TargetSchema, t.TargetName, t.RowsEstimated, t.Done); err != nil {
			return fmt.Errorf("record the copy plan of pipeline %q, table %s.%s: %w", pipeline, t.Schema, t.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record the copy plan of pipeline %q: %w", pipeline, err)
	}
	return nil
}

// forgetChunksAfter deletes the chunk rows of a table after seq n: they
// lie beyond a gap and are copied again.
func forgetChunksAfter(ctx context.Context, target *sql.DB, schema, pipeline string, t *TableState, n uint64) error {
	_, err := target.ExecContext(ctx, "DELETE FROM "+sqlbuild.QuoteIdent(schema)+".`snapshot_chunk` WHERE `pipeline`=? AND `source_schema`=? AND `source_table`=? AND `seq`>?",
		pipeline, t.Schema, t.Name, n)
	if err != nil {
		return fmt.Errorf("resume the copy of %s.%s: %w", t.Schema, t.Name, err)
	}
	return nil
}
