package binlog

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-db/sluice/change"
)

// FormatDescriptionEvent starts every binlog file (and every stream). It says
// which server wrote the file, the length of each event type's fixed
// post-header, and whether events carry a CRC32.
type FormatDescriptionEvent struct {
	EventHeader
	BinlogVersion   uint16
	ServerVersion   string
	CreateTimestamp uint32
	HeaderLength    uint8
	// PostHeaderLengths[t-1] is the post-header length of event type t.
	PostHeaderLengths []byte
	Checksum          ChecksumAlg
	Flavor            change.Flavor
}

// serverVersion splits "10.5.15-MariaDB-log" into its numbers.
func serverVersion(s string) (major, minor, patch int) {
	parts := strings.SplitN(s, ".", 3)
	num := func(p string) int {
		i := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		n, _ := strconv.Atoi(p[:i])
		return n
	}
	if len(parts) > 0 {
		major = num(parts[0])
	}
	if len(parts) > 1 {
		minor = num(parts[1])
	}
	if len(parts) > 2 {
		patch = num(parts[2])
	}
	return
}

// parseFormatDescription decodes a FORMAT_DESCRIPTION. body is everything
// after the common header, including the checksum trailer if any: whether
// there is one is what this event says.
func parseFormatDescription(h EventHeader, body []byte) (*FormatDescriptionEvent, error) {
	r := reader{b: body}
	ev := &FormatDescriptionEvent{EventHeader: h}
	ev.BinlogVersion = r.u16("binlog version")
	sv := r.bytes(50, "server version")
	ev.CreateTimestamp = r.u32("create timestamp")
	ev.HeaderLength = r.u8("header length")
	if r.err != nil {
		return nil, r.err
	}
	if ev.BinlogVersion != 4 {
		return nil, fmt.Errorf("binlog version %d is not supported (only v4, MySQL 5.0 and later)", ev.BinlogVersion)
	}
	if ev.HeaderLength != HeaderSize {
		return nil, fmt.Errorf("event header length %d is not supported (want %d)", ev.HeaderLength, HeaderSize)
	}
	if i := bytes.IndexByte(sv, 0); i >= 0 {
		sv = sv[:i]
	}
	ev.ServerVersion = string(sv)
	ev.Flavor = change.MySQL
	if strings.Contains(strings.ToLower(ev.ServerVersion), "mariadb") {
		ev.Flavor = change.MariaDB
	}
	rest := r.rest()
	// Servers that know checksums (MySQL 5.6.1, MariaDB 5.3) end the event
	// with the algorithm byte and a 4-byte checksum, which is present (and
	// zero) even when the algorithm is "none".
	maj, min, pat := serverVersion(ev.ServerVersion)
	v := maj*10000 + min*100 + pat
	knowsChecksum := v >= 50601
	if ev.Flavor == change.MariaDB {
		knowsChecksum = v >= 50300
	}
	if knowsChecksum {
		if len(rest) < 1+ChecksumSize {
			return nil, fmt.Errorf("read checksum algorithm: %w", errShort)
		}
		ev.Checksum = ChecksumAlg(rest[len(rest)-1-ChecksumSize])
		rest = rest[:len(rest)-1-ChecksumSize]
	} else {
		ev.Checksum = ChecksumUndef
	}
	switch ev.Checksum {
	case ChecksumOff, ChecksumCRC32, ChecksumUndef:
	default:
		return nil, fmt.Errorf("unknown checksum algorithm %d", uint8(ev.Checksum))
	}
	ev.PostHeaderLengths = append([]byte(nil), rest...)
	return ev, nil
}

// defaultPostHeaderLengths are the post-header lengths of a MySQL 8 / MariaDB
// 10 server, used until a FORMAT_DESCRIPTION arrives.
func defaultPostHeaderLengths() [256]byte {
	var p [256]byte
	p[QueryEventType] = 13
	p[RotateEventType] = 8
	p[TableMapEventType] = 8
	for _, t := range []EventType{WriteRowsV0, UpdateRowsV0, DeleteRowsV0, WriteRowsV1, UpdateRowsV1, DeleteRowsV1,
		MariaWriteRowsCompressedV1, MariaUpdateRowsCompressedV1, MariaDeleteRowsCompressedV1} {
		p[t] = 8
	}
	for _, t := range []EventType{WriteRowsV2, UpdateRowsV2, DeleteRowsV2, PartialUpdateRows,
		MariaWriteRowsCompressed, MariaUpdateRowsCompressed, MariaDeleteRowsCompressed} {
		p[t] = 10
	}
	p[MariaQueryCompressedType] = 13
	return p
}
