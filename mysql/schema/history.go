package schema

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	"github.com/sluice-db/sluice/change"
)

// Options configure a History.
type Options struct {
	// Name identifies the history in its store: the pipeline's name.
	Name string
	// Flavor is the source server's flavor. Required: MySQL and MariaDB
	// differ in JSON, default collations and executable comments.
	Flavor change.Flavor
	// Store persists the versions; nil keeps the history in memory only.
	Store Store
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
	// IgnoreUnparsableDDL makes a DDL statement the parser rejects a
	// warning instead of an error: the tables it names are marked stale and
	// refreshed from their next TABLE_MAP with full metadata, or from Live.
	IgnoreUnparsableDDL bool
	// SnapshotEvery writes a snapshot of the whole catalog after this many
	// versions, so that loading replays few records. Default 100.
	SnapshotEvery int
	// ServerCharset and ServerCollation are the source's
	// character_set_server and collation_server, for CREATE DATABASE
	// without a character set when the QUERY event does not say. The
	// default is the flavor's: latin1_swedish_ci on MariaDB 10,
	// utf8mb4_0900_ai_ci on MySQL 8. Bootstrap reads them from the server.
	ServerCharset, ServerCollation string
	// LowerCaseTableNames is the source's lower_case_table_names: 0 names
	// are case-sensitive, 1 they are stored lowercase, 2 they compare
	// case-insensitively.
	LowerCaseTableNames int
	// LegacyTimestamp is explicit_defaults_for_timestamp=OFF: a TIMESTAMP
	// column without NULL is NOT NULL.
	LegacyTimestamp bool
	// Filter limits the tables the history tracks; nil tracks all. DDL on
	// other tables is ignored and Bootstrap skips them.
	Filter func(schema, table string) bool
	// Live, when set, is a connection to the source: after a DDL the parser
	// rejects (with IgnoreUnparsableDDL) at the source's current end
	// (DDL.AtHead), the history reads the tables from SHOW CREATE TABLE.
	Live *sql.DB
}

// DDL is a QUERY event's statement and what the history needs to apply it.
type DDL struct {
	// Schema is the event's default database (USE db); "" when none.
	Schema string
	// SQL is the statement.
	SQL string
	// Pos is the position after the event.
	Pos change.Position
	// SQLMode is the sql_mode it ran with (status variable Q_SQL_MODE_CODE);
	// ANSI_QUOTES and NO_BACKSLASH_ESCAPES change how it lexes.
	SQLMode uint64
	// CollationServer is collation_server from Q_CHARSET_CODE; 0 when
	// absent.
	CollationServer uint16
	// DefaultCollationForUTF8MB4 is MySQL 8's
	// Q_DEFAULT_COLLATION_FOR_UTF8MB4; 0 when absent.
	DefaultCollationForUTF8MB4 uint16
	// AtHead says the event is the source's latest, so that the live
	// server's SHOW CREATE TABLE shows the schema at Pos.
	AtHead bool
}

// Applied tells what ApplyDDL did.
type Applied struct {
	// Changed lists the tables whose definition the statement created,
	// changed, renamed or dropped, as "schema.table".
	Changed []string
	// Repeated is set when the statement was applied before (a stream
	// resumed before it); nothing was applied again.
	Repeated bool
	// Stale lists tables the statement left marked for refresh because the
	// parser rejected it (IgnoreUnparsableDDL).
	Stale []string
}

// History is the schema history of one source: the definition of every
// table at every binlog position since it started, kept as versions. DDL
// from QUERY events adds versions (ApplyDDL); the decoder asks for the
// definition in force at a TABLE_MAP (ResolveTable). It is safe for
// concurrent use.
type History struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	parser  *parser.Parser
	tables  map[tableKey]*tableState
	dbs     map[string]*database
	seq     uint64          // last record's Seq
	head    change.Position // position of the newest version
	base    change.Position // position of the state the history started from
	started bool            // base is meaningful (bootstrapped or loaded)
	since   int             // versions since the last snapshot
	pending []Record        // versions made by ResolveTable, not yet stored
	recent  []ddlMark       // DDL applied lately, to recognise a repeat
}

type ddlMark struct {
	pos change.Position
	sql string
}

const recentDDLs = 1024

// tableState is one table's versions, oldest first, and the cache of its
// last resolved TABLE_MAP.
type tableState struct {
	key      tableKey
	versions []*tableVersion
	cache    resolveCache
}

type tableVersion struct {
	seq uint64
	pos change.Position
	def *tableDef // nil: the table does not exist (dropped, or unknown)
}

// New returns an empty history. Use Open to continue one from its store, and
// Bootstrap to fill it from a live server.
func New(opts Options) (*History, error) {
	if opts.Flavor != change.MySQL && opts.Flavor != change.MariaDB {
		return nil, fmt.Errorf("schema history %q: flavor must be mysql or mariadb", opts.Name)
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 100
	}
	if opts.ServerCharset == "" && opts.ServerCollation == "" {
		if opts.Flavor == change.MySQL {
			opts.ServerCharset, opts.ServerCollation = "utf8mb4", "utf8mb4_0900_ai_ci"
		} else {
			opts.ServerCharset, opts.ServerCollation = "latin1", "latin1_swedish_ci"
		}
	}
	opts.ServerCharset, opts.ServerCollation = canonicalCharset(opts.ServerCharset), canonicalCollation(opts.ServerCollation)
	if opts.ServerCollation == "" {
		opts.ServerCollation = collations.Default(opts.Flavor, opts.ServerCharset)
	}
	if opts.ServerCharset == "" {
		opts.ServerCharset = collations.Charset(opts.ServerCollation)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &History{
		opts:   opts,
		log:    log.With("history", opts.Name),
		parser: parser.New(),
		tables: map[tableKey]*tableState{},
		dbs:    map[string]*database{},
	}, nil
}

// fold returns a name as the history's maps key it.
func (h *History) fold(name string) string {
	if h.opts.LowerCaseTableNames != 0 {
		return strings.ToLower(name)
	}
	return name
}

// storedName returns a name as the server stores it.
func (h *History) storedName(name string) string {
	if h.opts.LowerCaseTableNames == 1 {
		return strings.ToLower(name)
	}
	return name
}

func (h *History) current(k tableKey) *tableDef {
	st := h.tables[k]
	if st == nil || len(st.versions) == 0 {
		return nil
	}
	return st.versions[len(st.versions)-1].def
}

func (h *History) database(key string) *database { return h.dbs[key] }

func (h *History) tablesIn(schemaKey string) []tableKey {
	var out []tableKey
	for k, st := range h.tables {
		if k.schema == schemaKey && len(st.versions) > 0 && st.versions[len(st.versions)-1].def != nil {
			out = append(out, k)
		}
	}
	return out
}

func (h *History) tracked(schema, table string) bool {
	return h.opts.Filter == nil || h.opts.Filter(schema, table)
}

// Head returns the position of the newest version.
func (h *History) Head() change.Position {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

// Table returns the current definition of a table. The result is shared:
// do not modify it.
func (h *History) Table(schema, name string) (*change.Table, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.current(tableKey{h.fold(schema), h.fold(name)})
	if d == nil {
		return nil, false
	}
	return &d.Table, true
}

// TableAt returns the definition of a table in force at pos.
func (h *History) TableAt(schema, name string, pos change.Position) (*change.Table, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.tables[tableKey{h.fold(schema), h.fold(name)}]
	if st == nil {
		return nil, false
	}
	v := st.at(h.opts.Flavor, pos)
	if v == nil || v.def == nil {
		return nil, false
	}
	return &v.def.Table, true
}

// Tables returns the current definitions of every table, sorted by name.
// They are shared: do not modify them.
func (h *History) Tables() []*change.Table {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*change.Table
	for k := range h.tables {
		if d := h.current(k); d != nil {
			out = append(out, &d.Table)
		}
	}
	sortTables(out)
	return out
}

// ApplyDDL applies the statement of a QUERY event at its position. A
// statement without schema effect (BEGIN, GRANT, CREATE VIEW, ...) costs a
// look at its first words. A statement the parser rejects fails with an
// error naming it and the position, unless Options.IgnoreUnparsableDDL.
func (h *History) ApplyDDL(ctx context.Context, q DDL) (Applied, error) {
	if quickIgnore(q.SQL) {
		return Applied{}, nil
	}
	mode := mysql.SQLMode(q.SQLMode)
	lm := lexMode{ansiQuotes: mode.HasANSIQuotesMode(), noBackslash: mode.HasNoBackslashEscapesMode()}
	if h.opts.Flavor == change.MariaDB {
		lm.flavor = commentsMariaDB
	}
	w := newWords(lex(q.SQL, lm))
	info := classify(w)
	if info.kind == stmtNone {
		return Applied{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if rep, err := h.repeated(q); err != nil || rep {
		return Applied{Repeated: rep}, err
	}
	norm := normalize(w, info)
	a := h.newApplier(q, norm)
	err := h.parseAndApply(h.parser, a, norm.sql, mode)
	if err != nil {
		err = fmt.Errorf("schema history %q: %s at %s: %w (statement: %s)", h.opts.Name, info.verb, q.Pos, err, abbreviate(q.SQL))
		if !h.opts.IgnoreUnparsableDDL {
			return Applied{}, err
		}
		h.log.Warn("ddl not understood; its tables are marked stale until refreshed", "pos", q.Pos.String(), "error", err)
		a = h.newApplier(q, normalized{})
		stale := h.markStale(ctx, a, q, info, err)
		res, cerr := h.commit(ctx, KindDDL, q.Pos, q.Schema, q.SQL, a)
		res.Stale = stale
		return res, cerr
	}
	return h.commit(ctx, KindDDL, q.Pos, q.Schema, q.SQL, a)
}

// repeated reports whether q is a DDL the history already holds: one it
// applied at the same position, or one at or before the position its state
// started from (a bootstrap or a load). A DDL before the newest version
// that is neither is an error: applying it could apply later DDL twice.
func (h *History) repeated(q DDL) (bool, error) {
	for i := len(h.recent) - 1; i >= 0; i-- {
		m := h.recent[i]
		if m.sql == q.SQL && samePosition(m.pos, q.Pos) {
			return true, nil
		}
	}
	if q.Pos.IsZero() {
		return false, nil
	}
	if h.started && !h.base.IsZero() {
		if in, ok, _ := atOrAfter(h.opts.Flavor, h.base, q.Pos); ok && in {
			return true, nil
		}
	}
	if h.head.IsZero() {
		return false, nil
	}
	if after, ok, _ := atOrAfter(h.opts.Flavor, q.Pos, h.head); !ok || after {
		return false, nil
	}
	return false, fmt.Errorf("schema history %q: ddl at %s is before the history's newest version at %s and is not one it applied; "+
		"reopen the history at the position the stream resumes from (statement: %s)", h.opts.Name, q.Pos, h.head, abbreviate(q.SQL))
}

func (h *History) newApplier(q DDL, norm normalized) *ddlApplier {
	a := &ddlApplier{
		view:      h,
		defaultDB: q.Schema,
		norm:      norm,
		serverCS:  h.opts.ServerCharset,
		serverCO:  h.opts.ServerCollation,
		warn:      func(msg string) { h.log.Warn(msg, "pos", q.Pos.String()) },
		tracked:   h.tracked,
	}
	a.env = columnEnv{flavor: h.opts.Flavor, tsNotNull: h.opts.LegacyTimestamp}
	if q.CollationServer != 0 {
		if cs, co, ok := collations.ByID(q.CollationServer); ok {
			a.serverCS, a.serverCO = cs, co
		}
	}
	if q.DefaultCollationForUTF8MB4 != 0 {
		if _, co, ok := collations.ByID(q.DefaultCollationForUTF8MB4); ok {
			a.env.utf8mb4Default = co
		}
	}
	return a
}

// parseAndApply parses normalized SQL and applies its statements. The
// parser is third-party code fed with arbitrary input: a panic in it is
// turned into an error.
func (h *History) parseAndApply(p *parser.Parser, a *ddlApplier, sqlText string, mode mysql.SQLMode) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	p.SetSQLMode(mode & (mysql.ModeANSIQuotes | mysql.ModeNoBackslashEscapes | mysql.ModePipesAsConcat |
		mysql.ModeIgnoreSpace | mysql.ModeHighNotPrecedence))
	stmts, _, err := p.ParseSQL(sqlText)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	for _, s := range stmts {
		if err := a.apply(s); err != nil {
			return err
		}
	}
	return nil
}

// markStale marks the tables a rejected statement names as needing a
// refresh, or refreshes them from the live server when the statement is
// the source's latest. Without names (the lexer could not tell), every
// table of the default database is marked.
func (h *History) markStale(ctx context.Context, a *ddlApplier, q DDL, info stmtInfo, cause error) []string {
	var keys []tableKey
	for _, r := range info.tables {
		schema := r.Schema
		if schema == "" {
			schema = q.Schema
		}
		if schema == "" {
			continue
		}
		keys = append(keys, tableKey{h.fold(h.storedName(schema)), h.fold(h.storedName(r.Name))})
	}
	if len(keys) == 0 && q.Schema != "" {
		keys = h.tablesIn(h.fold(q.Schema))
	}
	var stale []string
	for _, k := range keys {
		if h.opts.Live != nil && q.AtHead {
			d, err := h.showCreate(ctx, h.opts.Live, k.schema, k.name)
			if err == nil {
				a.put(k, d)
				continue
			}
			h.log.Warn("live refresh failed; the table stays stale", "table", k.String(), "error", err)
		}
		d := a.edit(k)
		if d == nil {
			d = &tableDef{Table: change.Table{Schema: k.schema, Name: k.name}}
			a.put(k, d)
		}
		d.Refresh = fmt.Sprintf("%s at %s was not understood: %v", info.verb, q.Pos, cause)
		stale = append(stale, k.String())
	}
	return stale
}

// commit records what an applier changed as one version at pos, stores it
// (with the versions ResolveTable made before it) and then makes it the
// state in force. A store failure leaves the state as it was.
func (h *History) commit(ctx context.Context, kind RecordKind, pos change.Position, schema, stmt string, a *ddlApplier) (Applied, error) {
	var data recordData
	var res Applied
	for _, k := range a.torder {
		d := a.tables[k]
		td := tableDelta{Schema: k.schema, Name: k.name, Def: d}
		if d != nil {
			td.Schema, td.Name = d.Table.Schema, d.Table.Name
		} else if cur := h.current(k); cur != nil {
			td.Schema, td.Name = cur.Table.Schema, cur.Table.Name
		}
		if !h.tracked(td.Schema, td.Name) {
			continue
		}
		if d == nil && h.current(k) == nil {
			continue // dropping what does not exist changes nothing
		}
		data.Tables = append(data.Tables, td)
		res.Changed = append(res.Changed, td.Schema+"."+td.Name)
	}
	for _, k := range a.dorder {
		d := a.dbs[k]
		if d == nil && h.dbs[k] == nil {
			continue
		}
		dd := dbDelta{Key: k, DB: d}
		data.Databases = append(data.Databases, dd)
	}
	if len(data.Tables) == 0 && len(data.Databases) == 0 {
		h.remember(pos, stmt, kind)
		return res, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Applied{}, fmt.Errorf("schema history %q: encode version at %s: %w", h.opts.Name, pos, err)
	}
	rec := Record{Seq: h.seq + 1, Kind: kind, Pos: pos, Schema: schema, DDL: stmt, Data: raw, Time: time.Now().UTC()}
	if err := h.store(ctx, append(h.pending, rec)); err != nil {
		return Applied{}, err
	}
	h.pending = nil
	h.seq++
	h.applyData(rec.Seq, pos, &data)
	h.remember(pos, stmt, kind)
	h.since++
	if h.since >= h.opts.SnapshotEvery {
		if err := h.snapshot(ctx, pos); err != nil {
			// Not fatal: the versions are stored; the next one retries.
			h.log.Warn("schema snapshot not stored", "pos", pos.String(), "error", err)
		}
	}
	return res, nil
}

func (h *History) remember(pos change.Position, stmt string, kind RecordKind) {
	if kind != KindDDL {
		return
	}
	if len(h.recent) >= recentDDLs {
		copy(h.recent, h.recent[1:])
		h.recent = h.recent[:len(h.recent)-1]
	}
	h.recent = append(h.recent, ddlMark{pos, stmt})
}

func (h *History) store(ctx context.Context, recs []Record) error {
	if h.opts.Store == nil || len(recs) == 0 {
		return nil
	}
	if err := h.opts.Store.Append(ctx, h.opts.Name, recs); err != nil {
		return fmt.Errorf("schema history %q: store version at %s: %w", h.opts.Name, recs[len(recs)-1].Pos, err)
	}
	return nil
}

// snapshot stores the whole catalog as of pos.
func (h *History) snapshot(ctx context.Context, pos change.Position) error {
	raw, err := json.Marshal(h.catalogData())
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	rec := Record{Seq: h.seq + 1, Kind: KindSnapshot, Pos: pos, DDL: "snapshot", Data: raw, Time: time.Now().UTC()}
	if err := h.store(ctx, append(h.pending, rec)); err != nil {
		return err
	}
	h.pending = nil
	h.seq++
	h.since = 0
	return nil
}

// Flush stores the versions ResolveTable made (tables built from TABLE_MAP
// metadata, corrected column names) and not yet stored. ApplyDDL stores
// them too; a caller calls Flush when it checkpoints.
func (h *History) Flush(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.store(ctx, h.pending); err != nil {
		return err
	}
	h.pending = nil
	return nil
}

// applyData makes a version the state in force.
func (h *History) applyData(seq uint64, pos change.Position, data *recordData) {
	for _, dd := range data.Databases {
		if dd.DB == nil {
			delete(h.dbs, dd.Key)
		} else {
			d := *dd.DB
			h.dbs[dd.Key] = &d
		}
	}
	for _, td := range data.Tables {
		k := tableKey{h.fold(td.Schema), h.fold(td.Name)}
		st := h.tables[k]
		if st == nil {
			st = &tableState{key: k}
			h.tables[k] = st
		}
		st.versions = append(st.versions, &tableVersion{seq: seq, pos: pos, def: td.Def})
		st.cache = resolveCache{}
	}
	if h.head.IsZero() || !fileBefore(pos, h.head) {
		h.head = pos
	}
}

// recordData is a record's Data: what a version changed, or for a snapshot
// the whole catalog.
type recordData struct {
	Server    *serverInfo  `json:"server,omitempty"` // snapshots: the source's settings
	Databases []dbDelta    `json:"databases,omitempty"`
	Tables    []tableDelta `json:"tables,omitempty"`
}

// serverInfo is the source's settings that DDL application depends on, as
// Bootstrap read them; snapshots keep them so that a reopened history
// applies DDL the same way.
type serverInfo struct {
	Charset             string `json:"charset"`
	Collation           string `json:"collation"`
	LowerCaseTableNames int    `json:"lower_case_table_names"`
	LegacyTimestamp     bool   `json:"legacy_timestamp,omitempty"`
}

func (h *History) serverInfo() *serverInfo {
	return &serverInfo{Charset: h.opts.ServerCharset, Collation: h.opts.ServerCollation,
		LowerCaseTableNames: h.opts.LowerCaseTableNames, LegacyTimestamp: h.opts.LegacyTimestamp}
}

func (h *History) adoptServer(s *serverInfo) {
	if s == nil {
		return
	}
	h.opts.ServerCharset, h.opts.ServerCollation = s.Charset, s.Collation
	h.opts.LowerCaseTableNames, h.opts.LegacyTimestamp = s.LowerCaseTableNames, s.LegacyTimestamp
}

type dbDelta struct {
	Key string    `json:"key"`
	DB  *database `json:"db"` // null: dropped
}

type tableDelta struct {
	Schema string    `json:"schema"`
	Name   string    `json:"name"`
	Def    *tableDef `json:"def"` // null: dropped
}

func (h *History) catalogData() *recordData {
	data := &recordData{Server: h.serverInfo()}
	for k, d := range h.dbs {
		data.Databases = append(data.Databases, dbDelta{Key: k, DB: d})
	}
	for k := range h.tables {
		if d := h.current(k); d != nil {
			data.Tables = append(data.Tables, tableDelta{Schema: d.Table.Schema, Name: d.Table.Name, Def: d})
		}
	}
	sortDeltas(data)
	return data
}

// resetTo replaces the whole state with a catalog at pos (a snapshot).
func (h *History) resetTo(seq uint64, pos change.Position, data *recordData) {
	h.tables = map[tableKey]*tableState{}
	h.dbs = map[string]*database{}
	h.head = change.Position{}
	h.applyData(seq, pos, data)
	h.base, h.started = pos, true
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
