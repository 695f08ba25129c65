package check

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// column is one column as information_schema describes it.
type column struct {
	Name       string
	DataType   string // DATA_TYPE, lower case: int, varchar, json, ...
	ColumnType string // COLUMN_TYPE: int(10) unsigned, ...
	Charset    string // "" for non-string types
	Collation  string
	Nullable   bool
	Generated  bool
	JSON       bool // a JSON column (MySQL's type, or MariaDB's LONGTEXT with json_valid)
}

// tableDef is a table's columns and the key the check walks.
type tableDef struct {
	Name    tableName
	Columns []column
	// Key lists the key's column names in index order; nil when the table
	// has neither a primary key nor a unique key over NOT NULL columns.
	Key      []string
	KeyIndex string // the key's index name, for FORCE INDEX
}

func (d *tableDef) column(name string) (column, bool) {
	for _, c := range d.Columns {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return column{}, false
}

// systemSchemas are never checked, whatever the patterns say.
var systemSchemas = map[string]bool{
	"mysql": true, "information_schema": true, "performance_schema": true, "sys": true,
}

// listTables returns the base tables of db matching any of the patterns,
// sorted by name.
func listTables(ctx context.Context, db *sql.DB, patterns []string) ([]tableName, error) {
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []tableName
	for rows.Next() {
		var n tableName
		if err := rows.Scan(&n.Schema, &n.Name); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if systemSchemas[strings.ToLower(n.Schema)] {
			continue
		}
		for _, p := range patterns {
			if matchTable(p, n) {
				out = append(out, n)
				break
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// loadTable reads a table's definition; it returns nil, nil when the table
// does not exist.
func loadTable(ctx context.Context, db *sql.DB, n tableName) (*tableDef, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, ''),
		IFNULL(COLLATION_NAME, ''), IS_NULLABLE = 'YES', IFNULL(GENERATION_EXPRESSION, '') <> '' OR EXTRA LIKE '%GENERATED%'
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, n.Schema, n.Name)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", n, err)
	}
	def := &tableDef{Name: n}
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.DataType, &c.ColumnType, &c.Charset, &c.Collation, &c.Nullable, &c.Generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns of %s: %w", n, err)
		}
		c.JSON = c.DataType == "json"
		def.Columns = append(def.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", n, err)
	}
	if len(def.Columns) == 0 {
		return nil, nil
	}
	if err := markJSONColumns(ctx, db, def); err != nil {
		return nil, err
	}
	if err := loadKey(ctx, db, def); err != nil {
		return nil, err
	}
	return def, nil
}

// markJSONColumns finds MariaDB's JSON columns: LONGTEXT with a json_valid
// check constraint named after the column.
func markJSONColumns(ctx context.Context, db *sql.DB, def *tableDef) error {
	rows, err := db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, def.Name.Schema, def.Name.Name)
	if err != nil {
		// MySQL before 8.0.16 has no CHECK_CONSTRAINTS; its JSON columns say so
		// in DATA_TYPE already.
		return nil
	}
	defer rows.Close()
	for rows.Next() {
		var clause string
		if err := rows.Scan(&clause); err != nil {
			return fmt.Errorf("read check constraints of %s: %w", def.Name, err)
		}
		c := strings.ReplaceAll(strings.ToLower(clause), " ", "")
		if !strings.HasPrefix(c, "json_valid(`") || !strings.HasSuffix(c, "`)") {
			continue
		}
		name := clause[strings.IndexByte(clause, '`')+1 : strings.LastIndexByte(clause, '`')]
		name = strings.ReplaceAll(name, "``", "`")
		for i := range def.Columns {
			if strings.EqualFold(def.Columns[i].Name, name) && def.Columns[i].DataType == "longtext" {
				def.Columns[i].JSON = true
			}
		}
	}
	return rows.Err()
}

// loadKey picks the key the check walks: the primary key, else the unique
// key over NOT NULL columns with the fewest columns. Keys over column
// prefixes cannot order rows by their values and are skipped.
func loadKey(ctx context.Context, db *sql.DB, def *tableDef) error {
	rows, err := db.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME, SUB_PART IS NOT NULL
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
		ORDER BY INDEX_NAME, SEQ_IN_INDEX`, def.Name.Schema, def.Name.Name)
	if err != nil {
		return fmt.Errorf("read keys of %s: %w", def.Name, err)
	}
	defer rows.Close()
	type index struct {
		cols   []string
		usable bool
	}
	indexes := map[string]*index{}
	var names []string
	for rows.Next() {
		var name, col string
		var prefix bool
		if err := rows.Scan(&name, &col, &prefix); err != nil {
			return fmt.Errorf("read keys of %s: %w", def.Name, err)
		}
		ix := indexes[name]
		if ix == nil {
			ix = &index{usable: true}
			indexes[name] = ix
			names = append(names, name)
		}
		ix.cols = append(ix.cols, col)
		c, ok := def.column(col)
		if prefix || !ok || c.Nullable {
			ix.usable = false
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read keys of %s: %w", def.Name, err)
	}
	if ix := indexes["PRIMARY"]; ix != nil && ix.usable {
		def.Key, def.KeyIndex = ix.cols, "PRIMARY"
		return nil
	}
	for _, name := range names {
		ix := indexes[name]
		if ix.usable && (def.Key == nil || len(ix.cols) < len(def.Key)) {
			def.Key, def.KeyIndex = ix.cols, name
		}
	}
	return nil
}

// isInteger reports whether a DATA_TYPE is an integer type.
func isInteger(dataType string) bool {
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		return true
	}
	return false
}

// isBinaryString reports whether c holds bytes without a character set.
func (c column) isBinaryString() bool {
	switch c.DataType {
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return true
	}
	return false
}

// mayHoldSeparator reports whether c's canonical text may contain any
// byte, the row separator 0xFF included, so that its length must be hashed
// too: byte strings and geometry. Text is compared as UTF-8, which never
// holds 0xFF.
func (c column) mayHoldSeparator() bool {
	return c.isBinaryString() || c.isGeometry()
}

func (c column) isGeometry() bool {
	switch c.DataType {
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return true
	}
	return false
}
