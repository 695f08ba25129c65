package apply

import (
	"fmt"
	"strings"

	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// TwoWay configures an applier that is one direction of a two-way (or
// multi-site) channel.
//
// Loop prevention: every transaction the applier writes starts with a write
// to the target's mark table naming the channel. The pipeline that reads
// the target's binlog for the same channel drops the transactions that
// carry its channel's mark, so a change crosses each link once and never
// comes back.
//
// Conflicts: a change conflicts when the target row no longer matches the
// change's before image (or is missing for an update or delete, or exists
// for an insert). The policy decides who wins, and every conflict is
// recorded in the target's conflicts table in the same transaction.
type TwoWay struct {
	// Channel names the loop-prevention domain: all pipelines of a mesh
	// share one; a star has one per spoke.
	Channel string
	// LocalSite names the target's site, for site priority.
	LocalSite string
	// SourceSite names the source's site: the origin of transactions that
	// carry no mark from another channel.
	SourceSite string
	Conflicts  ConflictPolicy
}

// Resolution is a conflict policy.
type Resolution string

const (
	// SourceWins applies the change anyway: the incoming write wins.
	SourceWins Resolution = "source-wins"
	// TargetWins keeps the target row as it is.
	TargetWins Resolution = "target-wins"
	// LastWriterWins compares a timestamp column of the incoming image with
	// the target row's; the later wins, and a tie is broken by site
	// priority, else by site name, the same way on every site. A delete
	// that meets a concurrent update loses (the row stays), and an update
	// whose row was deleted here brings it back: without tombstones this
	// is the rule that brings every site to the same state.
	LastWriterWins Resolution = "last-writer-wins"
	// SitePriority lets the site earlier in SitePriority win.
	SitePriority Resolution = "site-priority"
)

// ParseResolution reads a policy name.
func ParseResolution(s string) (Resolution, error) {
	switch r := Resolution(s); r {
	case SourceWins, TargetWins, LastWriterWins, SitePriority:
		return r, nil
	case "":
		return SourceWins, nil
	}
	return "", fmt.Errorf("conflict policy %q must be source-wins, target-wins, last-writer-wins or site-priority", s)
}

// ConflictPolicy says how conflicts are resolved, per table or by default.
type ConflictPolicy struct {
	Default Resolution
	// TimestampColumn is the default column for last-writer-wins.
	TimestampColumn string
	// SitePriority lists sites, highest priority first.
	SitePriority []string
	// Tables overrides the default per target table ("schema.table").
	Tables map[string]TableResolution
}

// TableResolution is one table's policy.
type TableResolution struct {
	Policy          Resolution
	TimestampColumn string
}

// forTable returns the policy and timestamp column for a target table.
func (p *ConflictPolicy) forTable(name string) (Resolution, string) {
	if t, ok := p.Tables[name]; ok {
		col := t.TimestampColumn
		if col == "" {
			col = p.TimestampColumn
		}
		return t.Policy, col
	}
	if p.Default == "" {
		return SourceWins, p.TimestampColumn
	}
	return p.Default, p.TimestampColumn
}

// priority is a site's rank: lower is stronger; unknown sites rank last.
func (p *ConflictPolicy) priority(site string) int {
	for i, s := range p.SitePriority {
		if strings.EqualFold(s, site) {
			return i
		}
	}
	return len(p.SitePriority)
}

// Validate checks the settings.
func (t *TwoWay) Validate() error {
	if t.Channel == "" {
		return fmt.Errorf("two-way: a channel name is required")
	}
	check := func(r Resolution, col, where string) error {
		if _, err := ParseResolution(string(r)); err != nil {
			return fmt.Errorf("two-way %s: %w", where, err)
		}
		if r == LastWriterWins && col == "" {
			return fmt.Errorf("two-way %s: last-writer-wins needs a timestamp column", where)
		}
		if r == SitePriority && len(t.Conflicts.SitePriority) == 0 {
			return fmt.Errorf("two-way %s: site-priority needs the list of sites in priority order", where)
		}
		return nil
	}
	if err := check(t.Conflicts.Default, t.Conflicts.TimestampColumn, "conflicts"); err != nil {
		return err
	}
	for name, tr := range t.Conflicts.Tables {
		col := tr.TimestampColumn
		if col == "" {
			col = t.Conflicts.TimestampColumn
		}
		if err := check(tr.Policy, col, "conflicts for "+name); err != nil {
			return err
		}
	}
	return nil
}

// twoWayDDL creates the mark and conflicts tables.
func twoWayDDL(schema string) []string {
	q := sqlbuild.QuoteIdent(schema)
	return []string{
		"CREATE TABLE IF NOT EXISTS " + q + ".`mark` (" +
			"`channel` VARCHAR(191) NOT NULL," +
			"`pipeline` VARCHAR(191) NOT NULL," +
			"`worker` INT NOT NULL," +
			"`origin` VARCHAR(191) NOT NULL DEFAULT ''," +
			"`n` BIGINT UNSIGNED NOT NULL DEFAULT 0," +
			"PRIMARY KEY (`pipeline`,`worker`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		"CREATE TABLE IF NOT EXISTS " + q + ".`conflicts` (" +
			"`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT," +
			"`pipeline` VARCHAR(191) NOT NULL," +
			"`channel` VARCHAR(191) NOT NULL," +
			"`table_name` VARCHAR(400) NOT NULL," +
			"`row_key` TEXT NOT NULL," +
			"`policy` VARCHAR(32) NOT NULL," +
			"`decision` VARCHAR(32) NOT NULL," +
			"`source_before` LONGTEXT NULL," +
			"`source_after` LONGTEXT NULL," +
			"`target_row` LONGTEXT NULL," +
			"`origin` VARCHAR(191) NOT NULL DEFAULT ''," +
			"`position` VARCHAR(300) NOT NULL DEFAULT ''," +
			"`gtid` VARCHAR(300) NOT NULL DEFAULT ''," +
			"`created_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)," +
			"PRIMARY KEY (`id`), KEY (`pipeline`, `created_at`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
	}
}

// markStatement is the first statement of every transaction a two-way
// applier writes. One row per pipeline and worker keeps the pipelines that
// write one site (a mesh, a star's hub), and their workers, from waiting on
// each other's mark.
func markStatement(schema string) string {
	return "INSERT INTO " + sqlbuild.QuoteIdent(schema) + ".`mark` (`channel`,`pipeline`,`worker`,`origin`,`n`) VALUES (?,?,?,?,1) " +
		"ON DUPLICATE KEY UPDATE `n`=`n`+1,`channel`=VALUES(`channel`),`origin`=VALUES(`origin`)"
}
