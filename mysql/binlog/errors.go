package binlog

import (
	"errors"
	"strconv"
	"strings"
)

// Error is what the Reader and the Decoder return when an event cannot be
// read or decoded. It says where: the binlog file and offset, the event type
// and, for rows events, the table.
type Error struct {
	File   string
	Offset uint64
	Type   EventType
	Table  string // schema.table, for rows events
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Type != 0 || e.Table != "" {
		b.WriteString("decode ")
		b.WriteString(e.Type.String())
		b.WriteString(" event at ")
	} else {
		b.WriteString("read binlog at ")
	}
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("(stream)")
	}
	b.WriteByte(':')
	b.WriteString(strconv.FormatUint(e.Offset, 10))
	if e.Table != "" {
		b.WriteString(" (table ")
		b.WriteString(e.Table)
		b.WriteByte(')')
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrEncrypted is returned for MariaDB START_ENCRYPTION: the events after it
// are encrypted and cannot be read without the server's keys.
var ErrEncrypted = errors.New("encrypted binlogs are not supported")

// ErrChecksum is wrapped by errors for events whose CRC32 does not match.
var ErrChecksum = errors.New("binlog event checksum mismatch")

// ErrUnknownEvent is wrapped by errors for event types the decoder does not
// know and that are not marked ignorable.
var ErrUnknownEvent = errors.New("unknown binlog event type")

// ErrPayloadTooLarge is wrapped when a compressed event would decompress to
// more than DecoderOptions.MaxPayloadSize.
var ErrPayloadTooLarge = errors.New("decompressed event exceeds the memory bound")
