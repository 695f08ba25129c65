package snapshot

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/schema"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// maxAttempts bounds how often one chunk is read again (a keyless table
// that changes all the time, a table altered over and over).
const maxAttempts = 25

// Run plans the copy (creating missing target tables), then reads chunks
// with Options.Workers connections until every chunk is emitted, ctx ends
// or an error stops it. It returns nil once the copy is complete.
func (c *Copier) Run(ctx context.Context) error {
	err := c.plan(ctx)
	if err != nil {
		c.fail(err)
		return err
	}
	close(c.planned)
	select {
	case <-c.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	c.stats.StartedAt = time.Now()
	if c.stats.TablesDone == c.stats.TablesTotal && !c.anyQueued() {
		c.emittedAll = true
		c.maybeCompleteLocked()
	}
	c.mu.Unlock()
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.buildIndexes(wctx); err != nil && !errors.Is(err, context.Canceled) {
			errMu.Lock()
			if first == nil {
				first = err
			}
			errMu.Unlock()
			cancel()
		}
	}()
	for i := 0; i < c.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.worker(wctx, i); err != nil && !errors.Is(err, context.Canceled) {
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		c.fail(first)
		return first
	}
	return ctx.Err()
}

func (c *Copier) anyQueued() bool {
	for _, tb := range c.order {
		if tb.queued {
			return true
		}
	}
	return false
}

// loadDefinitions reads the selected tables' definitions from the live
// source, parsed like the stream's schema history parses them.
func (c *Copier) loadDefinitions(ctx context.Context, filter func(schema, table string) bool) (map[string]*change.Table, error) {
	h, err := schema.New(schema.Options{Name: c.cfg.Pipeline + "/copy", Flavor: c.cfg.Flavor, Filter: filter, Logger: c.log})
	if err != nil {
		return nil, err
	}
	if err := h.Bootstrap(ctx, c.src, change.Position{}, schema.BootstrapOptions{}); err != nil {
		return nil, fmt.Errorf("pipeline %q: copy: read the source tables: %w", c.cfg.Pipeline, err)
	}
	out := map[string]*change.Table{}
	for _, t := range h.Tables() {
		out[t.Schema+"."+t.Name] = t.Clone()
	}
	return out, nil
}

// newTable maps a source table and picks its chunk key; nil when the
// pipeline does not replicate it.
func (c *Copier) newTable(def *change.Table) (*table, error) {
	mp, err := c.cfg.Map(def)
	if err != nil {
		return nil, fmt.Errorf("pipeline %q: copy of %s: %w", c.cfg.Pipeline, def.QualifiedName(), err)
	}
	if mp == nil {
		return nil, nil
	}
	tb := &table{def: def, target: mp.Target, project: mp.Project, nextSeq: 1, chunkRows: c.opts.ChunkRows}
	tb.key = chooseKey(def, mp.Target)
	tb.intKey = intChunkable(def, tb.key)
	return tb, nil
}

// plan decides the tables of the copy: a new copy lists the selected
// source tables, creates their missing target tables and records the plan
// in the target; a resumed one reads what the target recorded.
func (c *Copier) plan(ctx context.Context) error {
	defs, err := c.loadDefinitions(ctx, c.cfg.Selected)
	if err != nil {
		return err
	}
	if c.method == MethodWatermark {
		if err := c.ensureWatermarkTable(ctx); err != nil {
			return err
		}
	}
	var tables, late []*table
	var records []TableState
	if c.resume == nil {
		names := make([]string, 0, len(defs))
		for n := range defs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			tb, err := c.newTable(defs[n])
			if err != nil {
				return err
			}
			if tb == nil {
				continue
			}
			if err := c.prepareTarget(ctx, tb, true); err != nil {
				return err
			}
			if tb.indexes, err = missingIndexes(ctx, c.src, c.cfg.Target, tb); err != nil {
				return fmt.Errorf("pipeline %q: copy: %w", c.cfg.Pipeline, err)
			}
			if tb.estimate, err = c.estimate(ctx, tb.def); err != nil {
				return err
			}
			tables = append(tables, tb)
			records = append(records, TableState{Schema: tb.def.Schema, Name: tb.def.Name,
				TargetSchema: tb.target.Schema, TargetName: tb.target.Name, RowsEstimated: tb.estimate})
		}
		if err := planState(ctx, c.cfg.Target, c.cfg.StateSchema, c.cfg.Pipeline, records); err != nil {
			return err
		}
		c.log.Info("initial copy planned", "tables", len(tables), "method", c.method)
	} else {
		for i := range c.resume.Tables {
			ts := &c.resume.Tables[i]
			n, upper, rows, final := ts.resumePoint()
			if ts.Done {
				c.stats.TablesTotal++
				c.stats.TablesDone++
				c.stats.RowsCopied += rows
				c.stats.RowsEstimated += max(ts.RowsEstimated, rows)
				c.resumed += rows
				// A stop may have come between the table's last chunk and
				// its deferred indexes.
				if def := defs[ts.Schema+"."+ts.Name]; def != nil {
					tb, err := c.newTable(def)
					if err != nil {
						return err
					}
					if tb != nil {
						if tb.indexes, err = missingIndexes(ctx, c.src, c.cfg.Target, tb); err != nil {
							return fmt.Errorf("pipeline %q: copy: %w", c.cfg.Pipeline, err)
						}
						if len(tb.indexes) > 0 {
							late = append(late, tb)
						}
					}
				}
				continue
			}
			def := defs[ts.Schema+"."+ts.Name]
			var tb *table
			if def != nil {
				if tb, err = c.newTable(def); err != nil {
					return err
				}
			}
			if tb == nil {
				// Dropped on the source (or no longer selected) since the
				// plan: nothing is left to copy.
				c.log.Warn("table of the copy is gone from the source or the selection; marking it copied", "table", ts.Schema+"."+ts.Name)
				tb = &table{def: &change.Table{Schema: ts.Schema, Name: ts.Name}, target: &change.Table{Schema: ts.TargetSchema, Name: ts.TargetName}, planned: true, queued: true}
				tables = append(tables, tb)
				continue
			}
			if err := c.prepareTarget(ctx, tb, false); err != nil {
				return err
			}
			if tb.indexes, err = missingIndexes(ctx, c.src, c.cfg.Target, tb); err != nil {
				return fmt.Errorf("pipeline %q: copy: %w", c.cfg.Pipeline, err)
			}
			if err := forgetChunksAfter(ctx, c.cfg.Target, c.cfg.StateSchema, c.cfg.Pipeline, ts, n); err != nil {
				return err
			}
			if tb.next, err = decodeBound(upper); err != nil {
				return fmt.Errorf("pipeline %q: resume the copy of %s: %w", c.cfg.Pipeline, tb.name(), err)
			}
			if tb.next != nil && len(tb.next) != len(tb.key) {
				return fmt.Errorf("pipeline %q: resume the copy of %s: the recorded chunk bound has %d values but the key has %d columns; the table's key changed: restart the copy",
					c.cfg.Pipeline, tb.name(), len(tb.next), len(tb.key))
			}
			tb.nextSeq = n + 1
			tb.copied = rows
			tb.estimate = max(ts.RowsEstimated, rows)
			c.resumed += rows
			if final || n > 0 && tb.keyless() {
				tb.planned, tb.queued = true, true
			}
			tables = append(tables, tb)
			c.log.Info("initial copy resumes", "table", tb.name(), "chunks_done", n, "rows_done", rows)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.indexQueue = make(chan *table, len(tables)+len(late))
	for _, tb := range tables {
		c.order = append(c.order, tb)
		c.tr.tables[tb.name()] = tb
		c.stats.TablesTotal++
		c.stats.RowsEstimated += tb.estimate
		c.stats.RowsCopied += tb.copied
		if len(tb.indexes) > 0 {
			c.indexPending++
		}
	}
	for _, tb := range late {
		c.indexPending++
		c.indexQueue <- tb
	}
	return nil
}

// buildIndexes adds each copied table's deferred indexes, one table at a
// time, until the copy is complete.
func (c *Copier) buildIndexes(ctx context.Context) error {
	// Two builds at once: a table's sorted index build is one thread on
	// the target, and the last tables of a copy finish close together.
	const builders = 2
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, builders)
		ended = make(chan struct{}, builders)
		mu    sync.Mutex
		first error
	)
	defer wg.Wait()
	for {
		mu.Lock()
		err := first
		mu.Unlock()
		if err != nil {
			return err
		}
		c.mu.Lock()
		done := c.complete || c.indexPending == 0
		c.mu.Unlock()
		if done {
			return nil
		}
		var tb *table
		select {
		case tb = <-c.indexQueue:
		case <-ended:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				<-sem
				select {
				case ended <- struct{}{}: // wake the loop to look again
				default: // a wake-up is already waiting
				}
			}()
			start := time.Now()
			if err := addIndexes(ctx, c.cfg.Target, tb.target.Schema, tb.target.Name, tb.indexes); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("pipeline %q: copy: %w", c.cfg.Pipeline, err)
				}
				mu.Unlock()
				return
			}
			c.log.Info("deferred indexes added", "target", tb.target.Schema+"."+tb.target.Name, "indexes", len(tb.indexes), "took", time.Since(start).Round(time.Millisecond))
			c.mu.Lock()
			c.indexPending--
			c.maybeCompleteLocked()
			c.notify()
			c.mu.Unlock()
		}()
	}
}

// prepareTarget creates the table's target table when missing, or checks
// the existing one.
func (c *Copier) prepareTarget(ctx context.Context, tb *table, fresh bool) error {
	existed, hasRows, dropped, err := ensureTarget(ctx, c.src, c.cfg.Target, tb, !c.opts.KeepIndexes && !tb.keyless())
	if err != nil {
		return fmt.Errorf("pipeline %q: copy: %w", c.cfg.Pipeline, err)
	}
	target := tb.target.Schema + "." + tb.target.Name
	switch {
	case !existed:
		c.log.Info("target table created from the source definition", "table", tb.name(), "target", target)
		for _, d := range dropped {
			c.log.Warn("left out of the target table", "target", target, "what", d)
		}
	case fresh && hasRows && tb.keyless():
		return fmt.Errorf("pipeline %q: copy: target table %s already has rows and source table %s has no key, so the copy would duplicate them; empty the target table or start with --snapshot=none",
			c.cfg.Pipeline, target, tb.name())
	case fresh && hasRows:
		c.log.Warn("target table already has rows: the copy overwrites rows with the same key, rows the source does not have stay", "target", target)
	}
	if tb.keyless() {
		c.log.Warn("table has no primary key or NOT NULL unique key: it is copied in one pass, held in memory, and read again if it changes meanwhile", "table", tb.name())
	}
	return nil
}

func (c *Copier) estimate(ctx context.Context, def *change.Table) (uint64, error) {
	var n sql.NullInt64
	err := c.src.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA=? AND TABLE_NAME=?", def.Schema, def.Name).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("pipeline %q: copy: estimate the rows of %s: %w", c.cfg.Pipeline, def.QualifiedName(), err)
	}
	if n.Int64 < 0 {
		return 0, nil
	}
	return uint64(n.Int64), nil
}

// ensureWatermarkTable creates the source table watermarks are written to.
func (c *Copier) ensureWatermarkTable(ctx context.Context) error {
	s, t := c.tr.mark.schema, c.tr.mark.table
	var one int
	err := c.src.QueryRowContext(ctx, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=? AND TABLE_NAME=?", s, t).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("pipeline %q: copy: look for the watermark table on the source: %w", c.cfg.Pipeline, err)
	}
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + sqlbuild.QuoteIdent(s),
		"CREATE TABLE IF NOT EXISTS " + sqlbuild.QuoteTable(s, t) + " (" +
			"`pipeline` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL," +
			"`worker` INT UNSIGNED NOT NULL," +
			"`run` BIGINT UNSIGNED NOT NULL," +
			"`seq` BIGINT UNSIGNED NOT NULL," +
			"PRIMARY KEY (`pipeline`,`worker`)) ENGINE=InnoDB",
	} {
		if _, err := c.src.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("pipeline %q: copy: create the watermark table %s on source %s: %w (%w)", c.cfg.Pipeline, sqlbuild.QuoteTable(s, t), c.cfg.Source, err, errWatermark)
		}
	}
	return nil
}

func (c *Copier) writeMark(ctx context.Context, conn *sql.Conn, worker int, seq uint64) error {
	q := "INSERT INTO " + sqlbuild.QuoteTable(c.tr.mark.schema, c.tr.mark.table) + " (`pipeline`,`worker`,`run`,`seq`) VALUES (?,?,?,?) " +
		"ON DUPLICATE KEY UPDATE `run`=VALUES(`run`),`seq`=VALUES(`seq`)"
	if _, err := conn.ExecContext(ctx, q, c.cfg.Pipeline, worker, c.run, seq); err != nil {
		return fmt.Errorf("pipeline %q: copy: write a watermark on source %s: %w (%w)", c.cfg.Pipeline, c.cfg.Source, err, errWatermark)
	}
	return nil
}

// worker reads chunks on its own source connection until the copy is
// complete.
func (c *Copier) worker(ctx context.Context, id int) error {
	conn, err := c.src.Conn(ctx)
	if err != nil {
		return fmt.Errorf("pipeline %q: copy: connect to source %s: %w", c.cfg.Pipeline, c.cfg.Source, err)
	}
	defer conn.Close()
	for _, q := range sessionSetup {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("pipeline %q: copy: prepare a session on source %s: %w", c.cfg.Pipeline, c.cfg.Source, err)
		}
	}
	for {
		if err := c.throttle(ctx); err != nil {
			return err
		}
		c.mu.Lock()
		complete, wake := c.emittedAll, c.wake
		c.mu.Unlock()
		if complete {
			return nil
		}
		ch, err := c.nextChunk(ctx, conn)
		if err != nil {
			return err
		}
		if ch == nil {
			// Nothing to read now: wait for a chunk to come back for a
			// second read, or for the copy to complete.
			select {
			case <-wake:
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		// The rows/s limit is charged before the read, with the rows the
		// chunk is planned to hold, and after it with any excess.
		if err := c.limit(ctx, ch.want); err != nil {
			return err
		}
		if err := c.read(ctx, conn, id, ch); err != nil {
			return err
		}
	}
}

// throttle waits while too many rows wait to be emitted, while the
// pipeline lags, and for the rows/s limit.
func (c *Copier) throttle(ctx context.Context) error {
	for {
		c.mu.Lock()
		pending, wake, complete := c.pending, c.wake, c.emittedAll
		c.mu.Unlock()
		lagging := c.opts.MaxLag > 0 && c.cfg.Lag != nil && c.cfg.Lag() > c.opts.MaxLag
		if complete || pending < c.opts.MaxPendingRows && !lagging {
			return nil
		}
		select {
		case <-wake:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// nextChunk hands out the next chunk to read: one to read again first,
// then the next range of the first table not fully handed out. nil: none
// now.
// spread orders the tables for the next chunk. Chunks of one table all
// insert into one B-tree on the target, where concurrent page splits wait
// for each other (measured: 1M rows in 4 tables took 17.8 s with every
// worker on one table at a time, 15.9 s spread over two, 13.9 s over four,
// the deferred index builds included). So the workers share as many tables
// as there are workers: of the first Workers tables not yet fully planned,
// the one with the fewest chunks handed out comes first; the rest follow
// in copy order.
func (c *Copier) spread() []*table {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*table, 0, len(c.order))
	var open []*table
	for _, tb := range c.order {
		if !tb.planned && len(open) < max(1, c.opts.Workers) {
			open = append(open, tb)
		}
	}
	best := -1
	for i, tb := range open {
		if best < 0 || tb.handed < open[best].handed {
			best = i
		}
	}
	if best >= 0 {
		out = append(out, open[best])
	}
	for _, tb := range c.order {
		if best < 0 || tb != open[best] {
			out = append(out, tb)
		}
	}
	return out
}

func (c *Copier) nextChunk(ctx context.Context, conn *sql.Conn) (*chunk, error) {
	c.planMu.Lock()
	defer c.planMu.Unlock()
	c.mu.Lock()
	var ch *chunk
	if len(c.retry) > 0 {
		ch = c.retry[0]
		c.retry = append(c.retry[:0], c.retry[1:]...)
	}
	c.mu.Unlock()
	if ch != nil {
		ch.attempt++
		if ch.attempt > maxAttempts {
			return nil, fmt.Errorf("pipeline %q: copy of %s: chunk %d changed inside its window %d times; a table without a key that changes all the time cannot be copied consistently: give it a primary key or exclude it",
				c.cfg.Pipeline, ch.table.name(), ch.seq, maxAttempts)
		}
		if err := c.refresh(ctx, ch.table); err != nil {
			return nil, err
		}
		ch.ddl = ch.table.defDDL
		ch.read, ch.rows, ch.touched, ch.touchedEnd, ch.snapPos = false, nil, false, change.Position{}, change.Position{}
		return ch, nil
	}
	for _, tb := range c.spread() {
		c.mu.Lock()
		planned := tb.planned
		c.mu.Unlock()
		if planned {
			continue
		}
		if err := c.refresh(ctx, tb); err != nil {
			return nil, err
		}
		c.mu.Lock()
		planned = tb.planned // refresh may find the table gone
		c.mu.Unlock()
		if planned {
			continue
		}
		ch, err := c.planChunk(ctx, conn, tb)
		if err != nil {
			return nil, fmt.Errorf("pipeline %q: copy of %s: plan a chunk after %s: %w", c.cfg.Pipeline, tb.name(), boundText(tb.next), err)
		}
		c.mu.Lock()
		tb.handed++
		if ch.final {
			tb.planned = true
		}
		c.mu.Unlock()
		return ch, nil
	}
	return nil, nil
}

func boundText(vals []change.Value) string {
	if vals == nil {
		return "the start"
	}
	s := "("
	for i, v := range vals {
		if i > 0 {
			s += ","
		}
		s += v.String()
	}
	return s + ")"
}

// refresh reloads a table's definition when the stream has shown DDL on
// it since it was loaded. A table gone from the source is marked copied.
func (c *Copier) refresh(ctx context.Context, tb *table) error {
	c.mu.Lock()
	ddl := tb.ddl
	c.mu.Unlock()
	if ddl == tb.defDDL {
		return nil
	}
	s, n := tb.def.Schema, tb.def.Name
	defs, err := c.loadDefinitions(ctx, func(schema, table string) bool { return schema == s && table == n })
	if err != nil {
		return err
	}
	def := defs[s+"."+n]
	if def == nil {
		c.log.Warn("table of the copy was dropped or renamed on the source; what is left of it is not copied", "table", s+"."+n)
		c.mu.Lock()
		tb.planned, tb.queued, tb.gone = true, tb.handed == 0, true
		c.mu.Unlock()
		tb.defDDL = ddl
		return nil
	}
	mp, err := c.cfg.Map(def)
	if err != nil {
		return fmt.Errorf("pipeline %q: copy of %s after a schema change: %w", c.cfg.Pipeline, s+"."+n, err)
	}
	if mp == nil {
		return fmt.Errorf("pipeline %q: copy of %s: the table is no longer replicated after a schema change", c.cfg.Pipeline, s+"."+n)
	}
	key := chooseKey(def, mp.Target)
	if !sameKeyNames(tb.def, tb.key, def, key) {
		return fmt.Errorf("pipeline %q: copy of %s: its key changed during the copy; restart the copy (drop the pipeline's rows in %s.snapshot_table and its checkpoint)",
			c.cfg.Pipeline, s+"."+n, c.cfg.StateSchema)
	}
	c.mu.Lock()
	tb.def, tb.key, tb.target, tb.project = def, key, mp.Target, mp.Project
	c.mu.Unlock()
	tb.defDDL = ddl
	c.log.Info("table definition reloaded after a schema change", "table", s+"."+n)
	return nil
}

func sameKeyNames(a *change.Table, ak []int, b *change.Table, bk []int) bool {
	if len(ak) != len(bk) {
		return false
	}
	for i := range ak {
		if a.Columns[ak[i]].Name != b.Columns[bk[i]].Name {
			return false
		}
	}
	return true
}

// planChunk makes the next chunk of a table: an arithmetic range of a
// single integer key, or a range ending at the key of the n-th next row.
// The last chunk of a table is open-ended, so rows inserted past the end
// meanwhile are read too.
func (c *Copier) planChunk(ctx context.Context, conn *sql.Conn, tb *table) (*chunk, error) {
	ch := &chunk{table: tb, seq: tb.nextSeq, lower: tb.next, ddl: tb.defDDL, want: tb.chunkRows}
	tb.nextSeq++
	switch {
	case tb.keyless():
		ch.final = true
	case tb.intKey:
		if tb.maxKey.Kind == change.KindAbsent {
			lo, hi, ok, err := intBounds(ctx, conn, tb.def, tb.key[0])
			if err != nil {
				return nil, err
			}
			if !ok {
				ch.final = true // empty now; read to the end anyway
				break
			}
			tb.maxKey = hi
			// Start as if the keys were dense (the row estimate of a table
			// can be far off); the reads adapt the span to the density.
			tb.width = uint64(tb.chunkRows)
			if tb.next == nil {
				// The first chunk ends width-1 past the smallest key.
				up, ok := addInt(lo, tb.width-1)
				if !ok || !intLess(up, hi) {
					ch.final = true
					break
				}
				ch.upper, ch.span = []change.Value{up}, tb.width
				break
			}
		}
		if tb.next == nil {
			ch.final = true
			break
		}
		up, ok := addInt(tb.next[0], tb.width)
		if !ok || !intLess(up, tb.maxKey) {
			ch.final = true
			break
		}
		ch.upper, ch.span = []change.Value{up}, tb.width
	default:
		up, err := probeUpper(ctx, conn, tb.def, tb.key, tb.next, tb.chunkRows)
		if err != nil {
			return nil, err
		}
		if up == nil {
			ch.final = true
			break
		}
		ch.upper = up
	}
	tb.next = ch.upper
	return ch, nil
}

// adapt sizes the next chunks of a table toward ChunkTime from what the
// last read took.
func (c *Copier) adapt(tb *table, ch *chunk, rows int, took time.Duration) {
	c.planMu.Lock()
	defer c.planMu.Unlock()
	if took > 0 && rows > 0 {
		want := float64(rows) / took.Seconds() * c.opts.ChunkTime.Seconds()
		n := int((float64(tb.chunkRows) + want) / 2)
		tb.chunkRows = min(max(n, 100), c.opts.MaxChunkRows)
	}
	if tb.intKey && ch.span > 0 {
		// Keep the key span in step with the rows wanted, from the density
		// the chunk found.
		if rows == 0 {
			tb.width = min(max(tb.width, ch.span)*4, 1<<40)
			return
		}
		density := float64(rows) / float64(ch.span)
		tb.width = max(1, uint64(float64(tb.chunkRows)/density))
	}
}

// read reads one chunk: it registers the chunk's window, reads the rows
// inside it, and hands them to the window, which emits them when it
// closes.
func (c *Copier) read(ctx context.Context, conn *sql.Conn, worker int, ch *chunk) error {
	tb := ch.table
	c.mu.Lock()
	if c.method == MethodWatermark {
		c.markSeq += 2
		ch.lowMark, ch.highMark = c.markSeq-1, c.markSeq
	}
	c.tr.register(ch)
	def, key := tb.def, tb.key
	c.mu.Unlock()
	start := time.Now()
	var (
		rows []change.Row
		pos  change.Position
		err  error
	)
	cv := &converter{}
	switch c.method {
	case MethodSnapshot:
		rows, pos, err = c.readSnapshot(ctx, conn, def, key, ch, cv)
	default:
		if err = c.writeMark(ctx, conn, worker, ch.lowMark); err != nil {
			return err
		}
		rows, err = readChunk(ctx, conn, def, key, ch, cv)
	}
	if err != nil {
		return fmt.Errorf("pipeline %q: copy of %s: read chunk %d after %s: %w", c.cfg.Pipeline, tb.name(), ch.seq, boundText(ch.lower), err)
	}
	took := time.Since(start)
	c.mu.Lock()
	ch.rows, ch.readRows, ch.snapPos, ch.read, ch.took = rows, len(rows), pos, true, took
	c.pending += len(rows)
	c.mu.Unlock()
	if c.method == MethodWatermark {
		if err := c.writeMark(ctx, conn, worker, ch.highMark); err != nil {
			return err
		}
	}
	c.adapt(tb, ch, len(rows), took)
	return c.limit(ctx, len(rows)-ch.want)
}

// How long readSnapshot waits before it takes a snapshot again, at first,
// and how long in all before it reads anyway.
const (
	snapshotRetryWait = time.Millisecond
	snapshotMaxWait   = 2 * time.Second
)

// readSnapshot reads a chunk in a consistent snapshot and returns its
// binlog position. A snapshot that does not yet see a change to the table
// the stream has already delivered (its commit was in the binlog, not yet
// visible) is taken again a moment later; if it still misses it, the
// window makes the chunk read again.
func (c *Copier) readSnapshot(ctx context.Context, conn *sql.Conn, def *change.Table, key []int, ch *chunk, cv *converter) ([]change.Row, change.Position, error) {
	wait, waited := snapshotRetryWait, time.Duration(0)
	for {
		if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return nil, change.Position{}, err
		}
		pos, err := snapshotPosition(ctx, conn)
		if err == nil && waited < snapshotMaxWait {
			c.mu.Lock()
			behind := c.tr.snapshotBehind(ch, pos)
			c.mu.Unlock()
			if behind {
				if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
					return nil, change.Position{}, err
				}
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return nil, change.Position{}, ctx.Err()
				}
				waited += wait
				wait = min(wait*2, 100*time.Millisecond)
				continue
			}
		}
		var rows []change.Row
		if err == nil {
			rows, err = readChunk(ctx, conn, def, key, ch, cv)
		}
		if _, rerr := conn.ExecContext(ctx, "COMMIT"); err == nil {
			err = rerr
		}
		return rows, pos, err
	}
}

// limit sleeps as long as the rows/s limit asks for n more rows.
func (c *Copier) limit(ctx context.Context, n int) error {
	if c.opts.MaxRowsPerSecond <= 0 || n <= 0 {
		return nil
	}
	c.mu.Lock()
	now := time.Now()
	if c.rateNext.Before(now) {
		c.rateNext = now
	}
	wait := c.rateNext.Sub(now)
	c.rateNext = c.rateNext.Add(time.Duration(float64(n) / float64(c.opts.MaxRowsPerSecond) * float64(time.Second)))
	c.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	select {
	case <-time.After(wait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
