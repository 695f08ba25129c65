// Package apply writes source transactions to a target MySQL or MariaDB
// server, exactly once and fast. It owns grouping consecutive transactions,
// merging the changes to one row inside a group, the dependency check that
// lets non-conflicting groups run in parallel, the SQL they run, and the
// checkpoint row committed in the same transaction as the data it covers.
//
// The decisions (what goes in a group, what one row's changes merge to, which
// group waits for which) are plain code over plain values in group.go and
// merge.go, tested without a database. applier.go and worker.go hold the
// connections and goroutines.
//
// It reads nothing from the source and knows nothing of filters or mappings:
// the pipeline hands it transactions already shaped for the target.
package apply
