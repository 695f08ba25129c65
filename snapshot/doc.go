// Package snapshot owns the initial copy of a pipeline: it plans the source
// tables into key-ordered chunks, reads them in parallel without locks,
// merges them into the change stream with DBLog-style windows (rows changed
// while a chunk's window is open are left to the stream), records progress
// in the target so a killed copy resumes, and creates missing target tables.
// It does not apply anything itself: chunks leave it as change.Txn values
// for the pipeline's applier.
package snapshot
