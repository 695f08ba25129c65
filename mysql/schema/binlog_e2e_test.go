package schema

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/binlog"
)

// warnCounter is a slog handler that keeps the warnings a test provokes.
type warnCounter struct {
	mu    sync.Mutex
	warns []string
}

func (w *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		w.mu.Lock()
		w.warns = append(w.warns, b.String())
		w.mu.Unlock()
	}
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.warns
	w.warns = nil
	return out
}

// tableMapFromEvent converts go-mysql's TABLE_MAP into ours, the way the
// decoder fills it: optional metadata per column, nil when absent.
func tableMapFromEvent(ev *replication.TableMapEvent) *binlog.TableMap {
	n := int(ev.ColumnCount)
	tm := &binlog.TableMap{TableID: ev.TableID, Flags: ev.Flags, Schema: string(ev.Schema), Table: string(ev.Table),
		Types: slices.Clone(ev.ColumnType), Meta: slices.Clone(ev.ColumnMeta), Nullable: make([]bool, n)}
	for i := 0; i < n; i++ {
		_, tm.Nullable[i] = ev.Nullable(i)
	}
	if len(ev.SignednessBitmap) > 0 {
		tm.Unsigned = make([]bool, n)
		for i, u := range ev.UnsignedMap() {
			tm.Unsigned[i] = u
		}
	}
	// go-mysql's CollationMap does not count MySQL 9's VECTOR as a
	// character column, which shifts the charsets of the columns after one;
	// map them here the way the server writes them.
	isChar := func(i int) bool {
		switch rt := realType(tm, i); rt {
		case btString, btVarString, btVarchar, btTinyBlob, btBlob, btMediumBlob, btLongBlob, btVector:
			return true
		}
		return false
	}
	isEnumSet := func(i int) bool { rt := realType(tm, i); return rt == btEnum || rt == btSet }
	assign := func(include func(int) bool, dflt, perColumn []uint64) {
		if len(dflt) == 0 && len(perColumn) == 0 {
			return
		}
		if tm.Collations == nil {
			tm.Collations = make([]uint16, n)
		}
		var idx []int
		for i := 0; i < n; i++ {
			if include(i) {
				idx = append(idx, i)
			}
		}
		if len(perColumn) > 0 {
			for k, i := range idx {
				if k < len(perColumn) {
					tm.Collations[i] = uint16(perColumn[k])
				}
			}
			return
		}
		for _, i := range idx {
			tm.Collations[i] = uint16(dflt[0])
		}
		for k := 1; k+1 < len(dflt); k += 2 {
			if j := int(dflt[k]); j < len(idx) {
				tm.Collations[idx[j]] = uint16(dflt[k+1])
			}
		}
	}
	assign(isChar, ev.DefaultCharset, ev.ColumnCharset)
	assign(isEnumSet, ev.EnumSetDefaultCharset, ev.EnumSetColumnCharset)
	if len(ev.ColumnName) > 0 {
		tm.Names = ev.ColumnNameString()
	}
	if m := ev.EnumStrValueMap(); len(m) > 0 {
		tm.EnumValues = make([][]string, n)
		for i, v := range m {
			tm.EnumValues[i] = v
		}
	}
	if m := ev.SetStrValueMap(); len(m) > 0 {
		tm.SetValues = make([][]string, n)
		for i, v := range m {
			tm.SetValues[i] = v
		}
	}
	for _, p := range ev.PrimaryKey {
		tm.PrimaryKey = append(tm.PrimaryKey, int(p))
	}
	if m := ev.VisibilityMap(); len(m) > 0 {
		tm.Visible = make([]bool, n)
		for i, v := range m {
			tm.Visible[i] = v
		}
	}
	tm.HasMetadata = tm.Unsigned != nil || tm.Collations != nil || tm.Names != nil
	return tm
}

// TestResolveRealBinlog runs the DDL scenarios with rows written after every
// statement on real MariaDB servers (full and minimal row metadata), then
// reads their binlogs: every QUERY event goes to ApplyDDL and every
// TABLE_MAP to ResolveTable, in order, as capture and decode will do. Every
// TABLE_MAP must resolve, agree with the event, and cause no warning.
func TestResolveRealBinlog(t *testing.T) {
	for _, meta := range []string{"FULL", "MINIMAL"} {
		t.Run(meta, func(t *testing.T) {
			srv := testdb.Start(t, testdb.Options{RowMetadata: meta})
			ctx := context.Background()
			db := srv.DB(t, "")
			db.SetMaxOpenConns(1)
			// Rows with NULLs must not stop a later MODIFY ... NOT NULL.
			if _, err := db.ExecContext(ctx, "SET SESSION sql_mode = ''"); err != nil {
				t.Fatal(err)
			}
			inserted := 0
			for _, sc := range ddlScenarios {
				if sc.name == "mariadb" {
					// go-mysql misreads the metadata of MariaDB's compressed
					// columns (types 140/141), so this oracle cannot read
					// that scenario's TABLE_MAPs.
					continue
				}
				stmts := append([]string{"CREATE DATABASE `" + sc.name + "`"}, sc.stmts...)
				for i, q := range stmts {
					if i > 0 {
						if _, err := db.ExecContext(ctx, "USE `"+sc.name+"`"); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := db.ExecContext(ctx, q); err != nil {
						t.Fatalf("%q: %v", q, err)
					}
					names, err := serverTableNames(ctx, db, sc.name)
					if err != nil {
						t.Fatal(err)
					}
					for _, n := range names {
						res, err := db.ExecContext(ctx, "INSERT IGNORE INTO "+quoteIdent(sc.name)+"."+quoteIdent(n)+" () VALUES ()")
						if err != nil {
							continue // a sequence, or a column without an implicit default
						}
						if k, _ := res.RowsAffected(); k > 0 {
							inserted++
						}
						// Empty again, so that later DDL (ADD PRIMARY KEY, ...) holds.
						if _, err := db.ExecContext(ctx, "DELETE FROM "+quoteIdent(sc.name)+"."+quoteIdent(n)); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
				t.Fatal(err)
			}
			warns := &warnCounter{}
			h, err := New(Options{Name: "e2e", Flavor: change.MariaDB, ServerCharset: "utf8mb4", ServerCollation: "utf8mb4_general_ci",
				Logger: slog.New(warns)})
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(srv.BinlogDir(), "binlog.[0-9]*"))
			resolved, queries := 0, 0
			p := replication.NewBinlogParser()
			for _, f := range files {
				file := filepath.Base(f)
				err := p.ParseFile(f, 0, func(e *replication.BinlogEvent) error {
					pos := change.Position{File: file, Offset: uint64(e.Header.LogPos)}
					switch ev := e.Event.(type) {
					case *replication.QueryEvent:
						queries++
						if _, err := h.ApplyDDL(ctx, DDL{Schema: string(ev.Schema), SQL: string(ev.Query), Pos: pos}); err != nil {
							return err
						}
					case *replication.TableMapEvent:
						tm := tableMapFromEvent(ev)
						tbl, err := h.ResolveTable(tm, pos)
						if err != nil {
							return err
						}
						resolved++
						checkAgainstTableMap(t, tbl, tm, pos)
					}
					for _, w := range warns.take() {
						t.Errorf("at %s: warning: %s", pos, w)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
			}
			if resolved < inserted || inserted < 50 {
				t.Fatalf("resolved %d TABLE_MAPs for %d inserted rows; the workload did not exercise the history", resolved, inserted)
			}
			t.Logf("%d QUERY events, %d rows inserted, %d TABLE_MAPs resolved", queries, inserted, resolved)
		})
	}
}

// checkAgainstTableMap checks that a resolved table says what the event
// says.
func checkAgainstTableMap(t *testing.T, tbl *change.Table, tm *binlog.TableMap, pos change.Position) {
	t.Helper()
	if len(tbl.Columns) != len(tm.Types) {
		t.Fatalf("%s.%s at %s: %d columns, event %d", tm.Schema, tm.Table, pos, len(tbl.Columns), len(tm.Types))
	}
	for i, c := range tbl.Columns {
		if tm.Names != nil && c.Name != tm.Names[i] {
			t.Errorf("%s.%s at %s: column %d is %s, event %s", tm.Schema, tm.Table, pos, i, c.Name, tm.Names[i])
		}
		if c.Nullable != tm.Nullable[i] {
			t.Errorf("%s.%s at %s: column %s nullable %v, event %v", tm.Schema, tm.Table, pos, c.Name, c.Nullable, tm.Nullable[i])
		}
		if tm.Unsigned != nil && (isInteger(c.Type) || c.Type == change.TypeDecimal) && c.Unsigned != tm.Unsigned[i] {
			t.Errorf("%s.%s at %s: column %s unsigned %v, event %v", tm.Schema, tm.Table, pos, c.Name, c.Unsigned, tm.Unsigned[i])
		}
		if tm.Collations != nil && tm.Collations[i] != 0 && hasCharset(c.Type) {
			cs, co, ok := collations.ByID(tm.Collations[i])
			if !ok || c.Charset != cs || c.Collation != co {
				t.Errorf("%s.%s at %s: column %s charset %s/%s, event %d (%s/%s)", tm.Schema, tm.Table, pos, c.Name, c.Charset, c.Collation, tm.Collations[i], cs, co)
			}
		}
		if !compatible(c.Type, realType(tm, i)) {
			t.Errorf("%s.%s at %s: column %s type %s, event %s", tm.Schema, tm.Table, pos, c.Name, c.Type, binlogTypeName(realType(tm, i)))
		}
	}
	if tm.PrimaryKey != nil && !slices.Equal(tbl.PrimaryKey, tm.PrimaryKey) {
		t.Errorf("%s.%s at %s: primary key %v, event %v", tm.Schema, tm.Table, pos, tbl.PrimaryKey, tm.PrimaryKey)
	}
}
