package binlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of the common header of a v4 binlog event.
const HeaderSize = 19

// ChecksumSize is the size of the CRC32 trailer of a checksummed event.
const ChecksumSize = 4

// Magic is the four bytes every binlog file starts with.
var Magic = [4]byte{0xfe, 'b', 'i', 'n'}

// EventHeader is the common header every event starts with, plus the offset
// the event was read at.
type EventHeader struct {
	Timestamp uint32 // seconds since the epoch, when the statement started
	Type      EventType
	ServerID  uint32
	EventSize uint32 // header + body + checksum
	// LogPos is the position of the next event in the source's file (0 for
	// artificial events and, on some servers, for events inside a
	// TRANSACTION_PAYLOAD).
	LogPos uint32
	Flags  uint16
	// Offset is where the event starts, as the caller of Decode said: the
	// file offset for a binlog file, LogPos-EventSize for a stream. Events
	// inside a TRANSACTION_PAYLOAD carry the payload event's offset.
	Offset uint64
}

// Header returns h; every event type embeds EventHeader, so this is how code
// that holds an Event reaches the common fields.
func (h *EventHeader) Header() *EventHeader { return h }

// ParseHeader decodes the common header at the start of raw.
func ParseHeader(raw []byte) (EventHeader, error) {
	if len(raw) < HeaderSize {
		return EventHeader{}, fmt.Errorf("event header needs %d bytes, have %d: %w", HeaderSize, len(raw), errShort)
	}
	return EventHeader{
		Timestamp: binary.LittleEndian.Uint32(raw[0:]),
		Type:      EventType(raw[4]),
		ServerID:  binary.LittleEndian.Uint32(raw[5:]),
		EventSize: binary.LittleEndian.Uint32(raw[9:]),
		LogPos:    binary.LittleEndian.Uint32(raw[13:]),
		Flags:     binary.LittleEndian.Uint16(raw[17:]),
	}, nil
}

// EventSize returns the size field of the event header at the start of b, for
// readers that frame events from a byte stream.
func EventSize(b []byte) (uint32, bool) {
	if len(b) < HeaderSize {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[9:]), true
}

// ChecksumAlg is the binlog_checksum algorithm a FORMAT_DESCRIPTION names.
type ChecksumAlg uint8

const (
	ChecksumOff   ChecksumAlg = 0
	ChecksumCRC32 ChecksumAlg = 1
	// ChecksumUndef is what servers that predate checksums (and the decoder
	// before any FORMAT_DESCRIPTION) have.
	ChecksumUndef ChecksumAlg = 255
)

func (a ChecksumAlg) String() string {
	switch a {
	case ChecksumOff:
		return "none"
	case ChecksumCRC32:
		return "crc32"
	case ChecksumUndef:
		return "undefined"
	}
	return fmt.Sprintf("checksum(%d)", uint8(a))
}

// verifyCRC32 checks the CRC32 trailer of raw. The FORMAT_DESCRIPTION's
// checksum is computed with FlagBinlogInUse cleared, because the server
// clears that flag in place when it closes the file.
func verifyCRC32(raw []byte) error {
	n := len(raw) - ChecksumSize
	if n < HeaderSize {
		return fmt.Errorf("event of %d bytes is too short for a checksum: %w", len(raw), errShort)
	}
	want := binary.LittleEndian.Uint32(raw[n:])
	var got uint32
	if EventType(raw[4]) == FormatDescriptionType && raw[17]&byte(FlagBinlogInUse) != 0 {
		var hdr [HeaderSize]byte
		copy(hdr[:], raw[:HeaderSize])
		hdr[17] &^= byte(FlagBinlogInUse)
		got = crc32.Update(crc32.ChecksumIEEE(hdr[:]), crc32.IEEETable, raw[HeaderSize:n])
	} else {
		got = crc32.ChecksumIEEE(raw[:n])
	}
	if got != want {
		return fmt.Errorf("checksum mismatch: event says %08x, computed %08x", want, got)
	}
	return nil
}

// hasValidCRC32 reports whether raw ends in a CRC32 of the rest, for events
// that arrive before any FORMAT_DESCRIPTION says whether there is one.
func hasValidCRC32(raw []byte) bool {
	return len(raw) >= HeaderSize+ChecksumSize && verifyCRC32(raw) == nil
}

// StreamOffset returns where an event read from a replication stream starts
// in its source file: LogPos (the next event's position) minus EventSize. It
// returns 0 for artificial events (LogPos 0) and events too short to say.
// Pass it to Decoder.Decode as the offset.
func StreamOffset(raw []byte) uint64 {
	h, err := ParseHeader(raw)
	if err != nil || h.LogPos < h.EventSize {
		return 0
	}
	return uint64(h.LogPos - h.EventSize)
}
