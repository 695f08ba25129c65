// Package change owns the model that flows through sluice: a source's binlog
// Position, a committed Txn, the RowChanges inside it, the typed Values of a
// row, and the Table definition they belong to.
//
// It imports no driver and does no I/O. The adapters around it (mysql/ reads
// the binlog, apply/ writes a target) translate between this model and the
// outside world.
package change
