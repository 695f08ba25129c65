// Command servers starts the two throwaway MariaDB servers the console's
// end-to-end test syncs between, prints them as one JSON line, then runs SQL
// sent on stdin (one JSON request a line, one JSON answer a line) until
// stdin closes or it is signalled, and removes both servers.
//
//	go build -o /tmp/servers ./web/e2e/servers && /tmp/servers
//	{"source":{"host":"127.0.0.1","port":40123,"user":"root","password":"","url":"mysql://root@127.0.0.1:40123"},"target":{...}}
//	{"id":1,"server":"source","sql":"SELECT COUNT(*) FROM shop.orders"}
//	{"id":1,"rows":[["100"]]}
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluice-db/sluice/internal/testdb"
)

type serverInfo struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	User     string `json:"user"`
	Password string `json:"password"`
	URL      string `json:"url"`
}

type request struct {
	ID     int    `json:"id"`
	Server string `json:"server"`
	SQL    string `json:"sql"`
	// Session, when set, runs the statement on a connection of its own that
	// stays open between requests, so that a test can hold a lock (LOCK
	// TABLES ... WRITE) and release it later.
	Session string `json:"session,omitempty"`
}

// querier is what a pooled *sql.DB and a held *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

type answer struct {
	ID       int         `json:"id"`
	Rows     [][]*string `json:"rows"`
	Affected int64       `json:"affected,omitempty"`
	Error    string      `json:"error,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e servers:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	src, err := testdb.New(ctx, testdb.Options{})
	if err != nil {
		return fmt.Errorf("start source mariadbd: %w", err)
	}
	defer src.Close()
	dst, err := testdb.New(ctx, testdb.Options{NoBinlog: true})
	if err != nil {
		return fmt.Errorf("start target mariadbd: %w", err)
	}
	defer dst.Close()

	dbs := map[string]*sql.DB{}
	for name, s := range map[string]*testdb.Server{"source": src, "target": dst} {
		db, err := s.Open("")
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		defer db.Close()
		dbs[name] = db
	}
	info := map[string]serverInfo{
		"source": {src.Host, src.Port, src.User, src.Password, src.URL()},
		"target": {dst.Host, dst.Port, dst.User, dst.Password, dst.URL()},
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(info); err != nil {
		return err
	}

	sessions := map[string]*sql.Conn{}
	defer func() {
		for _, c := range sessions {
			c.Close()
		}
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			if err := out.Encode(serve(ctx, dbs, sessions, line)); err != nil {
				return err
			}
		}
	}
}

func serve(ctx context.Context, dbs map[string]*sql.DB, sessions map[string]*sql.Conn, line string) answer {
	var req request
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		return answer{Error: fmt.Sprintf("decode request: %v", err)}
	}
	pool := dbs[req.Server]
	if pool == nil {
		return answer{ID: req.ID, Error: fmt.Sprintf("no server %q: use source or target", req.Server)}
	}
	a := answer{ID: req.ID}
	var db querier = pool
	if req.Session != "" {
		key := req.Server + "/" + req.Session
		conn := sessions[key]
		if conn == nil {
			var err error
			if conn, err = pool.Conn(ctx); err != nil {
				a.Error = fmt.Sprintf("%s: open session %s: %v", req.Server, req.Session, err)
				return a
			}
			sessions[key] = conn
		}
		db = conn
	}
	var err error
	if isQuery(req.SQL) {
		a.Rows, err = query(ctx, db, req.SQL)
	} else {
		var res sql.Result
		if res, err = db.ExecContext(ctx, req.SQL); err == nil {
			a.Affected, _ = res.RowsAffected()
		}
	}
	if err != nil {
		a.Error = fmt.Sprintf("%s: %v", req.Server, err)
	}
	return a
}

func isQuery(q string) bool {
	f := strings.Fields(strings.ToUpper(q))
	return len(f) > 0 && (f[0] == "SELECT" || f[0] == "SHOW")
}

func query(ctx context.Context, db querier, q string) ([][]*string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := [][]*string{}
	for rows.Next() {
		raw := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]*string, len(cols))
		for i, v := range raw {
			if v.Valid {
				s := v.String
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
