package apply

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"

	"github.com/sluice-db/sluice/change"
)

// Error is a failure to apply source changes to the target. It says where:
// the pipeline, the source position of the transaction, and when known the
// table and the key of the row.
type Error struct {
	Pipeline string
	// Position is the source position of the failing transaction (its end),
	// or of the group when the transaction could not be singled out.
	Position change.Position
	// GTID is the failing transaction's GTID, when the source has GTIDs.
	GTID  string
	Table string // schema.table on the target
	Key   string // "id=5" or "(a,b)=(1,2)"
	// Transient errors (lost connection, deadlock, lock wait timeout) are
	// retried with backoff; the others pause the pipeline.
	Transient bool
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline %q: apply", e.Pipeline)
	if !e.Position.IsZero() {
		fmt.Fprintf(&b, " at %s", e.Position)
	}
	if e.GTID != "" {
		fmt.Fprintf(&b, " (txn %s)", e.GTID)
	}
	if e.Table != "" {
		fmt.Fprintf(&b, ", table %s", e.Table)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ", key %s", e.Key)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrFenced means another owner of the pipeline has claimed its checkpoint:
// this one must stop writing.
var ErrFenced = errors.New("checkpoint claimed by a newer owner (epoch changed); stopping")

// transientCodes are server errors worth retrying: the statement may succeed
// when run again.
var transientCodes = map[uint16]bool{
	1040: true,                                     // too many connections
	1053: true,                                     // server shutdown in progress
	1205: true,                                     // lock wait timeout
	1213: true,                                     // deadlock
	1317: true,                                     // query interrupted
	1290: true,                                     // read-only (a failover in progress)
	1792: true,                                     // read-only transaction
	1836: true,                                     // read-only mode
	1927: true,                                     // connection killed
	2006: true,                                     // server gone away
	2013: true,                                     // lost connection during query
	1158: true, 1159: true, 1160: true, 1161: true, // network read/write errors
	4031: true, // disconnected by the server for inactivity
}

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Transient
	}
	if errors.Is(err, ErrFenced) || errors.Is(err, context.Canceled) {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return transientCodes[me.Number]
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// alreadyApplied reports whether a DDL error means the statement's effect is
// already there, as after a crash between running a DDL and recording it.
func alreadyApplied(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1007, // database exists
		1008, // database does not exist (drop)
		1050, // table exists
		1051, // unknown table (drop)
		1060, // duplicate column
		1061, // duplicate key name
		1091, // can't drop; check that column/key exists
		1146, // table does not exist
		1826, // duplicate foreign key constraint
		1054: // unknown column (drop/rename of a column already gone)
		return true
	}
	return false
}

// isDuplicate reports a duplicate key error (1062).
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}
