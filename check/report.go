package check

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Difference kinds, as the report names them.
const (
	Missing   = "missing"   // on the source, not on the target
	Extra     = "extra"     // on the target, not on the source
	Different = "different" // on both, with different values
)

// Difference is one row that differs, confirmed once the target had applied
// the source position the source row was read at.
type Difference struct {
	Type string
	// Key is the row's key values (nil for a table without a key).
	Key []string
	// Columns names the differing columns (Different only).
	Columns []string
	// Source and Target are the canonical images the check saw; nil where
	// the row is absent. Repairs are built from Source and guarded by both.
	Source row
	Target row
}

// TableReport is the outcome for one table.
type TableReport struct {
	Source     string   `json:"source"`
	Target     string   `json:"target"`
	KeyColumns []string `json:"key_columns,omitempty"`
	Columns    []string `json:"-"`
	binary     []bool   // per compared column: print as hex
	keyBinary  []bool

	Rows      int64 `json:"rows"`
	Chunks    int64 `json:"chunks"`
	Missing   int   `json:"missing"`
	Extra     int   `json:"extra"`
	Different int   `json:"different"`
	// Unsettled counts rows whose source image kept changing through every
	// re-check, so the check could not decide.
	Unsettled int           `json:"unsettled"`
	Keyless   bool          `json:"keyless,omitempty"`
	Elapsed   time.Duration `json:"-"`
	Warnings  []string      `json:"warnings,omitempty"`
	Error     string        `json:"error,omitempty"`

	Repaired      int `json:"repaired,omitempty"`
	RepairSkipped int `json:"repair_skipped,omitempty"`

	Differences []Difference `json:"-"`
}

// Differs reports whether the table has confirmed differences.
func (t *TableReport) Differs() bool { return t.Missing+t.Extra+t.Different > 0 }

func (t *TableReport) add(d Difference) {
	switch d.Type {
	case Missing:
		t.Missing++
	case Extra:
		t.Extra++
	case Different:
		t.Different++
	}
	t.Differences = append(t.Differences, d)
}

// Report is the outcome of a check.
type Report struct {
	Source  string
	Target  string
	Started time.Time
	Elapsed time.Duration
	// Position says how the target's applied position was learned.
	Position string
	Tables   []*TableReport
	Warnings []string
}

// ExitStatus is the status the CLI exits with, like diff: 0 equal, 1
// differences found, 2 the check could not run (on some table).
func (r *Report) ExitStatus() int {
	status := 0
	for _, t := range r.Tables {
		if t.Error != "" {
			return 2
		}
		if t.Differs() {
			status = 1
		}
	}
	return status
}

// Totals sums the tables.
func (r *Report) Totals() (rows int64, missing, extra, different, unsettled int) {
	for _, t := range r.Tables {
		rows += t.Rows
		missing += t.Missing
		extra += t.Extra
		different += t.Different
		unsettled += t.Unsettled
	}
	return
}

// WriteText writes the report for people: one line per table, then the
// differing keys.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "check %s -> %s (target position: %s)\n", r.Source, r.Target, r.Position)
	for _, wn := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn)
	}
	for _, t := range r.Tables {
		name := t.Source
		if t.Target != t.Source {
			name += " -> " + t.Target
		}
		if t.Error != "" {
			fmt.Fprintf(&b, "%-40s ERROR %s\n", name, t.Error)
			continue
		}
		fmt.Fprintf(&b, "%-40s rows %d  missing %d  extra %d  different %d", name, t.Rows, t.Missing, t.Extra, t.Different)
		if t.Unsettled > 0 {
			fmt.Fprintf(&b, "  unsettled %d", t.Unsettled)
		}
		if t.Repaired+t.RepairSkipped > 0 {
			fmt.Fprintf(&b, "  repaired %d  repair skipped %d", t.Repaired, t.RepairSkipped)
		}
		fmt.Fprintf(&b, "  %s\n", t.Elapsed.Round(time.Millisecond))
		for _, wn := range t.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", wn)
		}
		for _, d := range t.Differences {
			fmt.Fprintf(&b, "  %-9s %s", d.Type, t.keyText(d))
			if len(d.Columns) > 0 {
				fmt.Fprintf(&b, "  columns %s", strings.Join(d.Columns, ","))
			}
			b.WriteByte('\n')
		}
	}
	rows, m, e, d, u := r.Totals()
	fmt.Fprintf(&b, "total: rows %d  missing %d  extra %d  different %d", rows, m, e, d)
	if u > 0 {
		fmt.Fprintf(&b, "  unsettled %d", u)
	}
	fmt.Fprintf(&b, "  elapsed %s\n", r.Elapsed.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

func (t *TableReport) keyText(d Difference) string {
	if d.Key == nil {
		return "(row " + t.rowText(d) + ")"
	}
	parts := make([]string, len(d.Key))
	for i, v := range d.Key {
		name := ""
		if i < len(t.KeyColumns) {
			name = t.KeyColumns[i]
		}
		bin := i < len(t.keyBinary) && t.keyBinary[i]
		parts[i] = name + "=" + display([]byte(v), bin)
	}
	return strings.Join(parts, ",")
}

func (t *TableReport) rowText(d Difference) string {
	img := d.Source
	if img == nil {
		img = d.Target
	}
	parts := make([]string, len(img))
	for i, v := range img {
		if v == nil {
			parts[i] = "NULL"
			continue
		}
		parts[i] = display(v, i < len(t.binary) && t.binary[i])
	}
	return strings.Join(parts, ",")
}

// display prints a value for people and JSON: text as is, bytes that are
// binary or not UTF-8 as 0x-hex.
func display(v []byte, binary bool) string {
	if binary || !utf8.Valid(v) {
		return "0x" + hex.EncodeToString(v)
	}
	return string(v)
}

type jsonDifference struct {
	Type    string             `json:"type"`
	Key     map[string]string  `json:"key,omitempty"`
	Columns []string           `json:"columns,omitempty"`
	Source  map[string]*string `json:"source,omitempty"`
	Target  map[string]*string `json:"target,omitempty"`
}

type jsonTable struct {
	*TableReport
	ElapsedSeconds float64          `json:"elapsed_seconds"`
	Differences    []jsonDifference `json:"differences"`
}

type jsonReport struct {
	Source         string      `json:"source"`
	Target         string      `json:"target"`
	Started        time.Time   `json:"started"`
	ElapsedSeconds float64     `json:"elapsed_seconds"`
	Position       string      `json:"target_position"`
	Rows           int64       `json:"rows"`
	Missing        int         `json:"missing"`
	Extra          int         `json:"extra"`
	Different      int         `json:"different"`
	Unsettled      int         `json:"unsettled"`
	Warnings       []string    `json:"warnings,omitempty"`
	Tables         []jsonTable `json:"tables"`
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Source: r.Source, Target: r.Target, Started: r.Started, ElapsedSeconds: r.Elapsed.Seconds(),
		Position: r.Position, Warnings: r.Warnings, Tables: []jsonTable{}}
	out.Rows, out.Missing, out.Extra, out.Different, out.Unsettled = r.Totals()
	for _, t := range r.Tables {
		jt := jsonTable{TableReport: t, ElapsedSeconds: t.Elapsed.Seconds(), Differences: []jsonDifference{}}
		for _, d := range t.Differences {
			jd := jsonDifference{Type: d.Type, Columns: d.Columns}
			if d.Key != nil {
				jd.Key = map[string]string{}
				for i, v := range d.Key {
					if i < len(t.KeyColumns) {
						jd.Key[t.KeyColumns[i]] = display([]byte(v), i < len(t.keyBinary) && t.keyBinary[i])
					}
				}
			}
			jd.Source = t.imageJSON(d.Source)
			jd.Target = t.imageJSON(d.Target)
			jt.Differences = append(jt.Differences, jd)
		}
		out.Tables = append(out.Tables, jt)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (t *TableReport) imageJSON(img row) map[string]*string {
	if img == nil {
		return nil
	}
	m := make(map[string]*string, len(img))
	for i, v := range img {
		if i >= len(t.Columns) {
			break
		}
		if v == nil {
			m[t.Columns[i]] = nil
			continue
		}
		s := display(v, i < len(t.binary) && t.binary[i])
		m[t.Columns[i]] = &s
	}
	return m
}
