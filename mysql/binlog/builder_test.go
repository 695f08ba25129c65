package binlog

import (
	"encoding/binary"
	"hash/crc32"
)

// An event builder for tests and benchmarks that need events no server at
// hand writes (MySQL-only event types, corrupt events) or many events fast.
// It writes events as MySQL 8 does: v4 headers, 6-byte table ids, CRC32.

type eventBuilder struct {
	serverID uint32
	pos      uint32
	checksum bool
	flavor   string // "mysql" or "mariadb" in the FORMAT_DESCRIPTION
}

func newEventBuilder() *eventBuilder {
	return &eventBuilder{serverID: 1, pos: 4, checksum: true, flavor: "mysql"}
}

// event frames body as an event of type t.
func (b *eventBuilder) event(t EventType, body []byte) []byte {
	size := HeaderSize + len(body)
	if b.checksum {
		size += ChecksumSize
	}
	ev := make([]byte, HeaderSize, size)
	binary.LittleEndian.PutUint32(ev[0:], 1700000000)
	ev[4] = byte(t)
	binary.LittleEndian.PutUint32(ev[5:], b.serverID)
	binary.LittleEndian.PutUint32(ev[9:], uint32(size))
	b.pos += uint32(size)
	binary.LittleEndian.PutUint32(ev[13:], b.pos)
	ev = append(ev, body...)
	if b.checksum {
		ev = binary.LittleEndian.AppendUint32(ev, crc32.ChecksumIEEE(ev))
	}
	return ev
}

func (b *eventBuilder) formatDescription() []byte {
	var body []byte
	body = binary.LittleEndian.AppendUint16(body, 4)
	ver := make([]byte, 50)
	if b.flavor == "mariadb" {
		copy(ver, "10.11.19-MariaDB-log")
	} else {
		copy(ver, "8.0.40")
	}
	body = append(body, ver...)
	body = binary.LittleEndian.AppendUint32(body, 0)
	body = append(body, HeaderSize)
	ph := defaultPostHeaderLengths()
	body = append(body, ph[1:43]...)
	alg := byte(ChecksumOff)
	if b.checksum {
		alg = byte(ChecksumCRC32)
	}
	body = append(body, alg)
	// The FORMAT_DESCRIPTION always has room for a checksum; event() adds
	// the real one when checksums are on, so drop this placeholder then.
	if !b.checksum {
		body = append(body, 0, 0, 0, 0)
	}
	return b.event(FormatDescriptionType, body)
}

func appendPacked(b []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(b, byte(v))
	case v < 1<<16:
		return append(b, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(b, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xfe), v)
}

func appendTableID(b []byte, id uint64) []byte {
	return append(b, byte(id), byte(id>>8), byte(id>>16), byte(id>>24), byte(id>>32), byte(id>>40))
}

// tableMapSpec describes a TABLE_MAP to build.
type tableMapSpec struct {
	id       uint64
	schema   string
	table    string
	types    []byte
	meta     []byte // the raw metadata block
	nullable []bool
	optional []byte // raw optional metadata (TLV)
}

func (b *eventBuilder) tableMap(s tableMapSpec) []byte {
	var body []byte
	body = appendTableID(body, s.id)
	body = binary.LittleEndian.AppendUint16(body, 1)
	body = append(body, byte(len(s.schema)))
	body = append(body, s.schema...)
	body = append(body, 0, byte(len(s.table)))
	body = append(body, s.table...)
	body = append(body, 0)
	body = appendPacked(body, uint64(len(s.types)))
	body = append(body, s.types...)
	body = appendPacked(body, uint64(len(s.meta)))
	body = append(body, s.meta...)
	nb := make([]byte, (len(s.types)+7)/8)
	for i, n := range s.nullable {
		if n {
			nb[i/8] |= 1 << (i % 8)
		}
	}
	body = append(body, nb...)
	body = append(body, s.optional...)
	return b.event(TableMapEventType, body)
}

// optField appends one optional metadata field.
func optField(b []byte, typ byte, value []byte) []byte {
	b = append(b, typ)
	b = appendPacked(b, uint64(len(value)))
	return append(b, value...)
}

// rows builds a v2 rows event of type t for table id with ncols columns,
// all present, and rows already encoded (null bitmap and values per image).
func (b *eventBuilder) rows(t EventType, id uint64, ncols int, rowData []byte) []byte {
	var body []byte
	body = appendTableID(body, id)
	body = binary.LittleEndian.AppendUint16(body, RowsFlagStmtEnd)
	body = binary.LittleEndian.AppendUint16(body, 2) // no extra data
	body = appendPacked(body, uint64(ncols))
	all := make([]byte, (ncols+7)/8)
	for i := 0; i < ncols; i++ {
		all[i/8] |= 1 << (i % 8)
	}
	body = append(body, all...)
	if t == UpdateRowsV2 || t == PartialUpdateRows {
		body = append(body, all...)
	}
	body = append(body, rowData...)
	return b.event(t, body)
}

// binlogFile joins events into the bytes of a binlog file.
func binlogFile(events ...[]byte) []byte {
	f := append([]byte(nil), Magic[:]...)
	for _, e := range events {
		f = append(f, e...)
	}
	return f
}
