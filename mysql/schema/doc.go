// Package schema owns the schema history: the definition of every table of
// one source at every binlog position. It applies the DDL of QUERY events
// (parsed with the TiDB parser), answers the decoder's TABLE_MAP lookups
// (History.ResolveTable), persists its versions in a Store (a SQLite file or
// a MySQL table) and bootstraps from a live server.
//
// It reads no binlog and decodes no rows; mysql/binlog and mysql/capture do.
package schema
