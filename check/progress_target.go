package check

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
)

// targetState keeps a named check's progress in the target, in
// <schema>.check_progress (docs/check.md), one row per source table, so
// that a check run by the scheduler or from another machine resumes where
// a killed run stopped. Each row is replaced when its table's finished
// prefix moves.
type targetState struct {
	db          *sql.DB
	qtable      string // `schema`.`check_progress`
	name        string
	fingerprint string

	mu     sync.Mutex
	tables map[string]*tableState
}

// checkProgressDDL creates the progress table; %s is the quoted schema.
const checkProgressDDL = "CREATE TABLE IF NOT EXISTS %s.`check_progress` (\n" +
	"  `name`         VARCHAR(191) NOT NULL,\n" +
	"  `source_table` VARCHAR(129) NOT NULL,\n" +
	"  `fingerprint`  VARCHAR(64)  NOT NULL,\n" +
	"  `done`         BOOLEAN      NOT NULL,\n" +
	"  `progress`     LONGBLOB     NOT NULL,\n" +
	"  `updated_at`   TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),\n" +
	"  PRIMARY KEY (`name`, `source_table`)\n" +
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

// openTargetState creates the progress table when needed and loads the
// named check's rows. Rows written by the same name for other options
// (servers, tables, mapping) are dropped with a warning: a scheduled check
// whose definition changed starts over instead of failing for ever.
func openTargetState(ctx context.Context, db *sql.DB, schema, name, fp string) (*targetState, string, error) {
	s := &targetState{db: db, qtable: quoteIdent(schema) + ".`check_progress`", name: name, fingerprint: fp, tables: map[string]*tableState{}}
	wrap := func(err error) error {
		return fmt.Errorf("keep check progress in the target's %s.check_progress: %w", schema, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(schema)); err != nil {
		return nil, "", wrap(err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(checkProgressDDL, quoteIdent(schema))); err != nil {
		return nil, "", wrap(err)
	}
	rows, err := db.QueryContext(ctx, "SELECT `source_table`, `fingerprint`, `progress` FROM "+s.qtable+" WHERE `name` = ?", name)
	if err != nil {
		return nil, "", wrap(err)
	}
	defer rows.Close()
	stale := false
	for rows.Next() {
		var table, rowFP string
		var doc []byte
		if err := rows.Scan(&table, &rowFP, &doc); err != nil {
			return nil, "", wrap(err)
		}
		if rowFP != fp {
			stale = true
			continue
		}
		var ts tableState
		if err := json.Unmarshal(doc, &ts); err != nil {
			return nil, "", wrap(fmt.Errorf("progress of %s under %q: %w", table, name, err))
		}
		s.tables[table] = &ts
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap(err)
	}
	if !stale {
		return s, "", nil
	}
	s.tables = map[string]*tableState{}
	if err := s.clear(ctx); err != nil {
		return nil, "", err
	}
	return s, fmt.Sprintf("the saved progress of check %q was for other servers, tables or mapping; starting over", name), nil
}

func (s *targetState) table(name string) *tableState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tables[name]
}

func (s *targetState) saveTable(ctx context.Context, rep *TableReport, after []string, done bool) error {
	ts := newTableState(rep, after, done)
	doc, err := json.Marshal(ts)
	if err != nil {
		return fmt.Errorf("save check progress of %s: %w", rep.Source, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under the lock, so that two saves of one table land in order.
	if _, err := s.db.ExecContext(ctx, "REPLACE INTO "+s.qtable+" (`name`, `source_table`, `fingerprint`, `done`, `progress`) VALUES (?, ?, ?, ?, ?)",
		s.name, rep.Source, s.fingerprint, done, doc); err != nil {
		return fmt.Errorf("save check progress of %s in the target's %s: %w", rep.Source, s.qtable, err)
	}
	s.tables[rep.Source] = ts
	return nil
}

func (s *targetState) clear(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.db.ExecContext(ctx, "DELETE FROM "+s.qtable+" WHERE `name` = ?", s.name); err != nil {
		return fmt.Errorf("clear check progress %q in the target's %s: %w", s.name, s.qtable, err)
	}
	return nil
}
