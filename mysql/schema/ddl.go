package schema

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/sluice-db/sluice/change"
)

// tableKey identifies a table in the history's maps: its names folded as
// lower_case_table_names says.
type tableKey struct{ schema, name string }

func (k tableKey) String() string { return k.schema + "." + k.name }

// database is a database's defaults, which tables created in it inherit.
type database struct {
	Name      string `json:"name"`
	Charset   string `json:"charset,omitempty"`
	Collation string `json:"collation,omitempty"`
}

// catalogView is the state in force that DDL reads.
type catalogView interface {
	current(k tableKey) *tableDef
	database(key string) *database
	tablesIn(schemaKey string) []tableKey
	fold(name string) string
	storedName(name string) string
}

// ddlApplier applies the statements of one QUERY event to a view of the
// catalog, collecting the tables and databases they change. Nothing is
// committed until the event's statements all applied.
type ddlApplier struct {
	view      catalogView
	defaultDB string
	env       columnEnv // flavor and server defaults; charset fields are per table
	serverCS  string
	serverCO  string
	norm      normalized
	warn      func(msg string)
	tracked   func(schema, table string) bool

	tables map[tableKey]*tableDef // nil: dropped
	torder []tableKey
	dbs    map[string]*database // nil: dropped
	dorder []string
}

// unknown warns that a statement names a table the history does not know,
// unless the table is one the history does not track.
func (a *ddlApplier) unknown(k tableKey, msg string) {
	if a.tracked == nil || a.tracked(k.schema, k.name) {
		a.warn(msg)
	}
}

func (a *ddlApplier) get(k tableKey) *tableDef {
	if d, ok := a.tables[k]; ok {
		return d
	}
	return a.view.current(k)
}

// edit returns a definition of k that this event may change.
func (a *ddlApplier) edit(k tableKey) *tableDef {
	if d, ok := a.tables[k]; ok && d != nil {
		return d
	}
	cur := a.view.current(k)
	if cur == nil {
		return nil
	}
	d := cur.clone()
	a.put(k, d)
	return d
}

func (a *ddlApplier) put(k tableKey, d *tableDef) {
	if a.tables == nil {
		a.tables = map[tableKey]*tableDef{}
	}
	if _, seen := a.tables[k]; !seen {
		a.torder = append(a.torder, k)
	}
	a.tables[k] = d
}

func (a *ddlApplier) db(key string) *database {
	if d, ok := a.dbs[key]; ok {
		return d
	}
	return a.view.database(key)
}

func (a *ddlApplier) putDB(key string, d *database) {
	if a.dbs == nil {
		a.dbs = map[string]*database{}
	}
	if _, seen := a.dbs[key]; !seen {
		a.dorder = append(a.dorder, key)
	}
	a.dbs[key] = d
}

// name resolves a table name against the default database.
func (a *ddlApplier) name(tn *ast.TableName) (tableKey, string, string, error) {
	schema := tn.Schema.O
	if schema == "" {
		schema = a.defaultDB
	}
	if schema == "" {
		return tableKey{}, "", "", fmt.Errorf("table %s is not qualified and the statement has no default database", tn.Name.O)
	}
	schema, name := a.view.storedName(schema), a.view.storedName(tn.Name.O)
	return tableKey{a.view.fold(schema), a.view.fold(name)}, schema, name, nil
}

// dbDefaults returns the character set and collation tables in database
// schema inherit: the database's, or the server's when the history does not
// know the database.
func (a *ddlApplier) dbDefaults(schema string) (string, string) {
	if d := a.db(a.view.fold(schema)); d != nil && d.Charset != "" {
		return d.Charset, d.Collation
	}
	return a.serverCS, a.serverCO
}

func (a *ddlApplier) apply(stmt ast.StmtNode) error {
	switch s := stmt.(type) {
	case *ast.CreateDatabaseStmt:
		return a.createDatabase(s)
	case *ast.AlterDatabaseStmt:
		return a.alterDatabase(s)
	case *ast.DropDatabaseStmt:
		return a.dropDatabase(s)
	case *ast.CreateTableStmt:
		return a.createTable(s)
	case *ast.AlterTableStmt:
		return a.alterTable(s)
	case *ast.DropTableStmt:
		if s.IsView || s.TemporaryKeyword != ast.TemporaryNone {
			return nil
		}
		return a.dropTables(s.Tables, s.IfExists)
	case *ast.RenameTableStmt:
		return a.renameTables(s)
	case *ast.CreateIndexStmt:
		return a.createIndex(s)
	case *ast.DropIndexStmt:
		return a.dropIndex(s)
	case *ast.CreateSequenceStmt:
		return a.createSequence(s)
	case *ast.DropSequenceStmt:
		return a.dropTables(s.Sequences, s.IfExists)
	}
	// TRUNCATE, views, routines, users, grants, ...: no table definition changes.
	return nil
}

// charsetOptions resolves CHARACTER SET / COLLATE options over base
// defaults: a collation implies its character set, a character set brings
// its default collation.
func (a *ddlApplier) charsetOptions(cs, co string, baseCS, baseCO string) (string, string) {
	cs, co = canonicalCharset(cs), canonicalCollation(co)
	switch {
	case cs == "" && co == "":
		return baseCS, baseCO
	case cs == "":
		co = qualifyCollation(co, baseCS)
		return collations.Charset(co), co
	case co == "":
		return cs, a.env.defaultCollation(cs)
	}
	return cs, qualifyCollation(co, cs)
}

func databaseCharset(opts []*ast.DatabaseOption) (cs, co string) {
	for _, o := range opts {
		switch o.Tp {
		case ast.DatabaseOptionCharset:
			cs = o.Value
		case ast.DatabaseOptionCollate:
			co = o.Value
		}
	}
	return cs, co
}

func (a *ddlApplier) createDatabase(s *ast.CreateDatabaseStmt) error {
	name := a.view.storedName(s.Name.O)
	key := a.view.fold(name)
	if a.db(key) != nil && s.IfNotExists {
		return nil
	}
	cs, co := databaseCharset(s.Options)
	cs, co = a.charsetOptions(cs, co, a.serverCS, a.serverCO)
	a.putDB(key, &database{Name: name, Charset: cs, Collation: co})
	return nil
}

func (a *ddlApplier) alterDatabase(s *ast.AlterDatabaseStmt) error {
	name := s.Name.O
	if s.AlterDefaultDatabase || name == "" {
		name = a.defaultDB
	}
	if name == "" {
		return fmt.Errorf("alter database without a name and without a default database")
	}
	name = a.view.storedName(name)
	key := a.view.fold(name)
	d := &database{Name: name, Charset: a.serverCS, Collation: a.serverCO}
	if cur := a.db(key); cur != nil {
		c := *cur
		d = &c
	}
	cs, co := databaseCharset(s.Options)
	if cs == "" && co == "" {
		return nil
	}
	d.Charset, d.Collation = a.charsetOptions(cs, co, d.Charset, d.Collation)
	a.putDB(key, d)
	return nil
}

func (a *ddlApplier) dropDatabase(s *ast.DropDatabaseStmt) error {
	key := a.view.fold(a.view.storedName(s.Name.O))
	for _, k := range a.view.tablesIn(key) {
		a.put(k, nil)
	}
	for k, d := range a.tables {
		if k.schema == key && d != nil {
			a.put(k, nil)
		}
	}
	if a.db(key) != nil {
		a.putDB(key, nil)
	}
	return nil
}

// tableCharset resolves a table's CHARACTER SET / COLLATE options over the
// defaults it would otherwise have. convert is true for CONVERT TO.
func (a *ddlApplier) tableCharset(opts []*ast.TableOption, schema, baseCS, baseCO string) (cs, co string, convert, set bool) {
	var ocs, oco string
	for _, o := range opts {
		switch o.Tp {
		case ast.TableOptionCharset:
			set = true
			if o.Default {
				ocs, _ = a.dbDefaults(schema)
			} else {
				ocs = o.StrValue
			}
			convert = convert || o.UintValue == ast.TableOptionCharsetWithConvertTo
		case ast.TableOptionCollate:
			set = true
			oco = o.StrValue
		}
	}
	cs, co = a.charsetOptions(ocs, oco, baseCS, baseCO)
	return cs, co, convert, set
}

func (a *ddlApplier) createTable(s *ast.CreateTableStmt) error {
	if s.TemporaryKeyword != ast.TemporaryNone {
		return nil
	}
	key, schema, name, err := a.name(s.Table)
	if err != nil {
		return err
	}
	if a.get(key) != nil && s.IfNotExists && !a.norm.replace {
		return nil
	}
	if s.ReferTable != nil {
		srcKey, _, _, err := a.name(s.ReferTable)
		if err != nil {
			return err
		}
		src := a.get(srcKey)
		if src == nil {
			a.unknown(key, fmt.Sprintf("create table %s like %s: the history does not know %s; %s stays unknown until a TABLE_MAP with full metadata or a refresh", key, srcKey, srcKey, key))
			a.put(key, nil)
			return nil
		}
		d := src.clone()
		d.Table.Schema, d.Table.Name = schema, name
		a.put(key, d)
		return nil
	}
	if len(s.Cols) == 0 {
		if s.Select != nil {
			return fmt.Errorf("create table %s ... select without a column list: the columns come from the query, which the history cannot evaluate", key)
		}
		return fmt.Errorf("create table %s has no columns", key)
	}
	dbCS, dbCO := a.dbDefaults(schema)
	cs, co, _, _ := a.tableCharset(s.Options, schema, dbCS, dbCO)
	d := &tableDef{Table: change.Table{Schema: schema, Name: name, Charset: cs, Collation: co, Columns: []change.Column{}}}
	env := a.env
	env.charset, env.collation = cs, co
	for _, cd := range s.Cols {
		if err := a.addColumn(d, &env, cd, nil, false); err != nil {
			return fmt.Errorf("create table %s: %w", key, err)
		}
	}
	for _, c := range s.Constraints {
		a.addConstraint(d, c)
	}
	if a.norm.addVersion && d.RowStart == "" {
		a.warn(fmt.Sprintf("create table %s: system versioning without row start/end columns", key))
	}
	d.finalize()
	a.put(key, d)
	return nil
}

// addColumn adds a column at pos (nil: last). With replace, a column of the
// same name is replaced instead of refused.
func (a *ddlApplier) addColumn(d *tableDef, env *columnEnv, cd *ast.ColumnDef, pos *ast.ColumnPosition, ifNotExists bool) error {
	r, err := env.column(cd)
	if err != nil {
		return err
	}
	if i := d.column(r.col.Name); i >= 0 {
		if ifNotExists {
			return nil
		}
		a.warn(fmt.Sprintf("table %s.%s: column %s added twice; the new definition replaces the old", d.Table.Schema, d.Table.Name, r.col.Name))
		d.Table.Columns = append(d.Table.Columns[:i], d.Table.Columns[i+1:]...)
	}
	at, err := a.position(d, pos)
	if err != nil {
		return err
	}
	if r.hidden {
		at = len(d.Table.Columns) // the implicit versioning columns are last
	}
	d.Table.Columns = append(d.Table.Columns, change.Column{})
	copy(d.Table.Columns[at+1:], d.Table.Columns[at:])
	d.Table.Columns[at] = r.col
	a.columnKeys(d, r)
	return nil
}

// columnKeys records the keys and system-versioning role written on a
// column definition.
func (a *ddlApplier) columnKeys(d *tableDef, r columnResult) {
	if r.primary {
		d.setPrimary([]string{r.col.Name})
	}
	if r.unique {
		d.Indexes = append(d.Indexes, indexDef{Name: d.uniqueIndexName(r.col.Name), Kind: indexUnique, Columns: []string{r.col.Name}})
	}
	if r.rowStart {
		d.RowStart = r.col.Name
	}
	if r.rowEnd {
		d.RowEnd = r.col.Name
	}
	if r.hidden {
		d.HiddenVersioning = true
	}
}

// setPrimary replaces the primary key; InnoDB keeps it first.
func (d *tableDef) setPrimary(cols []string) {
	if p := d.primary(); p >= 0 {
		d.Indexes = append(d.Indexes[:p], d.Indexes[p+1:]...)
	}
	d.Indexes = append([]indexDef{{Name: "PRIMARY", Kind: indexPrimary, Columns: cols}}, d.Indexes...)
}

// position returns where FIRST / AFTER x puts a column.
func (a *ddlApplier) position(d *tableDef, pos *ast.ColumnPosition) (int, error) {
	if pos == nil || pos.Tp == ast.ColumnPositionNone {
		n := len(d.Table.Columns)
		if d.HiddenVersioning {
			for n > 0 && (strings.EqualFold(d.Table.Columns[n-1].Name, d.RowStart) || strings.EqualFold(d.Table.Columns[n-1].Name, d.RowEnd)) {
				n--
			}
		}
		return n, nil
	}
	switch pos.Tp {
	case ast.ColumnPositionFirst:
		return 0, nil
	case ast.ColumnPositionAfter:
		i := d.column(pos.RelativeColumn.Name.O)
		if i < 0 {
			return 0, fmt.Errorf("column %s named in AFTER does not exist in %s.%s", pos.RelativeColumn.Name.O, d.Table.Schema, d.Table.Name)
		}
		return i + 1, nil
	}
	return len(d.Table.Columns), nil
}

func keyParts(parts []*ast.IndexPartSpecification) []string {
	cols := make([]string, len(parts))
	for i, p := range parts {
		if p.Column != nil {
			cols[i] = p.Column.Name.O
		}
	}
	return cols
}

// addConstraint adds a PRIMARY KEY, UNIQUE, KEY, FULLTEXT or FOREIGN KEY
// (which brings an index of its own when no index starts with its
// columns). CHECK constraints do not concern the history.
func (a *ddlApplier) addConstraint(d *tableDef, c *ast.Constraint) {
	var kind indexKind
	switch c.Tp {
	case ast.ConstraintPrimaryKey:
		d.setPrimary(keyParts(c.Keys))
		return
	case ast.ConstraintKey, ast.ConstraintIndex:
		kind = indexPlain
	case ast.ConstraintUniq, ast.ConstraintUniqKey, ast.ConstraintUniqIndex:
		kind = indexUnique
	case ast.ConstraintFulltext:
		kind = indexFulltext
	case ast.ConstraintVector, ast.ConstraintColumnar:
		kind = indexVector
	case ast.ConstraintForeignKey:
		cols := keyParts(c.Keys)
		for _, ix := range d.Indexes {
			if len(ix.Columns) >= len(cols) && equalFoldPrefix(ix.Columns, cols) {
				return
			}
		}
		name := c.Name
		if name == "" && len(cols) > 0 {
			name = cols[0]
		}
		d.Indexes = append(d.Indexes, indexDef{Name: d.uniqueIndexName(name), Kind: indexPlain, Columns: cols})
		return
	default:
		return
	}
	cols := keyParts(c.Keys)
	partial := false
	for _, p := range c.Keys {
		if p.Length <= 0 || p.Column == nil {
			continue
		}
		i := d.column(p.Column.Name.O)
		if i < 0 {
			continue
		}
		switch col := d.Table.Columns[i]; col.Type {
		case change.TypeText, change.TypeBlob:
			partial = true
		default:
			partial = partial || p.Length < col.Length
		}
	}
	name := c.Name
	if name != "" && d.index(name) >= 0 {
		if c.IfNotExists {
			return
		}
		a.warn(fmt.Sprintf("table %s.%s: index %s added twice; the new definition replaces the old", d.Table.Schema, d.Table.Name, name))
		d.dropIndex(name)
	}
	if name == "" {
		first := ""
		if len(cols) > 0 {
			first = cols[0]
		}
		name = d.uniqueIndexName(first)
	}
	d.Indexes = append(d.Indexes, indexDef{Name: name, Kind: kind, Columns: cols, Partial: partial})
}

func equalFoldPrefix(have, want []string) bool {
	for i := range want {
		if !strings.EqualFold(have[i], want[i]) {
			return false
		}
	}
	return true
}

func (d *tableDef) dropIndex(name string) bool {
	i := d.index(name)
	if i < 0 {
		return false
	}
	d.Indexes = append(d.Indexes[:i], d.Indexes[i+1:]...)
	return true
}

func (a *ddlApplier) dropTables(names []*ast.TableName, ifExists bool) error {
	for _, tn := range names {
		key, _, _, err := a.name(tn)
		if err != nil {
			return err
		}
		if a.get(key) == nil {
			if !ifExists {
				a.unknown(key, fmt.Sprintf("drop table %s: the history does not know the table", key))
			}
			continue
		}
		a.put(key, nil)
	}
	return nil
}

func (a *ddlApplier) renameTables(s *ast.RenameTableStmt) error {
	for _, tt := range s.TableToTables {
		from, _, _, err := a.name(tt.OldTable)
		if err != nil {
			return err
		}
		to, schema, name, err := a.name(tt.NewTable)
		if err != nil {
			return err
		}
		src := a.get(from)
		if src == nil {
			a.unknown(from, fmt.Sprintf("rename table %s to %s: the history does not know %s; %s stays unknown until a TABLE_MAP with full metadata or a refresh", from, to, from, to))
			a.put(to, nil)
			continue
		}
		d := src.clone()
		d.Table.Schema, d.Table.Name = schema, name
		a.put(from, nil)
		a.put(to, d)
	}
	return nil
}

func (a *ddlApplier) createIndex(s *ast.CreateIndexStmt) error {
	key, _, _, err := a.name(s.Table)
	if err != nil {
		return err
	}
	d := a.edit(key)
	if d == nil {
		a.unknown(key, fmt.Sprintf("create index %s on %s: the history does not know the table", s.IndexName, key))
		return nil
	}
	c := &ast.Constraint{Name: s.IndexName, Keys: s.IndexPartSpecifications, IfNotExists: s.IfNotExists, Tp: ast.ConstraintIndex}
	switch s.KeyType {
	case ast.IndexKeyTypeUnique:
		c.Tp = ast.ConstraintUniq
	case ast.IndexKeyTypeFulltext:
		c.Tp = ast.ConstraintFulltext
	case ast.IndexKeyTypeVector, ast.IndexKeyTypeColumnar:
		c.Tp = ast.ConstraintVector
	}
	a.addConstraint(d, c)
	d.finalize()
	return nil
}

func (a *ddlApplier) dropIndex(s *ast.DropIndexStmt) error {
	key, _, _, err := a.name(s.Table)
	if err != nil {
		return err
	}
	d := a.edit(key)
	if d == nil {
		if !s.IfExists {
			a.unknown(key, fmt.Sprintf("drop index %s on %s: the history does not know the table", s.IndexName, key))
		}
		return nil
	}
	if !d.dropIndex(s.IndexName) && !s.IfExists {
		a.warn(fmt.Sprintf("drop index %s on %s: the history does not know the index", s.IndexName, key))
	}
	d.finalize()
	return nil
}

// sequenceColumns are the columns of a MariaDB sequence, which is a table
// with one row (its changes are in the binlog like any table's).
var sequenceColumns = []change.Column{
	{Name: "next_not_cached_value", Type: change.TypeBigInt, SQLType: "bigint(21)"},
	{Name: "minimum_value", Type: change.TypeBigInt, SQLType: "bigint(21)"},
	{Name: "maximum_value", Type: change.TypeBigInt, SQLType: "bigint(21)"},
	{Name: "start_value", Type: change.TypeBigInt, SQLType: "bigint(21)"},
	{Name: "increment", Type: change.TypeBigInt, SQLType: "bigint(21)"},
	{Name: "cache_size", Type: change.TypeBigInt, SQLType: "bigint(21) unsigned", Unsigned: true},
	{Name: "cycle_option", Type: change.TypeTinyInt, SQLType: "tinyint(1) unsigned", Unsigned: true},
	{Name: "cycle_count", Type: change.TypeBigInt, SQLType: "bigint(21)"},
}

func (a *ddlApplier) createSequence(s *ast.CreateSequenceStmt) error {
	key, schema, name, err := a.name(s.Name)
	if err != nil {
		return err
	}
	if a.get(key) != nil && s.IfNotExists && !a.norm.replace {
		return nil
	}
	cs, co := a.dbDefaults(schema)
	d := &tableDef{Table: change.Table{Schema: schema, Name: name, Charset: cs, Collation: co,
		Columns: append([]change.Column(nil), sequenceColumns...)}}
	a.put(key, d)
	return nil
}
