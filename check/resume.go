package check

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// progressStore keeps a check's progress so that a killed check continues
// from its last finished chunk: per table, the finished key prefix and what
// was found in it. A run that goes through every table clears it.
type progressStore interface {
	// table returns a table's saved progress (by source name), or nil.
	table(name string) *tableState
	saveTable(ctx context.Context, rep *TableReport, after []string, done bool) error
	clear(ctx context.Context) error
}

// stateFile keeps a check's progress in a local JSON file. It is rewritten
// (to a temporary file, then renamed) each time a table's finished prefix
// moves.
type stateFile struct {
	path string
	mu   sync.Mutex
	data stateData
}

type stateData struct {
	Version     int                    `json:"version"`
	Fingerprint string                 `json:"fingerprint"`
	Tables      map[string]*tableState `json:"tables"`
}

// tableState is one table's progress. Byte slices keep key values and
// images exact whatever their encoding.
type tableState struct {
	Done        bool        `json:"done"`
	After       [][]byte    `json:"after,omitempty"`
	Rows        int64       `json:"rows"`
	Chunks      int64       `json:"chunks"`
	Unsettled   int         `json:"unsettled"`
	Differences []stateDiff `json:"differences,omitempty"`
}

type stateDiff struct {
	Type    string   `json:"type"`
	Key     [][]byte `json:"key,omitempty"`
	Columns []string `json:"columns,omitempty"`
	Source  [][]byte `json:"source,omitempty"`
	Target  [][]byte `json:"target,omitempty"`
}

// fingerprint identifies what a check compares, so that a state file of
// another check is not taken for this one's.
func fingerprint(o *Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", o.Source.Addr(), o.Target.Addr(), strings.Join(o.Tables, ","))
	for _, m := range o.Map {
		fmt.Fprintf(h, "%s:%s\x00", m.From, m.To)
	}
	fmt.Fprintf(h, "%s", strings.Join(o.ExcludeColumns, ","))
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// openState loads the state file, or starts an empty one when it does not
// exist. A file written for another check is an error rather than ignored.
func openState(path string, fp string) (*stateFile, error) {
	s := &stateFile{path: path, data: stateData{Version: 1, Fingerprint: fp, Tables: map[string]*tableState{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read check state %s: %w", path, err)
	}
	var d stateData
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("read check state %s: %w", path, err)
	}
	if d.Fingerprint != fp {
		return nil, fmt.Errorf("check state %s belongs to another check (other servers, tables or mapping); remove it to start over", path)
	}
	if d.Tables == nil {
		d.Tables = map[string]*tableState{}
	}
	s.data = d
	return s, nil
}

// table returns a table's saved progress, or nil.
func (s *stateFile) table(name string) *tableState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.Tables[name]
}

// restore fills a report from saved progress and returns the resume point.
func (ts *tableState) restore(rep *TableReport) []string {
	rep.Rows, rep.Chunks, rep.Unsettled = ts.Rows, ts.Chunks, ts.Unsettled
	for _, d := range ts.Differences {
		rep.add(Difference{Type: d.Type, Key: bytesToStrings(d.Key), Columns: d.Columns, Source: row(d.Source), Target: row(d.Target)})
	}
	return bytesToStrings(ts.After)
}

// newTableState captures a table's progress.
func newTableState(rep *TableReport, after []string, done bool) *tableState {
	ts := &tableState{Done: done, After: stringsToBytes(after), Rows: rep.Rows, Chunks: rep.Chunks, Unsettled: rep.Unsettled}
	for _, d := range rep.Differences {
		ts.Differences = append(ts.Differences, stateDiff{Type: d.Type, Key: stringsToBytes(d.Key), Columns: d.Columns,
			Source: [][]byte(d.Source), Target: [][]byte(d.Target)})
	}
	return ts
}

func (s *stateFile) saveTable(_ context.Context, rep *TableReport, after []string, done bool) error {
	ts := newTableState(rep, after, done)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data.Tables[rep.Source] = ts
	b, err := json.Marshal(&s.data)
	if err != nil {
		return fmt.Errorf("write check state %s: %w", s.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write check state %s: %w", s.path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write check state %s: %w", s.path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write check state %s: %w", s.path, err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("write check state %s: %w", s.path, err)
	}
	return nil
}

// clear removes the file: the check it described has finished.
func (s *stateFile) clear(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove check state %s: %w", s.path, err)
	}
	return nil
}

func stringsToBytes(v []string) [][]byte {
	if v == nil {
		return nil
	}
	out := make([][]byte, len(v))
	for i, s := range v {
		out[i] = []byte(s)
	}
	return out
}

func bytesToStrings(v [][]byte) []string {
	if v == nil {
		return nil
	}
	out := make([]string, len(v))
	for i, b := range v {
		out[i] = string(b)
	}
	return out
}
