// Package capture reads a MySQL or MariaDB binlog as a replica and turns it
// into whole transactions (change.Txn) in binlog order. It owns the
// replication connection, start positions, reconnects and transaction
// assembly; event parsing belongs to mysql/binlog, table definitions to
// mysql/schema.
package capture
