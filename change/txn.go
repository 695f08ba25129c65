package change

import "time"

// Op is what a RowChange does to its row.
type Op uint8

const (
	Insert Op = iota + 1
	Update
	Delete
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Row is the values of one row image, one Value per column of its Table, in
// column order. A column the binlog did not carry (binlog_row_image=MINIMAL or
// NOBLOB) has a Value of KindAbsent.
type Row []Value

// RowChange is one row inserted, updated or deleted. Before is nil for an
// insert, After is nil for a delete.
type RowChange struct {
	Table  *Table
	Op     Op
	Before Row
	After  Row
	// Copied marks a row image read by the initial copy (an Update with
	// Before equal to After): the target most likely lacks the row, so the
	// applier tries it as a new row first, which is cheaper for the target
	// and, with the applier's fall back to an upsert, means the same.
	Copied bool
}

// Image returns the row image that identifies the row on the target: After
// for an insert, Before otherwise.
func (c *RowChange) Image() Row {
	if c.Op == Insert {
		return c.After
	}
	return c.Before
}

// DDL is a schema change statement as the source executed it.
type DDL struct {
	// Schema is the default database the statement ran in (may be empty).
	Schema    string `json:"schema,omitempty"`
	Statement string `json:"statement"`
}

// Txn is one transaction committed on the source, whole: all its row changes,
// or one DDL statement (DDL commits on its own in MySQL).
type Txn struct {
	// GTID is the transaction's own GTID ("uuid:n", "uuid:tag:n" or
	// "domain-server-seq"), empty when the source has none.
	GTID string
	// ServerID is the server_id of the server where the transaction was first
	// committed (not the one it was read from, if that is a replica).
	ServerID uint32
	// Origin names the site where the transaction was first written, when a
	// two-way sync learnt it from the mark of the pipeline that applied it
	// here; empty for a transaction written on the source itself.
	Origin string
	// Timestamp is the commit time on the originating server, with microsecond
	// precision when the source records it and second precision otherwise.
	Timestamp time.Time
	// Begin is the position of the transaction's first event; End is the
	// position right after its last event, where a reader resumes.
	Begin, End Position
	Changes    []RowChange
	DDL        *DDL
	// Size is the number of binlog bytes the transaction took.
	Size uint64
	// Fragment and More split a transaction too large to hold in memory:
	// its changes arrive in several Txn values with the same GTID and Begin,
	// Fragment counting 0, 1, 2, ... and More set on all but the last. Only
	// the last fragment's End and Timestamp are meaningful. A consumer keeps
	// the fragments of one transaction together (one target transaction).
	Fragment int
	More     bool
}

// Counts returns how many inserts, updates and deletes the transaction holds.
func (t *Txn) Counts() (ins, upd, del int) {
	for i := range t.Changes {
		switch t.Changes[i].Op {
		case Insert:
			ins++
		case Update:
			upd++
		case Delete:
			del++
		}
	}
	return
}
