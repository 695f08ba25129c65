// Package check owns the consistency check and its repair: it compares a
// source and a target table by table in key-range chunks, with checksums
// computed inside each server, narrows mismatching chunks down to rows,
// re-checks them against the replication position so that rows in flight are
// not reported, and writes or applies repair SQL. It never writes the source.
package check
