package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/source"
	"github.com/sluice-db/sluice/snapshot"
)

// Config is a pipeline as a user writes it: in a YAML file for the full
// case, or from `sluice sync` flags for the simple one. Load checks it
// whole before anything starts.
type Config struct {
	// Name identifies the pipeline: its checkpoint row, its schema history
	// and its replica server id derive from it.
	Name   string `yaml:"name"`
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	// From is where to start reading the source when the pipeline has no
	// checkpoint yet: "start" (the oldest binlog), "now", "FILE:POS", a GTID
	// set/list, or a time. Empty means "now", after an initial copy.
	From string `yaml:"from,omitempty"`
	// Snapshot is "auto" (copy existing rows first unless From is set),
	// "none" or "only".
	Snapshot string `yaml:"snapshot,omitempty"`
	// Copy tunes the initial copy (docs/snapshot.md).
	Copy    snapshot.Options `yaml:"copy,omitempty"`
	Tables  []TableRule      `yaml:"tables"`
	Exclude []string         `yaml:"exclude,omitempty"`
	// Ops lists the change kinds replicated: insert, update, delete, ddl.
	// Default all.
	Ops []string `yaml:"ops,omitempty"`
	// DDL is "replicate" (default) or "skip".
	DDL string `yaml:"ddl,omitempty"`
	// StateSchema is the target database holding sluice's tables; default
	// "sluice".
	StateSchema string `yaml:"state_schema,omitempty"`
	// ServerID is the replica server id; 0 derives one from Name.
	ServerID uint32 `yaml:"server_id,omitempty"`
	// Heartbeat, when set, writes a heartbeat row on the source at this
	// period, so that lag is measured precisely even when the source is
	// quiet. It needs write access to the source's state schema.
	Heartbeat Duration    `yaml:"heartbeat,omitempty"`
	Apply     ApplyConfig `yaml:"apply,omitempty"`
	// Skip names source transactions never to apply (by GTID or by end
	// position): the escape hatch for a change the target cannot take.
	Skip []SkipRule `yaml:"skip,omitempty"`
	// TwoWay makes the pipeline one direction of a two-way or multi-site
	// channel (docs/two-way.md).
	TwoWay *TwoWayConfig `yaml:"two_way,omitempty"`
}

// ApplyConfig tunes the applier.
type ApplyConfig struct {
	Workers          int  `yaml:"workers,omitempty"`
	MaxGroupRows     int  `yaml:"max_group_rows,omitempty"`
	MaxGroupTxns     int  `yaml:"max_group_txns,omitempty"`
	ForeignKeyChecks bool `yaml:"foreign_key_checks,omitempty"`
}

// SkipRule names one source transaction.
type SkipRule struct {
	GTID     string `yaml:"gtid,omitempty"`
	Position string `yaml:"position,omitempty"` // "file:pos", the transaction's end
}

// Matches reports whether the rule names txn.
func (s SkipRule) Matches(txn *change.Txn) bool {
	if s.GTID != "" && s.GTID == txn.GTID {
		return true
	}
	if s.Position != "" {
		end := fmt.Sprintf("%s:%d", txn.End.File, txn.End.Offset)
		return s.Position == end
	}
	return false
}

// Duration is a time.Duration written as "1s", "250ms" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 1s, 500ms)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML lets a table rule be written as just its pattern.
func (r *TableRule) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		r.Source = n.Value
		return nil
	}
	type plain TableRule
	var p plain
	dec := n.Decode
	if err := dec(&p); err != nil {
		return err
	}
	*r = TableRule(p)
	return nil
}

// LoadConfig reads a YAML pipeline file. Unknown keys and invalid values
// are errors that name the file and line.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a YAML pipeline config and validates it. Values like
// ${NAME} are replaced by environment variables, so that passwords need not
// be written in the file.
func ParseConfig(b []byte) (*Config, error) {
	b = expandEnv(b)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty pipeline config")
		}
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func expandEnv(b []byte) []byte {
	return envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		return []byte(os.Getenv(string(m[2 : len(m)-1])))
	})
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Validate checks every field and fills in defaults. Its errors name the
// field.
func (c *Config) Validate() error {
	if c.Name == "" {
		return errors.New("name: a pipeline needs a name (letters, digits, _ . -)")
	}
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("name: %q must be 1-128 letters, digits, _ . or -", c.Name)
	}
	if c.Source == "" {
		return errors.New("source: missing (mysql://user:pass@host:port)")
	}
	if _, err := source.Parse(c.Source); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if c.Target == "" {
		return errors.New("target: missing (mysql://user:pass@host:port)")
	}
	if _, err := source.Parse(c.Target); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	switch c.Snapshot {
	case "":
		c.Snapshot = "auto"
	case "auto", "none", "only":
	default:
		return fmt.Errorf("snapshot: %q must be auto, none or only", c.Snapshot)
	}
	if err := c.Copy.Fill(); err != nil {
		return err
	}
	if c.TwoWay != nil {
		if err := c.TwoWay.validate(); err != nil {
			return err
		}
	}
	switch c.DDL {
	case "":
		c.DDL = "replicate"
		if c.TwoWay != nil {
			// A DDL cannot carry a mark: replicated both ways it would
			// come back. Each side's DDL stays there unless one direction
			// is told to replicate it.
			c.DDL = "skip"
		}
	case "replicate", "skip":
	default:
		return fmt.Errorf("ddl: %q must be replicate or skip", c.DDL)
	}
	if c.StateSchema == "" {
		c.StateSchema = "sluice"
	}
	if len(c.Ops) > 0 {
		if _, err := ParseOps(c.Ops); err != nil {
			return fmt.Errorf("ops: %w", err)
		}
	}
	sel := c.Selection()
	if err := sel.Validate(); err != nil {
		return fmt.Errorf("tables: %w", err)
	}
	if c.Apply.Workers < 0 || c.Apply.Workers > 64 {
		return fmt.Errorf("apply.workers: %d must be between 1 and 64", c.Apply.Workers)
	}
	if c.Apply.MaxGroupRows < 0 || c.Apply.MaxGroupTxns < 0 {
		return errors.New("apply: group limits must be positive")
	}
	if c.Heartbeat < 0 {
		return errors.New("heartbeat: must be positive")
	}
	for i, s := range c.Skip {
		if (s.GTID == "") == (s.Position == "") {
			return fmt.Errorf("skip[%d]: give exactly one of gtid or position", i)
		}
		if s.Position != "" {
			if _, ok := change.ParseFilePos(s.Position); !ok {
				return fmt.Errorf("skip[%d]: position %q must be FILE:POS", i, s.Position)
			}
		}
	}
	return nil
}

// Selection is the config's table selection.
func (c *Config) Selection() *Selection {
	ops := AllOps()
	if len(c.Ops) > 0 {
		ops, _ = ParseOps(c.Ops)
	}
	if c.DDL == "skip" {
		ops.DDL = false
	}
	return &Selection{Rules: c.Tables, Exclude: c.Exclude, Ops: ops}
}

// ParseTableList reads the --tables flag: comma-separated patterns.
func ParseTableList(s string) []TableRule {
	var rules []TableRule
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			rules = append(rules, TableRule{Source: p})
		}
	}
	return rules
}

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
