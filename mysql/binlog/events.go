package binlog

import (
	"github.com/sluice-db/sluice/change"
)

// Event is one decoded binlog event: one of the *...Event types of this
// package. Every one embeds EventHeader.
type Event interface {
	Header() *EventHeader
}

// RotateEvent names the file the following events are in (a real rotate ends
// a file; the artificial one at the start of a stream names the first file).
type RotateEvent struct {
	EventHeader
	Position uint64
	NextFile string
}

// QueryEvent is a statement: BEGIN, COMMIT, DDL, or statement-based DML.
type QueryEvent struct {
	EventHeader
	ThreadID  uint32
	ExecTime  uint32
	ErrorCode uint16
	Schema    string // the default database
	Query     string
	// Status variables that matter to a reader; zero when absent.
	Flags2          uint32
	SQLMode         uint64
	HasSQLMode      bool
	ClientCharset   uint16 // character_set_client collation id
	ConnCollation   uint16 // collation_connection
	ServerCollation uint16 // collation_server
	TimeZone        string
	Microseconds    uint32 // MariaDB Q_HRNOW: fraction of Timestamp
	DDLXID          uint64 // MySQL Q_DDL_LOGGED_WITH_XID / MariaDB Q_XID
	Compressed      bool   // MariaDB QUERY_COMPRESSED
}

// XIDEvent commits a transaction of a transactional engine.
type XIDEvent struct {
	EventHeader
	XID uint64
}

// GTIDEvent is a MySQL GTID, ANONYMOUS_GTID or GTID_TAGGED event: it opens a
// transaction.
type GTIDEvent struct {
	EventHeader
	Anonymous      bool
	Flags          uint8 // 1 = may contain statement-based changes
	SID            [16]byte
	Tag            string // MySQL 8.3+ tagged GTIDs; empty when untagged
	GNO            int64
	LastCommitted  int64
	SequenceNumber int64
	// Commit timestamps in microseconds since the epoch; 0 when the server
	// did not write them (before 8.0.1). Original is the source that first
	// committed the transaction; Immediate is the server this binlog is from.
	ImmediateCommitTimestamp uint64
	OriginalCommitTimestamp  uint64
	TransactionLength        uint64
	ImmediateServerVersion   uint32
	OriginalServerVersion    uint32
	CommitGroupTicket        uint64
}

// GTID returns "uuid:gno" or "uuid:tag:gno"; "" for an anonymous GTID.
func (e *GTIDEvent) GTID() string {
	if e.Anonymous {
		return ""
	}
	s := FormatUUID(e.SID)
	if e.Tag != "" {
		s += ":" + e.Tag
	}
	return s + ":" + itoa(e.GNO)
}

// GTIDInterval is a range of transaction numbers [Start, End] (inclusive).
type GTIDInterval struct{ Start, End int64 }

// SIDIntervals is the part of a MySQL GTID set for one source id and tag.
type SIDIntervals struct {
	SID       [16]byte
	Tag       string
	Intervals []GTIDInterval
}

// PreviousGTIDsEvent is the MySQL GTID set executed before this file.
type PreviousGTIDsEvent struct {
	EventHeader
	Sets []SIDIntervals
}

// GTIDSet formats the set as MySQL prints it: "uuid:1-5:7,uuid2:tag:1-3".
func (e *PreviousGTIDsEvent) GTIDSet() string { return formatGTIDSet(e.Sets) }

// MariaGTIDEvent opens a MariaDB transaction (or a standalone statement).
type MariaGTIDEvent struct {
	EventHeader
	Domain   uint32
	Sequence uint64
	Flags    uint8
	CommitID uint64 // group commit id, when FlagGroupCommitID is set
	// XA: the XID of an XA PREPARE or XA COMMIT/ROLLBACK transaction.
	XAFormatID   uint32
	XAGTRID      []byte
	XABQUAL      []byte
	FlagsExtra   uint8
	ExtraEngines uint8
	// StartAlterSeq is the sequence of the START ALTER this event commits or
	// rolls back (MariaDB 10.8+ two-phase ALTER).
	StartAlterSeq uint64
}

// MariaDB GTID flags.
const (
	MariaFlagStandalone    uint8 = 1
	MariaFlagGroupCommitID uint8 = 2
	MariaFlagTransactional uint8 = 4
	MariaFlagAllowParallel uint8 = 8
	MariaFlagWaited        uint8 = 16
	MariaFlagDDL           uint8 = 32
	MariaFlagPreparedXA    uint8 = 64
	MariaFlagCompletedXA   uint8 = 128
)

// GTID returns "domain-server-sequence"; ServerID is from the header.
func (e *MariaGTIDEvent) GTID() string {
	return utoa(uint64(e.Domain)) + "-" + utoa(uint64(e.ServerID)) + "-" + utoa(e.Sequence)
}

// Standalone reports a transaction with no BEGIN/COMMIT (DDL, or a
// non-transactional statement): it ends with its single QUERY event.
func (e *MariaGTIDEvent) Standalone() bool { return e.Flags&MariaFlagStandalone != 0 }

// DDL reports whether the transaction is a DDL statement.
func (e *MariaGTIDEvent) DDL() bool { return e.Flags&MariaFlagDDL != 0 }

// MariaGTID is one position of a MariaDB GTID list.
type MariaGTID struct {
	Domain   uint32
	ServerID uint32
	Sequence uint64
}

func (g MariaGTID) String() string {
	return utoa(uint64(g.Domain)) + "-" + utoa(uint64(g.ServerID)) + "-" + utoa(g.Sequence)
}

// MariaGTIDListEvent is the MariaDB GTID state at the start of a file.
type MariaGTIDListEvent struct {
	EventHeader
	Flags uint8
	GTIDs []MariaGTID
}

// GTIDList formats the list as "0-1-42,1-2-7".
func (e *MariaGTIDListEvent) GTIDList() string {
	s := ""
	for i, g := range e.GTIDs {
		if i > 0 {
			s += ","
		}
		s += g.String()
	}
	return s
}

// BinlogCheckpointEvent (MariaDB) names the oldest file crash recovery needs.
type BinlogCheckpointEvent struct {
	EventHeader
	File string
}

// AnnotateRowsEvent (MariaDB, binlog_annotate_row_events, on by default) is
// the statement that produced the following rows events. MariaDB writes one
// per statement, so Query points into the event buffer rather than being
// copied.
type AnnotateRowsEvent struct {
	EventHeader
	Query []byte
}

// RowsQueryEvent (MySQL, binlog_rows_query_log_events) is the statement that
// produced the following rows events. Query points into the event buffer.
type RowsQueryEvent struct {
	EventHeader
	Query []byte
}

// TableMapEvent maps a table id to a table before the rows events that write
// it. Map and Table are shared with other events of the same table id and
// must not be modified.
type TableMapEvent struct {
	EventHeader
	Map *TableMap
}

// RowsEvent is a WRITE, UPDATE, DELETE or PARTIAL_UPDATE rows event, decoded
// into row changes with the table definition the resolver gave.
type RowsEvent struct {
	EventHeader
	TableID uint64
	Flags   uint16
	Op      change.Op
	Map     *TableMap
	Table   *change.Table
	// Changes holds one change per row. Their Values point into the event
	// buffer or the decoder's arena; see the package doc.
	Changes []change.RowChange
	// Extra is the v2 extra data (NDB info or the partition id), raw.
	Extra []byte
	// Skipped is set when DecoderOptions.SkipTable said to skip this table:
	// the rows were not decoded and Changes is empty.
	Skipped bool
	// JSONDiffs holds the partial JSON updates (PARTIAL_UPDATE_ROWS) that
	// could not be applied because the before image did not carry the
	// column (binlog_row_image=MINIMAL). The column's After value is then
	// KindAbsent and a consumer must apply these diffs to the row it has.
	JSONDiffs []RowJSONDiffs
}

// StmtEnd reports whether this is the last rows event of its statement.
func (e *RowsEvent) StmtEnd() bool { return e.Flags&RowsFlagStmtEnd != 0 }

// RowJSONDiffs are the unapplied JSON diffs of one column of one row change.
type RowJSONDiffs struct {
	Change int // index into RowsEvent.Changes
	Column int
	Diffs  []JSONDiff
}

// TransactionPayloadEvent is a MySQL 8 compressed transaction
// (binlog_transaction_compression). Events are its inner events, decoded.
type TransactionPayloadEvent struct {
	EventHeader
	CompressionType  uint64 // 0 zstd, 255 none
	PayloadSize      uint64
	UncompressedSize uint64
	Events           []Event
}

// HeartbeatEvent is sent by the server on an idle stream. Version 2
// (MySQL 8.0.26+) carries the position as well as the file.
type HeartbeatEvent struct {
	EventHeader
	Version  int
	File     string
	Position uint64
}

// XAPrepareEvent ends the first phase of an XA transaction (MySQL).
type XAPrepareEvent struct {
	EventHeader
	OnePhase bool
	FormatID uint32
	GTRID    []byte
	BQUAL    []byte
}

// IntVarEvent sets LAST_INSERT_ID or INSERT_ID for the next statement.
type IntVarEvent struct {
	EventHeader
	VarType uint8 // 1 LAST_INSERT_ID, 2 INSERT_ID
	Value   uint64
}

// RandEvent seeds RAND() for the next statement.
type RandEvent struct {
	EventHeader
	Seed1, Seed2 uint64
}

// UserVarEvent sets a user variable for the next statement.
type UserVarEvent struct {
	EventHeader
	Name      string
	IsNull    bool
	ValueType uint8
	Collation uint32
	Value     []byte
	Flags     uint8
}

// StopEvent is written when the server shuts down.
type StopEvent struct {
	EventHeader
}

// IncidentEvent says the source lost events (e.g. a statement that could not
// be written). A consumer must not carry on as if nothing happened: the data
// after it may not match the source.
type IncidentEvent struct {
	EventHeader
	Incident uint16
	Message  string
}

// OtherEvent is an event the decoder knows but does not decode (legacy LOAD
// DATA events, group replication's VIEW_CHANGE, IGNORABLE), or an unknown
// event marked ignorable. Body excludes the header and checksum.
type OtherEvent struct {
	EventHeader
	Body []byte
}
