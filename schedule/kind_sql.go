package schedule

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	_ "github.com/go-sql-driver/mysql" // data sources are MySQL servers
	"github.com/sluice-db/sluice/store"
)

// SQLConfig is the config of a sql job.
type SQLConfig struct {
	// DataSource names a row of data_sources.
	DataSource string `json:"data_source"`
	// Statement is one SQL statement. A statement that returns rows has
	// them written to the output (tab-separated, up to MaxRows).
	Statement string `json:"statement"`
	MaxRows   int    `json:"max_rows,omitempty"` // default 100
}

// SQLKind runs a statement on a named data source. It keeps one pool per
// data source and reopens it when the data source row changes.
type SQLKind struct {
	Store *store.Store

	mu    sync.Mutex
	pools map[string]sqlPool
}

type sqlPool struct {
	db      *sql.DB
	version string
}

// Validate implements Kind.
func (*SQLKind) Validate(config json.RawMessage) error {
	var c SQLConfig
	if err := decodeStrict(config, &c); err != nil {
		return err
	}
	if c.DataSource == "" {
		return errors.New("data_source is empty")
	}
	if strings.TrimSpace(c.Statement) == "" {
		return errors.New("statement is empty")
	}
	if c.MaxRows < 0 {
		return errors.New("max_rows is negative")
	}
	return nil
}

func (k *SQLKind) pool(ctx context.Context, name string) (*sql.DB, error) {
	ds, err := k.Store.DataSource(ctx, name)
	if err != nil {
		return nil, err
	}
	version := store.FormatTime(ds.UpdatedAt)
	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.pools[name]; ok {
		if p.version == version {
			return p.db, nil
		}
		p.db.Close()
	}
	dsn, err := ds.MySQLDSN()
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, fmt.Errorf("open data source %s: %w", name, err)
	}
	db.SetMaxIdleConns(2)
	if k.pools == nil {
		k.pools = map[string]sqlPool{}
	}
	k.pools[name] = sqlPool{db: db, version: version}
	return db, nil
}

// Close closes the pools.
func (k *SQLKind) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pools {
		p.db.Close()
	}
	k.pools = nil
}

// Run implements Kind.
func (k *SQLKind) Run(ctx context.Context, run RunInfo, config json.RawMessage, out io.Writer) error {
	var c SQLConfig
	if err := decodeStrict(config, &c); err != nil {
		return err
	}
	if c.MaxRows == 0 {
		c.MaxRows = 100
	}
	db, err := k.pool(ctx, c.DataSource)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to data source %s: %w", c.DataSource, err)
	}
	defer conn.Close()
	if returnsRows(c.Statement) {
		rows, err := conn.QueryContext(ctx, c.Statement)
		if err != nil {
			return fmt.Errorf("data source %s: %w", c.DataSource, err)
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return fmt.Errorf("data source %s: %w", c.DataSource, err)
		}
		fmt.Fprintln(out, strings.Join(cols, "\t"))
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if n == c.MaxRows {
				fmt.Fprintf(out, "[more rows not shown; max_rows is %d]\n", c.MaxRows)
				break
			}
			if err := rows.Scan(ptrs...); err != nil {
				return fmt.Errorf("data source %s: read row: %w", c.DataSource, err)
			}
			cells := make([]string, len(vals))
			for i, v := range vals {
				cells[i] = "NULL"
				if v.Valid {
					cells[i] = v.String
				}
			}
			fmt.Fprintln(out, strings.Join(cells, "\t"))
			n++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("data source %s: %w", c.DataSource, err)
		}
		return nil
	}
	res, err := conn.ExecContext(ctx, c.Statement)
	if err != nil {
		return fmt.Errorf("data source %s: %w", c.DataSource, err)
	}
	n, _ := res.RowsAffected()
	fmt.Fprintf(out, "%d rows affected\n", n)
	return nil
}

func returnsRows(stmt string) bool {
	f := strings.Fields(strings.TrimLeft(stmt, "( \t\r\n"))
	if len(f) == 0 {
		return false
	}
	switch strings.ToUpper(f[0]) {
	case "SELECT", "SHOW", "WITH", "EXPLAIN", "DESCRIBE", "DESC", "CHECKSUM", "VALUES", "TABLE":
		return true
	}
	return false
}
