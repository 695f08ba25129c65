package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/capture"
	"github.com/sluice-db/sluice/mysql/schema"
	"github.com/sluice-db/sluice/mysql/source"
	"github.com/sluice-db/sluice/pipeline"
)

type tailOptions struct {
	source        string
	from          string
	stopAtEnd     bool
	serverID      uint32
	schemaHistory string
	binlogFiles   []string
	tables        string
	format        string
	count         bool
	fragmentRows  int
}

func newTailCommand(g *globalFlags) *cobra.Command {
	o := &tailOptions{}
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print a binlog's row changes as JSON Lines, live or from files",
		Long: `tail reads a MySQL or MariaDB binlog as a replica (--source) or from binlog
files (--binlog-file) and prints one JSON object per row change, or per
transaction with --format txn. See docs/tail.md.`,
		Example: `  sluice tail --source mysql://repl:secret@db1:3306 --from now --tables 'shop.*'
  sluice tail --source mysql://root@127.0.0.1:3306 --from start --stop-at-end --count
  sluice tail --binlog-file binlog.000001 --binlog-file binlog.000002 --format txn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			return runTail(cmd.Context(), o, cmd.OutOrStdout(), log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.source, "source", "", "data source to read live: mysql://user:pass@host:port")
	f.StringVar(&o.from, "from", "now", "where to start: now, start, FILE:POS, a GTID set or list, or a time (RFC 3339 or 'YYYY-MM-DD hh:mm:ss', local time)")
	f.BoolVar(&o.stopAtEnd, "stop-at-end", false, "exit once caught up with the source's end of binlog as it was at start")
	f.Uint32Var(&o.serverID, "server-id", 0, "server id to register with (default: a free one)")
	f.StringVar(&o.schemaHistory, "schema-history", "", "SQLite file that keeps the schema history between runs")
	f.StringArrayVar(&o.binlogFiles, "binlog-file", nil, "read this binlog file offline (repeat for several, in order)")
	f.StringVar(&o.tables, "tables", "", "only these tables: comma-separated schema.table globs, e.g. 'shop.*,crm.users'; prefix ! to exclude")
	f.StringVar(&o.format, "format", "row", "output: row (one line per row change) or txn (one line per transaction)")
	f.BoolVar(&o.count, "count", false, "decode everything but print only 'txns=N insert=N update=N delete=N' at the end")
	f.IntVar(&o.fragmentRows, "fragment-rows", 20000, "split transactions with more row changes than this")
	return cmd
}

// parseTableFilter turns --tables into a selection. A pattern without a
// dot means every table of that schema.
func parseTableFilter(spec string) (*pipeline.Selection, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	sel := &pipeline.Selection{Ops: pipeline.AllOps()}
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		exclude := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if !strings.Contains(p, ".") {
			p += ".*"
		}
		if err := pipeline.ValidatePattern(p); err != nil {
			return nil, fmt.Errorf("--tables: %w", err)
		}
		if exclude {
			sel.Exclude = append(sel.Exclude, p)
		} else {
			sel.Rules = append(sel.Rules, pipeline.TableRule{Source: p})
		}
	}
	if len(sel.Rules) == 0 {
		sel.Rules = []pipeline.TableRule{{Source: "*.*"}}
	}
	return sel, nil
}

func runTail(ctx context.Context, o *tailOptions, stdout io.Writer, log *slog.Logger) error {
	if (o.source == "") == (len(o.binlogFiles) == 0) {
		return errors.New("give either --source (read live) or --binlog-file (read files)")
	}
	if o.format != "row" && o.format != "txn" {
		return fmt.Errorf("--format must be row or txn, not %q", o.format)
	}
	sel, err := parseTableFilter(o.tables)
	if err != nil {
		return err
	}
	var filter func(schema, table string) bool
	if sel != nil {
		filter = func(schema, table string) bool { return sel.Match(schema, table) != nil }
	}
	out := newTailWriter(stdout, o.format, sel, o.count)
	defer out.close()

	if len(o.binlogFiles) > 0 {
		if o.from != "now" && o.from != "" {
			return errors.New("--from applies to --source; binlog files are read whole")
		}
		flavor, err := capture.FileFlavor(o.binlogFiles[0])
		if err != nil {
			return err
		}
		history, closeHistory, err := openTailHistory(ctx, o.schemaHistory, flavor, false, log)
		if err != nil {
			return err
		}
		defer closeHistory()
		_, err = capture.ReadFiles(ctx, o.binlogFiles, capture.FileConfig{
			History: history, TableFilter: filter, FragmentRows: o.fragmentRows, Logger: log,
		}, out.deliver)
		if err != nil {
			return err
		}
		return out.finish()
	}

	src, err := source.Parse(o.source)
	if err != nil {
		return err
	}
	start, err := capture.ParseStart(o.from, nil)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	flavor, err := capture.DetectFlavor(ctx, src)
	if err != nil {
		return err
	}
	history, closeHistory, err := openTailHistory(ctx, o.schemaHistory, flavor, true, log)
	if err != nil {
		return err
	}
	defer closeHistory()
	c, err := capture.New(capture.Config{
		Source: src, Name: "tail", ServerID: o.serverID, From: start, StopAtEnd: o.stopAtEnd,
		History: history, TableFilter: filter, FragmentRows: o.fragmentRows, Logger: log,
	})
	if err != nil {
		return err
	}
	stopFlush := out.flushEvery(200 * time.Millisecond)
	err = c.Run(ctx, out.deliver)
	stopFlush()
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return err
	}
	return out.finish()
}

// tailWriter prints what capture delivers. Writes are buffered and flushed
// by a ticker, so a busy stream does not pay a write per line and a quiet
// one still shows its lines at once.
type tailWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	format string
	sel    *pipeline.Selection
	count  bool
	line   []byte

	txns, inserts, updates, deletes int64
}

func newTailWriter(w io.Writer, format string, sel *pipeline.Selection, count bool) *tailWriter {
	return &tailWriter{w: bufio.NewWriterSize(w, 256<<10), format: format, sel: sel, count: count}
}

func (t *tailWriter) deliver(_ context.Context, txn *change.Txn) error {
	if txn.Changes == nil && txn.DDL == nil && !txn.More && txn.Fragment == 0 {
		return nil // a position-only Txn: nothing to print
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if txn.DDL != nil && t.sel != nil && txn.DDL.Schema != "" && t.sel.MatchSchema(txn.DDL.Schema) == nil {
		return nil
	}
	if !txn.More {
		t.txns++
	}
	ins, upd, del := txn.Counts()
	t.inserts += int64(ins)
	t.updates += int64(upd)
	t.deletes += int64(del)
	if t.count {
		return nil
	}
	if t.format == "txn" {
		t.line = appendTxnJSON(t.line[:0], txn)
		t.line = append(t.line, '\n')
		_, err := t.w.Write(t.line)
		return err
	}
	if txn.DDL != nil {
		t.line = appendDDLLine(t.line[:0], txn)
		t.line = append(t.line, '\n')
		if _, err := t.w.Write(t.line); err != nil {
			return err
		}
	}
	for i := range txn.Changes {
		t.line = appendChangeLine(t.line[:0], txn, &txn.Changes[i])
		t.line = append(t.line, '\n')
		if _, err := t.w.Write(t.line); err != nil {
			return err
		}
	}
	return nil
}

func (t *tailWriter) flushEvery(d time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				t.mu.Lock()
				t.w.Flush()
				t.mu.Unlock()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// finish prints the totals of --count and flushes.
func (t *tailWriter) finish() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.count {
		fmt.Fprintf(t.w, "txns=%d insert=%d update=%d delete=%d\n", t.txns, t.inserts, t.updates, t.deletes)
	}
	return t.w.Flush()
}

func (t *tailWriter) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.w.Flush()
}

// appendChangeLine is one row change as a JSON object.
func appendChangeLine(b []byte, txn *change.Txn, c *change.RowChange) []byte {
	b = append(b, `{"schema":`...)
	b = change.AppendJSONString(b, []byte(c.Table.Schema))
	b = append(b, `,"table":`...)
	b = change.AppendJSONString(b, []byte(c.Table.Name))
	b = append(b, `,"op":"`...)
	b = append(b, c.Op.String()...)
	b = append(b, `","before":`...)
	b = appendRowJSON(b, c.Table, c.Before)
	b = append(b, `,"after":`...)
	b = appendRowJSON(b, c.Table, c.After)
	b = appendTxnFields(b, txn)
	return append(b, '}')
}

func appendDDLLine(b []byte, txn *change.Txn) []byte {
	b = append(b, `{"schema":`...)
	b = change.AppendJSONString(b, []byte(txn.DDL.Schema))
	b = append(b, `,"op":"ddl","statement":`...)
	b = change.AppendJSONString(b, []byte(txn.DDL.Statement))
	b = appendTxnFields(b, txn)
	return append(b, '}')
}

// appendTxnFields adds where and when a transaction committed.
func appendTxnFields(b []byte, txn *change.Txn) []byte {
	b = append(b, `,"position":`...)
	b = change.AppendJSONString(b, []byte(txn.End.File+":"+strconv.FormatUint(txn.End.Offset, 10)))
	b = append(b, `,"gtid":`...)
	b = change.AppendJSONString(b, []byte(txn.GTID))
	b = append(b, `,"timestamp":"`...)
	b = txn.Timestamp.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, '"')
	if txn.More || txn.Fragment > 0 {
		b = append(b, `,"fragment":`...)
		b = strconv.AppendInt(b, int64(txn.Fragment), 10)
		b = append(b, `,"more":`...)
		b = strconv.AppendBool(b, txn.More)
	}
	return b
}

// appendRowJSON writes a row image as {"column": value}; null for none.
// Columns the image did not carry (binlog_row_image=MINIMAL) are left out.
func appendRowJSON(b []byte, t *change.Table, r change.Row) []byte {
	if r == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	for i, v := range r {
		if v.Kind == change.KindAbsent {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		name, charset := "", ""
		if i < len(t.Columns) {
			name, charset = t.Columns[i].Name, t.Columns[i].Charset
		} else {
			name = "col_" + strconv.Itoa(i+1)
		}
		b = change.AppendJSONString(b, []byte(name))
		b = append(b, ':')
		b = v.AppendJSON(b, charset)
	}
	return append(b, '}')
}

// appendTxnJSON is one transaction as a JSON object (--format txn).
func appendTxnJSON(b []byte, txn *change.Txn) []byte {
	b = append(b, `{"gtid":`...)
	b = change.AppendJSONString(b, []byte(txn.GTID))
	b = append(b, `,"server_id":`...)
	b = strconv.AppendUint(b, uint64(txn.ServerID), 10)
	b = append(b, `,"timestamp":"`...)
	b = txn.Timestamp.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `","begin":`...)
	b = change.AppendJSONString(b, []byte(txn.Begin.File+":"+strconv.FormatUint(txn.Begin.Offset, 10)))
	b = append(b, `,"end":`...)
	b = change.AppendJSONString(b, []byte(txn.End.File+":"+strconv.FormatUint(txn.End.Offset, 10)))
	b = append(b, `,"end_gtid":`...)
	b = change.AppendJSONString(b, []byte(txn.End.GTID))
	if txn.More || txn.Fragment > 0 {
		b = append(b, `,"fragment":`...)
		b = strconv.AppendInt(b, int64(txn.Fragment), 10)
		b = append(b, `,"more":`...)
		b = strconv.AppendBool(b, txn.More)
	}
	if txn.DDL != nil {
		b = append(b, `,"ddl":{"schema":`...)
		b = change.AppendJSONString(b, []byte(txn.DDL.Schema))
		b = append(b, `,"statement":`...)
		b = change.AppendJSONString(b, []byte(txn.DDL.Statement))
		b = append(b, '}')
	}
	b = append(b, `,"changes":[`...)
	for i := range txn.Changes {
		c := &txn.Changes[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"schema":`...)
		b = change.AppendJSONString(b, []byte(c.Table.Schema))
		b = append(b, `,"table":`...)
		b = change.AppendJSONString(b, []byte(c.Table.Name))
		b = append(b, `,"op":"`...)
		b = append(b, c.Op.String()...)
		b = append(b, `","before":`...)
		b = appendRowJSON(b, c.Table, c.Before)
		b = append(b, `,"after":`...)
		b = appendRowJSON(b, c.Table, c.After)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// openTailHistory opens the schema history tail decodes with: the SQLite
// file of --schema-history, or one in memory. Without a file, binlog files
// are decoded with their TABLE_MAP metadata alone (nil history), which
// never fails for want of a CREATE TABLE the files do not hold.
func openTailHistory(ctx context.Context, path string, flavor change.Flavor, live bool, log *slog.Logger) (capture.History, func(), error) {
	opts := schema.Options{Name: "tail", Flavor: flavor, Logger: log, IgnoreUnparsableDDL: true}
	if path == "" {
		if !live {
			return nil, func() {}, nil
		}
		h, err := schema.New(opts)
		if err != nil {
			return nil, nil, fmt.Errorf("schema history: %w", err)
		}
		return h, func() {}, nil
	}
	store, err := schema.OpenSQLiteStore(ctx, path)
	if err != nil {
		return nil, nil, fmt.Errorf("--schema-history %s: %w", path, err)
	}
	opts.Store = store
	// The newest state; versions by position give older events theirs.
	h, err := schema.Open(ctx, opts, change.Position{})
	if err != nil {
		return nil, nil, fmt.Errorf("--schema-history %s: %w", path, err)
	}
	return h, func() {
		if err := h.Flush(context.WithoutCancel(ctx)); err != nil {
			log.Warn("store the schema history", "file", path, "error", err)
		}
	}, nil
}
