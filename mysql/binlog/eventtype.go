package binlog

import "strconv"

// EventType is the type code in an event's common header.
type EventType uint8

// Event type codes of MySQL (1..42) and MariaDB (160..171).
const (
	UnknownEventType        EventType = 0
	StartV3Event            EventType = 1
	QueryEventType          EventType = 2
	StopEventType           EventType = 3
	RotateEventType         EventType = 4
	IntVarEventType         EventType = 5
	LoadEventType           EventType = 6
	SlaveEventType          EventType = 7
	CreateFileEventType     EventType = 8
	AppendBlockEventType    EventType = 9
	ExecLoadEventType       EventType = 10
	DeleteFileEventType     EventType = 11
	NewLoadEventType        EventType = 12
	RandEventType           EventType = 13
	UserVarEventType        EventType = 14
	FormatDescriptionType   EventType = 15
	XIDEventType            EventType = 16
	BeginLoadQueryEventType EventType = 17
	ExecuteLoadQueryType    EventType = 18
	TableMapEventType       EventType = 19
	WriteRowsV0             EventType = 20
	UpdateRowsV0            EventType = 21
	DeleteRowsV0            EventType = 22
	WriteRowsV1             EventType = 23
	UpdateRowsV1            EventType = 24
	DeleteRowsV1            EventType = 25
	IncidentEventType       EventType = 26
	HeartbeatEventType      EventType = 27
	IgnorableEventType      EventType = 28
	RowsQueryEventType      EventType = 29
	WriteRowsV2             EventType = 30
	UpdateRowsV2            EventType = 31
	DeleteRowsV2            EventType = 32
	GTIDEventType           EventType = 33
	AnonymousGTIDEventType  EventType = 34
	PreviousGTIDsEventType  EventType = 35
	TransactionContextType  EventType = 36
	ViewChangeEventType     EventType = 37
	XAPrepareEventType      EventType = 38
	PartialUpdateRows       EventType = 39
	TransactionPayloadType  EventType = 40
	HeartbeatV2EventType    EventType = 41
	GTIDTaggedEventType     EventType = 42

	MariaAnnotateRowsType       EventType = 160
	MariaBinlogCheckpointType   EventType = 161
	MariaGTIDEventType          EventType = 162
	MariaGTIDListEventType      EventType = 163
	MariaStartEncryptionType    EventType = 164
	MariaQueryCompressedType    EventType = 165
	MariaWriteRowsCompressedV1  EventType = 166
	MariaUpdateRowsCompressedV1 EventType = 167
	MariaDeleteRowsCompressedV1 EventType = 168
	MariaWriteRowsCompressed    EventType = 169
	MariaUpdateRowsCompressed   EventType = 170
	MariaDeleteRowsCompressed   EventType = 171
)

var eventTypeNames = map[EventType]string{
	UnknownEventType: "unknown", StartV3Event: "start_v3", QueryEventType: "query",
	StopEventType: "stop", RotateEventType: "rotate", IntVarEventType: "intvar",
	LoadEventType: "load", SlaveEventType: "slave", CreateFileEventType: "create_file",
	AppendBlockEventType: "append_block", ExecLoadEventType: "exec_load",
	DeleteFileEventType: "delete_file", NewLoadEventType: "new_load", RandEventType: "rand",
	UserVarEventType: "user_var", FormatDescriptionType: "format_description",
	XIDEventType: "xid", BeginLoadQueryEventType: "begin_load_query",
	ExecuteLoadQueryType: "execute_load_query", TableMapEventType: "table_map",
	WriteRowsV0: "write_rows_v0", UpdateRowsV0: "update_rows_v0", DeleteRowsV0: "delete_rows_v0",
	WriteRowsV1: "write_rows_v1", UpdateRowsV1: "update_rows_v1", DeleteRowsV1: "delete_rows_v1",
	IncidentEventType: "incident", HeartbeatEventType: "heartbeat", IgnorableEventType: "ignorable",
	RowsQueryEventType: "rows_query", WriteRowsV2: "write_rows_v2", UpdateRowsV2: "update_rows_v2",
	DeleteRowsV2: "delete_rows_v2", GTIDEventType: "gtid", AnonymousGTIDEventType: "anonymous_gtid",
	PreviousGTIDsEventType: "previous_gtids", TransactionContextType: "transaction_context",
	ViewChangeEventType: "view_change", XAPrepareEventType: "xa_prepare",
	PartialUpdateRows: "partial_update_rows", TransactionPayloadType: "transaction_payload",
	HeartbeatV2EventType: "heartbeat_v2", GTIDTaggedEventType: "gtid_tagged",
	MariaAnnotateRowsType: "annotate_rows", MariaBinlogCheckpointType: "binlog_checkpoint",
	MariaGTIDEventType: "mariadb_gtid", MariaGTIDListEventType: "mariadb_gtid_list",
	MariaStartEncryptionType: "start_encryption", MariaQueryCompressedType: "query_compressed",
	MariaWriteRowsCompressedV1: "write_rows_compressed_v1", MariaUpdateRowsCompressedV1: "update_rows_compressed_v1",
	MariaDeleteRowsCompressedV1: "delete_rows_compressed_v1", MariaWriteRowsCompressed: "write_rows_compressed",
	MariaUpdateRowsCompressed: "update_rows_compressed", MariaDeleteRowsCompressed: "delete_rows_compressed",
}

func (t EventType) String() string {
	if n, ok := eventTypeNames[t]; ok {
		return n
	}
	return "event_type_" + strconv.Itoa(int(t))
}

// IsRows reports whether t is a rows event (write, update or delete, any
// version, compressed or not, or a partial update).
func (t EventType) IsRows() bool {
	switch t {
	case WriteRowsV0, UpdateRowsV0, DeleteRowsV0, WriteRowsV1, UpdateRowsV1, DeleteRowsV1,
		WriteRowsV2, UpdateRowsV2, DeleteRowsV2, PartialUpdateRows,
		MariaWriteRowsCompressedV1, MariaUpdateRowsCompressedV1, MariaDeleteRowsCompressedV1,
		MariaWriteRowsCompressed, MariaUpdateRowsCompressed, MariaDeleteRowsCompressed:
		return true
	}
	return false
}

// Event header flags (LOG_EVENT_*_F).
const (
	// FlagBinlogInUse is set in a file's FORMAT_DESCRIPTION while the server
	// writes the file and cleared in place when it closes it, without
	// recomputing the checksum. Checksums are computed with it cleared.
	FlagBinlogInUse uint16 = 0x1
	// FlagIgnorable marks an event a reader that does not know its type may
	// skip.
	FlagIgnorable uint16 = 0x80
	// FlagArtificial marks events a server generates for a replica that are
	// not in the file (the fake ROTATE at the start of a stream).
	FlagArtificial uint16 = 0x20
)

// Rows event flags.
const (
	RowsFlagStmtEnd uint16 = 0x1
)

// MySQL column type codes (enum_field_types) as TABLE_MAP events carry them.
const (
	TypeDecimal                byte = 0
	TypeTiny                   byte = 1
	TypeShort                  byte = 2
	TypeLong                   byte = 3
	TypeFloat                  byte = 4
	TypeDouble                 byte = 5
	TypeNull                   byte = 6
	TypeTimestamp              byte = 7
	TypeLongLong               byte = 8
	TypeInt24                  byte = 9
	TypeDate                   byte = 10
	TypeTime                   byte = 11
	TypeDateTime               byte = 12
	TypeYear                   byte = 13
	TypeNewDate                byte = 14
	TypeVarChar                byte = 15
	TypeBit                    byte = 16
	TypeTimestamp2             byte = 17
	TypeDateTime2              byte = 18
	TypeTime2                  byte = 19
	TypeTypedArray             byte = 20
	TypeBlobCompressedMaria    byte = 140
	TypeVarCharCompressedMaria byte = 141
	TypeVector                 byte = 242
	TypeInvalid                byte = 243
	TypeBool                   byte = 244
	TypeJSON                   byte = 245
	TypeNewDecimal             byte = 246
	TypeEnum                   byte = 247
	TypeSet                    byte = 248
	TypeTinyBlob               byte = 249
	TypeMediumBlob             byte = 250
	TypeLongBlob               byte = 251
	TypeBlob                   byte = 252
	TypeVarString              byte = 253
	TypeString                 byte = 254
	TypeGeometry               byte = 255
)
