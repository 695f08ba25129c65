package schema

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	gomysqldriver "github.com/go-sql-driver/mysql"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/sluice-db/sluice/change"
)

// systemSchemas are skipped by Bootstrap unless BootstrapOptions asks for
// them: the server's own, and sluice's (checkpoints, marks, this history).
var systemSchemas = map[string]bool{
	"mysql": true, "information_schema": true, "performance_schema": true, "sys": true, "sluice": true,
}

// BootstrapOptions tune Bootstrap.
type BootstrapOptions struct {
	// IncludeSystemSchemas also reads mysql, information_schema,
	// performance_schema, sys and sluice.
	IncludeSystemSchemas bool
	// Workers is how many SHOW CREATE TABLE run at once; default 4.
	Workers int
}

// QuoteIdent quotes a MySQL identifier with backticks.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// Bootstrap replaces the history's state with the live server's schema:
// every base table (and MariaDB system-versioned table and sequence) that
// Options.Filter accepts, read with SHOW CREATE TABLE and parsed like DDL,
// recorded as a snapshot at pos. pos must be the source's position when the
// schema was read (read it just before calling): DDL at or before pos is
// then known to be in the snapshot, and later DDL is applied from the
// stream. It also adopts the server's character_set_server,
// collation_server, lower_case_table_names and
// explicit_defaults_for_timestamp.
func (h *History) Bootstrap(ctx context.Context, db *sql.DB, pos change.Position, bo BootstrapOptions) error {
	fail := func(what string, err error) error {
		return fmt.Errorf("schema history %q: bootstrap at %s: %s: %w", h.opts.Name, pos, what, err)
	}
	var version, cs, co, mode string
	var lctn, explicitTS int
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@character_set_server, @@collation_server, @@lower_case_table_names, "+
		"@@explicit_defaults_for_timestamp, @@SESSION.sql_mode").Scan(&version, &cs, &co, &lctn, &explicitTS, &mode); err != nil {
		return fail("read server settings", err)
	}
	isMaria := strings.Contains(strings.ToLower(version), "mariadb")
	if isMaria != (h.opts.Flavor == change.MariaDB) {
		return fail("check flavor", fmt.Errorf("the server is %s but the history is for %s", version, h.opts.Flavor))
	}
	sqlMode, _ := mysql.GetSQLMode(mode)

	h.mu.Lock()
	defer h.mu.Unlock()
	oldOpts := h.opts
	h.opts.ServerCharset, h.opts.ServerCollation = canonicalCharset(cs), canonicalCollation(co)
	h.opts.LowerCaseTableNames, h.opts.LegacyTimestamp = lctn, explicitTS == 0

	dbs, err := h.readDatabases(ctx, db, bo)
	if err != nil {
		h.opts = oldOpts
		return fail("list databases", err)
	}
	names, err := h.readTableNames(ctx, db, bo)
	if err != nil {
		h.opts = oldOpts
		return fail("list tables", err)
	}
	creates, err := showCreateAll(ctx, db, names, bo.Workers)
	if err != nil {
		h.opts = oldOpts
		return fail("read table definitions", err)
	}
	// Parse with the history's catalog emptied but the databases known, so
	// that the view the parser's applier reads is the snapshot's; put the
	// old state back if the bootstrap fails.
	oldTables, oldDBs := h.tables, h.dbs
	ok := false
	defer func() {
		if !ok {
			h.tables, h.dbs, h.opts = oldTables, oldDBs, oldOpts
		}
	}()
	h.tables = map[tableKey]*tableState{}
	h.dbs = dbs
	data := &recordData{Server: h.serverInfo()}
	for key, d := range dbs {
		data.Databases = append(data.Databases, dbDelta{Key: key, DB: d})
	}
	p := parser.New()
	for i, n := range names {
		if creates[i] == "" {
			continue // dropped while we read
		}
		d, err := h.definitionFromCreate(p, n.Schema, n.Name, creates[i], sqlMode)
		if err != nil {
			return fail("parse SHOW CREATE TABLE "+n.Schema+"."+n.Name, err)
		}
		data.Tables = append(data.Tables, tableDelta{Schema: d.Table.Schema, Name: d.Table.Name, Def: d})
	}
	sortDeltas(data)
	raw, err := json.Marshal(data)
	if err != nil {
		return fail("encode snapshot", err)
	}
	rec := Record{Seq: h.seq + 1, Kind: KindSnapshot, Pos: pos, DDL: "bootstrap from " + version, Data: raw, Time: now()}
	// Versions made from TABLE_MAPs before the bootstrap are superseded.
	h.pending = nil
	if err := h.store(ctx, []Record{rec}); err != nil {
		return err
	}
	h.seq++
	h.resetTo(rec.Seq, pos, data)
	h.since = 0
	ok = true
	h.log.Info("schema history bootstrapped", "pos", pos.String(), "tables", len(data.Tables), "databases", len(data.Databases))
	return nil
}

func (h *History) readDatabases(ctx context.Context, db *sql.DB, bo BootstrapOptions) (map[string]*database, error) {
	rows, err := db.QueryContext(ctx, "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*database{}
	for rows.Next() {
		var name, cs, co string
		if err := rows.Scan(&name, &cs, &co); err != nil {
			return nil, err
		}
		if systemSchemas[strings.ToLower(name)] && !bo.IncludeSystemSchemas {
			continue
		}
		out[h.fold(name)] = &database{Name: name, Charset: canonicalCharset(cs), Collation: canonicalCollation(co)}
	}
	return out, rows.Err()
}

func (h *History) readTableNames(ctx context.Context, db *sql.DB, bo BootstrapOptions) ([]tableRef, error) {
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "+
		"WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE') ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tableRef
	for rows.Next() {
		var r tableRef
		if err := rows.Scan(&r.Schema, &r.Name); err != nil {
			return nil, err
		}
		if systemSchemas[strings.ToLower(r.Schema)] && !bo.IncludeSystemSchemas || !h.tracked(r.Schema, r.Name) {
			continue
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// showCreateAll runs SHOW CREATE TABLE for every table with a few
// connections at once. A table dropped meanwhile gets "".
func showCreateAll(ctx context.Context, db *sql.DB, names []tableRef, workers int) ([]string, error) {
	if workers <= 0 {
		workers = 4
	}
	out := make([]string, len(names))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, err := showCreate(ctx, db, names[i].Schema, names[i].Name)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				out[i] = s
			}
		}()
	}
feed:
	for i := range names {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, ctx.Err()
}

// showCreate returns SHOW CREATE TABLE's statement, or "" when the table no
// longer exists.
func showCreate(ctx context.Context, db *sql.DB, schema, name string) (string, error) {
	var tbl, create string
	err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdent(schema)+"."+quoteIdent(name)).Scan(&tbl, &create)
	var me *gomysqldriver.MySQLError
	if errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049) { // no such table / database
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("show create table %s.%s: %w", schema, name, err)
	}
	return create, nil
}

// definitionFromCreate parses a CREATE TABLE statement (SHOW CREATE TABLE's)
// with the same code as DDL.
func (h *History) definitionFromCreate(p *parser.Parser, schema, name, create string, mode mysql.SQLMode) (*tableDef, error) {
	lm := lexMode{ansiQuotes: mode.HasANSIQuotesMode(), noBackslash: mode.HasNoBackslashEscapesMode()}
	if h.opts.Flavor == change.MariaDB {
		lm.flavor = commentsMariaDB
	}
	w := newWords(lex(create, lm))
	info := classify(w)
	if info.kind != stmtTable {
		return nil, fmt.Errorf("not a CREATE TABLE statement: %s", abbreviate(create))
	}
	norm := normalize(w, info)
	a := h.newApplier(DDL{Schema: schema}, norm)
	a.warn = func(msg string) { h.log.Warn(msg, "table", schema+"."+name) }
	if err := h.parseAndApply(p, a, norm.sql, mode); err != nil {
		return nil, err
	}
	key := tableKey{h.fold(h.storedName(schema)), h.fold(h.storedName(name))}
	d := a.tables[key]
	if d == nil {
		return nil, fmt.Errorf("the statement did not define %s.%s: %s", schema, name, abbreviate(create))
	}
	return d, nil
}

// Refresh reads a table's definition from the live server (SHOW CREATE
// TABLE) and records it as the version in force from pos. Call it only
// when pos is the source's current position: the server shows its schema
// now, not at pos.
func (h *History) Refresh(ctx context.Context, db *sql.DB, schema, name string, pos change.Position) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := tableKey{h.fold(h.storedName(schema)), h.fold(h.storedName(name))}
	a := h.newApplier(DDL{Schema: schema, Pos: pos}, normalized{})
	d, err := h.showCreate(ctx, db, key.schema, key.name)
	if err != nil {
		return fmt.Errorf("schema history %q: refresh %s.%s at %s: %w", h.opts.Name, schema, name, pos, err)
	}
	a.put(key, d)
	_, err = h.commit(ctx, KindRefresh, pos, schema, "refresh from SHOW CREATE TABLE", a)
	return err
}

// showCreate reads one table's definition from the live server; nil when
// the table does not exist there.
func (h *History) showCreate(ctx context.Context, db *sql.DB, schema, name string) (*tableDef, error) {
	var mode string
	if err := db.QueryRowContext(ctx, "SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("read sql_mode: %w", err)
	}
	sqlMode, _ := mysql.GetSQLMode(mode)
	create, err := showCreate(ctx, db, schema, name)
	if err != nil || create == "" {
		return nil, err
	}
	return h.definitionFromCreate(parser.New(), schema, name, create, sqlMode)
}
