// Package mysql is the parent of the packages that speak MySQL and MariaDB:
// binlog (event parsing and row decoding), schema (the schema history that
// gives each binlog position its table definitions) and capture (reading the
// binlog as a replica and assembling whole transactions).
package mysql
