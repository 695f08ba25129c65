package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TableSummary is what two copies of a table must agree on: the row count
// and CHECKSUM TABLE (which reads every column's stored bytes).
type TableSummary struct {
	Rows     int64
	Checksum sql.NullInt64
}

// Summarize reads the summary of schema.table ("`"-free names).
func (s *Server) Summarize(ctx context.Context, table string) (TableSummary, error) {
	db, err := s.Open("")
	if err != nil {
		return TableSummary{}, err
	}
	defer db.Close()
	return summarize(ctx, db, table)
}

func quoteTable(table string) string {
	schema, name, _ := strings.Cut(table, ".")
	q := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	return q(schema) + "." + q(name)
}

func summarize(ctx context.Context, db *sql.DB, table string) (TableSummary, error) {
	var sum TableSummary
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+quoteTable(table)).Scan(&sum.Rows); err != nil {
		return sum, fmt.Errorf("count %s: %w", table, err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE "+quoteTable(table)).Scan(&name, &sum.Checksum); err != nil {
		return sum, fmt.Errorf("checksum %s: %w", table, err)
	}
	return sum, nil
}

// WaitSameData waits until every table has the same row count and
// CHECKSUM TABLE on a and b, failing the test with both summaries when they
// still differ after timeout.
func WaitSameData(tb testing.TB, a, b *Server, timeout time.Duration, tables ...string) {
	tb.Helper()
	if err := waitSame(a, b, timeout, tables); err != nil {
		tb.Fatal(err)
	}
}

func waitSame(a, b *Server, timeout time.Duration, tables []string) error {
	ctx := context.Background()
	da, err := a.Open("")
	if err != nil {
		return err
	}
	defer da.Close()
	dbb, err := b.Open("")
	if err != nil {
		return err
	}
	defer dbb.Close()
	deadline := time.Now().Add(timeout)
	for {
		var diffs []string
		for _, t := range tables {
			sa, errA := summarize(ctx, da, t)
			sb, errB := summarize(ctx, dbb, t)
			if errA != nil || errB != nil || sa != sb {
				diffs = append(diffs, fmt.Sprintf("%s: %s has %+v (%v), %s has %+v (%v)", t, a.Addr(), sa, errA, b.Addr(), sb, errB))
			}
		}
		if len(diffs) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tables still differ after %s:\n%s", timeout, strings.Join(diffs, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
