package binlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-db/sluice/change"
)

// DecoderOptions configure a Decoder. The zero value verifies checksums,
// decodes rows with TableFromMap and bounds decompression at 1 GiB.
type DecoderOptions struct {
	// File is the binlog file the first events come from, for positions and
	// errors. ROTATE events and SetFile change it.
	File string
	// Resolver gives the table definition rows are decoded with. nil uses
	// TableFromMap.
	Resolver TableResolver
	// SkipTable, when set, is asked once per table map whether the rows of
	// that table are wanted; rows events of skipped tables come back with
	// Skipped set and no changes, at almost no cost.
	SkipTable func(tm *TableMap) bool
	// NoChecksum turns off CRC32 verification (it is on whenever the
	// FORMAT_DESCRIPTION says the events carry a CRC32).
	NoChecksum bool
	// MaxPayloadSize bounds the decompressed size of a TRANSACTION_PAYLOAD or
	// a MariaDB compressed event; 0 means 1 GiB.
	MaxPayloadSize int64
}

// Decoder turns raw events into typed events. It keeps the state a binlog
// stream carries from one event to the next: the FORMAT_DESCRIPTION, the
// current file and the table maps. It is not safe for concurrent use; use one
// per stream.
type Decoder struct {
	opts DecoderOptions
	file string

	fde        *FormatDescriptionEvent
	postHeader [256]byte

	tables map[uint64]*tableEntry

	values   valueRun
	changes  slab[change.RowChange]
	rowsEvs  slab[RowsEvent]
	mapEvs   slab[TableMapEvent]
	xidEvs   slab[XIDEvent]
	gtidEvs  slab[GTIDEvent]
	mgtEvs   slab[MariaGTIDEvent]
	queryEvs slab[QueryEvent]
	annEvs   slab[AnnotateRowsEvent]
	rqEvs    slab[RowsQueryEvent]
	arena    arena

	// Per-event scratch, reused.
	beforeJSON [][]byte // PARTIAL_UPDATE_ROWS: binary JSON of before-image columns
	partial    partialImage
	rowStarts  []int

	zstd *zstd.Decoder
	zlib io.ReadCloser

	inPayload bool
}

// maxCachedTables bounds the table map cache: table ids grow over a
// server's life, and a cache that never forgot would grow with them.
const maxCachedTables = 4096

// NewDecoder returns a decoder for one stream.
func NewDecoder(opts DecoderOptions) *Decoder {
	if opts.MaxPayloadSize <= 0 {
		opts.MaxPayloadSize = 1 << 30
	}
	return &Decoder{
		opts:       opts,
		file:       opts.File,
		postHeader: defaultPostHeaderLengths(),
		tables:     make(map[uint64]*tableEntry),
	}
}

// SetFile says which binlog file the next events come from (for positions
// and errors), e.g. when reading several files in turn.
func (d *Decoder) SetFile(name string) { d.file = name }

// File returns the binlog file the decoder is in.
func (d *Decoder) File() string { return d.file }

// FormatDescription returns the last FORMAT_DESCRIPTION seen, or nil.
func (d *Decoder) FormatDescription() *FormatDescriptionEvent { return d.fde }

// Flavor returns the kind of server that wrote the stream, as far as the
// FORMAT_DESCRIPTION says; MySQL before one arrives.
func (d *Decoder) Flavor() change.Flavor {
	if d.fde != nil {
		return d.fde.Flavor
	}
	return change.MySQL
}

// ResetTables forgets every resolved table definition, so that the next rows
// event of each table asks the resolver again. Call it after the schema
// history applies DDL. The decoder also does it by itself on every QUERY
// event other than BEGIN/COMMIT/ROLLBACK, which is where DDL arrives.
func (d *Decoder) ResetTables() {
	for _, e := range d.tables {
		e.resetResolution()
	}
}

// ResetTable forgets the resolved definition of one table.
func (d *Decoder) ResetTable(schema, table string) {
	for _, e := range d.tables {
		if e.tm.Schema == schema && e.tm.Table == table {
			e.resetResolution()
		}
	}
}

// Decode decodes one raw event: the common header, the body and, when the
// stream has checksums, the CRC32 trailer. offset is where the event starts
// (the file offset, or LogPos-EventSize on a stream); it is used for
// positions and errors only.
//
// The returned event and the values in it point into raw, which the caller
// must therefore not reuse or modify afterwards.
func (d *Decoder) Decode(raw []byte, offset uint64) (Event, error) {
	ev, table, err := d.decode(raw, offset)
	if err != nil {
		var typ EventType
		if len(raw) > 4 {
			typ = EventType(raw[4])
		}
		return nil, &Error{File: d.file, Offset: offset, Type: typ, Table: table, Err: err}
	}
	return ev, nil
}

func (d *Decoder) decode(raw []byte, offset uint64) (Event, string, error) {
	h, err := ParseHeader(raw)
	if err != nil {
		return nil, "", err
	}
	h.Offset = offset
	if int64(h.EventSize) != int64(len(raw)) {
		return nil, "", fmt.Errorf("event header says %d bytes, event has %d", h.EventSize, len(raw))
	}
	if h.Type == FormatDescriptionType {
		if d.inPayload {
			return nil, "", errors.New("format description inside a transaction payload")
		}
		fde, err := parseFormatDescription(h, raw[HeaderSize:])
		if err != nil {
			return nil, "", err
		}
		if fde.Checksum == ChecksumCRC32 && !d.opts.NoChecksum {
			if err := verifyCRC32(raw); err != nil {
				return nil, "", fmt.Errorf("%w: %v", ErrChecksum, err)
			}
		}
		d.fde = fde
		d.postHeader = defaultPostHeaderLengths()
		for i, n := range fde.PostHeaderLengths {
			if i+1 < len(d.postHeader) {
				d.postHeader[i+1] = n
			}
		}
		return fde, "", nil
	}
	body := raw[HeaderSize:]
	switch {
	case d.inPayload:
		// Events inside a TRANSACTION_PAYLOAD carry no checksum.
	case d.fde == nil:
		// Before any FORMAT_DESCRIPTION (the artificial ROTATE a server
		// sends first) nothing says whether there is a checksum; a trailer
		// that is a valid CRC32 of the rest is one.
		if hasValidCRC32(raw) {
			body = body[:len(body)-ChecksumSize]
		}
	case d.fde.Checksum == ChecksumCRC32:
		if len(body) < ChecksumSize {
			return nil, "", fmt.Errorf("event of %d bytes has no room for its checksum: %w", len(raw), errShort)
		}
		if !d.opts.NoChecksum {
			if err := verifyCRC32(raw); err != nil {
				return nil, "", fmt.Errorf("%w: %v", ErrChecksum, err)
			}
		}
		body = body[:len(body)-ChecksumSize]
	}
	return d.decodeBody(h, body)
}

func (d *Decoder) decodeBody(h EventHeader, body []byte) (Event, string, error) {
	switch h.Type {
	case RotateEventType:
		ev, err := parseRotate(h, body, int(d.postHeader[RotateEventType]))
		if err == nil {
			d.file = ev.NextFile
		}
		return ev, "", err
	case QueryEventType, MariaQueryCompressedType:
		ev, err := d.parseQuery(h, body)
		if err == nil && !isTxnControl(ev.Query) {
			// DDL arrives in QUERY events; a table may have changed.
			d.ResetTables()
		}
		return ev, "", err
	case XIDEventType:
		if len(body) < 8 {
			return nil, "", fmt.Errorf("read xid: %w", errShort)
		}
		ev := d.xidEvs.alloc(256)
		*ev = XIDEvent{EventHeader: h, XID: leUint(body[:8])}
		return ev, "", nil
	case TableMapEventType:
		ev, err := d.decodeTableMap(h, body)
		return ev, "", err
	case GTIDEventType, AnonymousGTIDEventType:
		ev, err := parseGTID(d.gtidEvs.alloc(64), h, body)
		return ev, "", err
	case GTIDTaggedEventType:
		ev, err := parseTaggedGTID(h, body)
		return ev, "", err
	case PreviousGTIDsEventType:
		ev, err := parsePreviousGTIDs(h, body)
		return ev, "", err
	case MariaGTIDEventType:
		ev, err := parseMariaGTID(d.mgtEvs.alloc(64), h, body)
		return ev, "", err
	case MariaGTIDListEventType:
		ev, err := parseMariaGTIDList(h, body)
		return ev, "", err
	case MariaBinlogCheckpointType:
		ev, err := parseBinlogCheckpoint(h, body)
		return ev, "", err
	case MariaAnnotateRowsType:
		ev := d.annEvs.alloc(256)
		*ev = AnnotateRowsEvent{EventHeader: h, Query: body}
		return ev, "", nil
	case RowsQueryEventType:
		// One length byte (truncated at 255, so ignored) then the text.
		if len(body) < 1 {
			return nil, "", fmt.Errorf("read rows query: %w", errShort)
		}
		ev := d.rqEvs.alloc(256)
		*ev = RowsQueryEvent{EventHeader: h, Query: body[1:]}
		return ev, "", nil
	case TransactionPayloadType:
		ev, err := d.decodePayload(h, body)
		return ev, "", err
	case HeartbeatEventType:
		return &HeartbeatEvent{EventHeader: h, Version: 1, File: string(body)}, "", nil
	case HeartbeatV2EventType:
		ev, err := parseHeartbeatV2(h, body)
		return ev, "", err
	case XAPrepareEventType:
		ev, err := parseXAPrepare(h, body)
		return ev, "", err
	case IntVarEventType:
		ev, err := parseIntVar(h, body)
		return ev, "", err
	case RandEventType:
		ev, err := parseRand(h, body)
		return ev, "", err
	case UserVarEventType:
		ev, err := parseUserVar(h, body)
		return ev, "", err
	case StopEventType:
		return &StopEvent{EventHeader: h}, "", nil
	case IncidentEventType:
		ev, err := parseIncident(h, body)
		return ev, "", err
	case MariaStartEncryptionType:
		return nil, "", ErrEncrypted
	case LoadEventType, SlaveEventType, CreateFileEventType, AppendBlockEventType, ExecLoadEventType,
		DeleteFileEventType, NewLoadEventType, BeginLoadQueryEventType, ExecuteLoadQueryType,
		IgnorableEventType, TransactionContextType, ViewChangeEventType:
		return &OtherEvent{EventHeader: h, Body: body}, "", nil
	}
	if h.Type.IsRows() {
		return d.decodeRows(h, body)
	}
	if h.Flags&FlagIgnorable != 0 {
		return &OtherEvent{EventHeader: h, Body: body}, "", nil
	}
	return nil, "", fmt.Errorf("%w %d (not marked ignorable)", ErrUnknownEvent, uint8(h.Type))
}

// isTxnControl reports the QUERY statements that are not DDL and cannot
// change a table: BEGIN, COMMIT, ROLLBACK and XA statements.
func isTxnControl(q string) bool {
	switch q {
	case "BEGIN", "COMMIT", "ROLLBACK":
		return true
	}
	if len(q) >= 3 && (q[0] == 'X' || q[0] == 'x') && (q[1] == 'A' || q[1] == 'a') && q[2] == ' ' {
		return true
	}
	return false
}

// decodePayload decompresses a TRANSACTION_PAYLOAD and decodes the events in
// it with this decoder (they share its table maps).
func (d *Decoder) decodePayload(h EventHeader, body []byte) (*TransactionPayloadEvent, error) {
	if d.inPayload {
		return nil, errors.New("transaction payload inside a transaction payload")
	}
	ev := &TransactionPayloadEvent{EventHeader: h}
	r := reader{b: body}
	for {
		typ := r.packed("payload field type")
		if r.err != nil {
			return nil, r.err
		}
		if typ == 0 { // end of the header fields
			break
		}
		f := reader{b: r.packedBytes("payload field")}
		if r.err != nil {
			return nil, r.err
		}
		switch typ {
		case 1:
			ev.PayloadSize = f.packed("payload size")
		case 2:
			ev.CompressionType = f.packed("compression type")
		case 3:
			ev.UncompressedSize = f.packed("uncompressed size")
		}
		if f.err != nil {
			return nil, f.err
		}
	}
	payload := r.rest()
	if ev.PayloadSize != 0 && ev.PayloadSize != uint64(len(payload)) {
		return nil, fmt.Errorf("payload size field says %d bytes, event has %d", ev.PayloadSize, len(payload))
	}
	var data []byte
	switch ev.CompressionType {
	case 0:
		var err error
		if data, err = d.decompressZstd(payload, ev.UncompressedSize); err != nil {
			return nil, err
		}
	case 255:
		data = payload
	default:
		return nil, fmt.Errorf("transaction payload compression type %d is not supported", ev.CompressionType)
	}
	d.inPayload = true
	defer func() { d.inPayload = false }()
	for off := 0; off < len(data); {
		size, ok := EventSize(data[off:])
		if !ok || size < HeaderSize || uint64(size) > uint64(len(data)-off) {
			return nil, fmt.Errorf("inner event at payload offset %d: size %d does not fit the %d bytes left: %w", off, size, len(data)-off, errShort)
		}
		inner, table, err := d.decode(data[off:off+int(size)], h.Offset)
		if err != nil {
			if table != "" {
				return nil, fmt.Errorf("inner event at payload offset %d (table %s): %w", off, table, err)
			}
			return nil, fmt.Errorf("inner event at payload offset %d: %w", off, err)
		}
		ev.Events = append(ev.Events, inner)
		off += int(size)
	}
	return ev, nil
}

// tableEntry is what the decoder knows of one table id: the TABLE_MAP (and
// its raw bytes, to recognise the identical map each statement repeats) and,
// once a rows event needed it, the resolved definition and decode plan.
type tableEntry struct {
	raw  []byte
	tm   *TableMap
	name string

	resolved bool
	skip     bool
	table    *change.Table
	plan     []colPlan
	jsonCols int
}

func (e *tableEntry) resetResolution() {
	e.resolved, e.skip, e.table, e.plan = false, false, nil, nil
}

// decodeTableMap parses a TABLE_MAP, or reuses the cached map when the event
// is byte for byte the one seen last for this table id.
func (d *Decoder) decodeTableMap(h EventHeader, body []byte) (*TableMapEvent, error) {
	idSize := 6
	if d.postHeader[TableMapEventType] == 6 {
		idSize = 4
	}
	if len(body) < idSize {
		return nil, fmt.Errorf("read table id: %w", errShort)
	}
	id := leUint(body[:idSize])
	e := d.tables[id]
	if e == nil || !bytes.Equal(e.raw, body) {
		tm, err := parseTableMap(body, idSize, d.Flavor())
		if err != nil {
			return nil, err
		}
		if len(d.tables) >= maxCachedTables {
			clear(d.tables)
		}
		e = &tableEntry{raw: append([]byte(nil), body...), tm: tm, name: tm.QualifiedName()}
		d.tables[id] = e
	}
	ev := d.mapEvs.alloc(256)
	*ev = TableMapEvent{EventHeader: h, Map: e.tm}
	return ev, nil
}

// resolve gives the entry its table definition and decode plan.
func (d *Decoder) resolve(e *tableEntry, pos uint64) error {
	if d.opts.SkipTable != nil && d.opts.SkipTable(e.tm) {
		e.resolved, e.skip = true, true
		return nil
	}
	var t *change.Table
	if d.opts.Resolver != nil {
		var err error
		t, err = d.opts.Resolver.ResolveTable(e.tm, change.Position{File: d.file, Offset: pos})
		if err != nil {
			return fmt.Errorf("resolve table: %w", err)
		}
		if t == nil {
			return errors.New("resolve table: the resolver returned no table")
		}
	} else {
		t = TableFromMap(e.tm)
	}
	plan, jsonCols, err := buildPlan(e.tm, t)
	if err != nil {
		return err
	}
	e.table, e.plan, e.jsonCols, e.resolved = t, plan, jsonCols, true
	return nil
}
