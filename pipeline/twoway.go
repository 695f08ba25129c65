package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-db/sluice/apply"
	"github.com/sluice-db/sluice/change"
)

// TwoWayConfig makes a pipeline one direction of a two-way or multi-site
// channel: it marks what it writes so that the channel's other pipelines
// drop it (no loops), and checks every change against the target row
// (conflicts are resolved by Conflicts and recorded in the target).
type TwoWayConfig struct {
	// Channel groups the pipelines that must not pass a change back and
	// forth: all pipelines of a mesh share one; a star has one per spoke.
	Channel    string         `yaml:"channel" json:"channel"`
	SourceSite string         `yaml:"source_site" json:"source_site"`
	TargetSite string         `yaml:"target_site" json:"target_site"`
	Conflicts  ConflictConfig `yaml:"conflicts,omitempty" json:"conflicts,omitempty"`
}

// ConflictConfig says who wins a conflict. Under concurrent writes to one
// row on both sides only last-writer-wins and site-priority bring the sites
// to the same state; source-wins and target-wins keep each side's write
// where it won.
type ConflictConfig struct {
	// Policy is source-wins, target-wins, last-writer-wins or
	// site-priority; default site-priority with SitePriority defaulting to
	// [source_site, target_site].
	Policy          string          `yaml:"policy,omitempty" json:"policy,omitempty"`
	TimestampColumn string          `yaml:"timestamp_column,omitempty" json:"timestamp_column,omitempty"`
	SitePriority    []string        `yaml:"site_priority,omitempty" json:"site_priority,omitempty"`
	Tables          []TableConflict `yaml:"tables,omitempty" json:"tables,omitempty"`
}

// TableConflict overrides the policy for one target table.
type TableConflict struct {
	Table           string `yaml:"table" json:"table"` // target schema.table
	Policy          string `yaml:"policy" json:"policy"`
	TimestampColumn string `yaml:"timestamp_column,omitempty" json:"timestamp_column,omitempty"`
}

// markTable is the table, in the state schema, that two-way appliers write
// first in every transaction.
const markTable = "mark"

func (t *TwoWayConfig) validate() error {
	if t.Channel == "" {
		return errors.New("two_way.channel: a channel name is required")
	}
	if !nameRE.MatchString(t.Channel) {
		return fmt.Errorf("two_way.channel: %q must be letters, digits, _ . or -", t.Channel)
	}
	if t.SourceSite == "" || t.TargetSite == "" {
		return errors.New("two_way: source_site and target_site name the two sides")
	}
	if strings.EqualFold(t.SourceSite, t.TargetSite) {
		return errors.New("two_way: source_site and target_site must differ")
	}
	tw := t.applyConfig()
	if err := tw.Validate(); err != nil {
		return err
	}
	return nil
}

// applyConfig turns the YAML shape into the applier's.
func (t *TwoWayConfig) applyConfig() *apply.TwoWay {
	c := t.Conflicts
	policy := apply.Resolution(c.Policy)
	prio := c.SitePriority
	if policy == "" {
		policy = apply.SitePriority
	}
	if len(prio) == 0 {
		prio = []string{t.SourceSite, t.TargetSite}
	}
	tw := &apply.TwoWay{
		Channel: t.Channel, LocalSite: t.TargetSite, SourceSite: t.SourceSite,
		Conflicts: apply.ConflictPolicy{Default: policy, TimestampColumn: c.TimestampColumn, SitePriority: prio},
	}
	if len(c.Tables) > 0 {
		tw.Conflicts.Tables = map[string]apply.TableResolution{}
		for _, tc := range c.Tables {
			tw.Conflicts.Tables[tc.Table] = apply.TableResolution{Policy: apply.Resolution(tc.Policy), TimestampColumn: tc.TimestampColumn}
		}
	}
	return tw
}

// markOf finds the two-way mark in a transaction: the channel and origin
// of the pipeline that applied it here, ok=false when it carries none.
func markOf(txn *change.Txn, stateSchema string) (channel, origin string, ok bool) {
	for i := range txn.Changes {
		c := &txn.Changes[i]
		if c.Table.Name != markTable || c.Table.Schema != stateSchema || c.After == nil {
			continue
		}
		ci, oi := c.Table.ColumnIndex("channel"), c.Table.ColumnIndex("origin")
		if ci < 0 || ci >= len(c.After) {
			continue
		}
		channel = string(c.After[ci].B)
		if oi >= 0 && oi < len(c.After) {
			origin = string(c.After[oi].B)
		}
		return channel, origin, true
	}
	return "", "", false
}

// dropMarked decides about a transaction in a two-way pipeline before it
// is selected: a transaction marked by this pipeline's own channel was
// applied here by the channel and must not go back (drop=true); one marked
// by another channel passes on with the origin its mark names. Fragments
// of a dropped transaction are dropped too.
func (r *Runner) dropMarked(txn *change.Txn) (drop bool) {
	tw := r.cfg.TwoWay
	if tw == nil {
		return false
	}
	if txn.Fragment > 0 {
		return r.droppingBegin == txn.Begin && !r.droppingBegin.IsZero()
	}
	r.droppingBegin = change.Position{}
	channel, origin, ok := markOf(txn, r.cfg.StateSchema)
	switch {
	case ok && channel == tw.Channel:
		if txn.More {
			r.droppingBegin = txn.Begin
		}
		return true
	case ok:
		txn.Origin = origin
	default:
		txn.Origin = tw.SourceSite
	}
	return false
}

// twoWay is the applier's two-way configuration, nil for one-way.
func (r *Runner) twoWay() *apply.TwoWay {
	if r.cfg.TwoWay == nil {
		return nil
	}
	return r.cfg.TwoWay.applyConfig()
}

// workers is how many apply connections the pipeline uses. A two-way
// pipeline defaults to one: with ordered commits, a worker waiting for its
// turn holds the rows its conflict check locked, and two pipelines writing
// one site could then wait on each other where the server cannot see it.
func (r *Runner) workers() int {
	if r.cfg.Apply.Workers == 0 && r.cfg.TwoWay != nil {
		return 1
	}
	return r.cfg.Apply.Workers
}
