package binlog

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
)

// GTID events of MySQL (GTID, ANONYMOUS_GTID, GTID_TAGGED, PREVIOUS_GTIDS)
// and MariaDB (GTID, GTID_LIST).

// FormatUUID formats a server uuid as MySQL prints it.
func FormatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// logicalClockTypeCode precedes last_committed/sequence_number.
const logicalClockTypeCode = 2

func parseGTID(ev *GTIDEvent, h EventHeader, body []byte) (*GTIDEvent, error) {
	r := reader{b: body}
	*ev = GTIDEvent{EventHeader: h, Anonymous: h.Type == AnonymousGTIDEventType}
	ev.Flags = r.u8("gtid flags")
	copy(ev.SID[:], r.bytes(16, "gtid source id"))
	ev.GNO = int64(r.u64("gtid number"))
	if r.err != nil {
		return nil, r.err
	}
	// Each later field was added by a later server version; a field is
	// there when the event is long enough for it.
	if r.left() >= 17 && r.b[r.pos] == logicalClockTypeCode {
		r.skip(1, "logical clock type")
		ev.LastCommitted = int64(r.u64("last committed"))
		ev.SequenceNumber = int64(r.u64("sequence number"))
	}
	if r.left() >= 7 {
		ts := r.uintN(7, "immediate commit timestamp")
		if ts&(1<<55) != 0 {
			ev.ImmediateCommitTimestamp = ts &^ (1 << 55)
			ev.OriginalCommitTimestamp = r.uintN(7, "original commit timestamp")
		} else {
			ev.ImmediateCommitTimestamp, ev.OriginalCommitTimestamp = ts, ts
		}
	}
	if r.left() >= 1 {
		ev.TransactionLength = r.packed("transaction length")
	}
	if r.left() >= 4 {
		v := r.u32("immediate server version")
		if v&(1<<31) != 0 {
			ev.ImmediateServerVersion = v &^ (1 << 31)
			ev.OriginalServerVersion = r.u32("original server version")
		} else {
			ev.ImmediateServerVersion, ev.OriginalServerVersion = v, v
		}
	}
	if r.left() >= 8 {
		ev.CommitGroupTicket = r.u64("commit group ticket")
	}
	return ev, r.err
}

// serialReader reads mysql::serialization data (tagged GTID events): every
// integer is a variable-length integer whose first byte's trailing one bits
// say how many more bytes follow.
type serialReader struct{ reader }

func (s *serialReader) uvar(what string) uint64 {
	if s.err != nil {
		return 0
	}
	if s.left() < 1 {
		s.fail(what)
		return 0
	}
	n := bits.TrailingZeros8(^s.b[s.pos]) + 1 // 1..9 bytes
	if n > s.left() {
		s.fail(what)
		return 0
	}
	b := s.b[s.pos : s.pos+n]
	s.pos += n
	if n == 9 {
		return binary.LittleEndian.Uint64(b[1:])
	}
	return leUint(b) >> n
}

func (s *serialReader) svar(what string) int64 {
	u := s.uvar(what)
	if u&1 == 0 {
		return int64(u >> 1)
	}
	return -int64(u>>1) - 1
}

// Field ids of a GTID_TAGGED event.
const (
	tgFlags = iota
	tgUUID
	tgGNO
	tgTag
	tgLastCommitted
	tgSequenceNumber
	tgImmediateCommitTS
	tgOriginalCommitTS
	tgTransactionLength
	tgImmediateServerVersion
	tgOriginalServerVersion
	tgCommitGroupTicket
)

func parseTaggedGTID(h EventHeader, body []byte) (*GTIDEvent, error) {
	s := serialReader{reader{b: body}}
	ev := &GTIDEvent{EventHeader: h}
	s.uvar("serialization version")
	s.uvar("message size")
	lastNonIgnorable := s.uvar("last non-ignorable field")
	var haveOrigTS, haveOrigVersion bool
fields:
	for s.left() > 0 && s.err == nil {
		id := s.uvar("field id")
		switch id {
		case tgFlags:
			ev.Flags = uint8(s.uvar("gtid flags"))
		case tgUUID:
			for i := range ev.SID {
				ev.SID[i] = uint8(s.uvar("gtid uuid"))
			}
		case tgGNO:
			ev.GNO = s.svar("gtid number")
		case tgTag:
			n := s.uvar("tag length")
			if n > 32 {
				return nil, fmt.Errorf("gtid tag of %d bytes, longer than 32", n)
			}
			ev.Tag = string(s.bytes(int(n), "tag"))
		case tgLastCommitted:
			ev.LastCommitted = s.svar("last committed")
		case tgSequenceNumber:
			ev.SequenceNumber = s.svar("sequence number")
		case tgImmediateCommitTS:
			ev.ImmediateCommitTimestamp = s.uvar("immediate commit timestamp")
		case tgOriginalCommitTS:
			ev.OriginalCommitTimestamp, haveOrigTS = s.uvar("original commit timestamp"), true
		case tgTransactionLength:
			ev.TransactionLength = s.uvar("transaction length")
		case tgImmediateServerVersion:
			ev.ImmediateServerVersion = uint32(s.uvar("immediate server version"))
		case tgOriginalServerVersion:
			ev.OriginalServerVersion, haveOrigVersion = uint32(s.uvar("original server version")), true
		case tgCommitGroupTicket:
			ev.CommitGroupTicket = s.uvar("commit group ticket")
		default:
			// A field of a newer server: its size is not encoded, so the
			// rest cannot be read. Ignorable fields may be left unread.
			if id <= lastNonIgnorable {
				return nil, fmt.Errorf("gtid_tagged field %d is unknown and not ignorable", id)
			}
			break fields
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	if !haveOrigTS {
		ev.OriginalCommitTimestamp = ev.ImmediateCommitTimestamp
	}
	if !haveOrigVersion {
		ev.OriginalServerVersion = ev.ImmediateServerVersion
	}
	return ev, nil
}

func parsePreviousGTIDs(h EventHeader, body []byte) (*PreviousGTIDsEvent, error) {
	s := serialReader{reader{b: body}}
	raw := s.bytes(8, "sid count")
	if s.err != nil {
		return nil, s.err
	}
	// MySQL 8.3+ marks the tagged format with 1 in the last byte and
	// stores the count in bytes 1..6.
	tagged := raw[7] == 1
	var n uint64
	if tagged {
		n = leUint(raw[1:7])
	} else {
		n = binary.LittleEndian.Uint64(raw)
	}
	if n > uint64(s.left())/24 {
		return nil, fmt.Errorf("previous gtids: %d source ids do not fit %d bytes", n, s.left())
	}
	ev := &PreviousGTIDsEvent{EventHeader: h, Sets: make([]SIDIntervals, 0, n)}
	for i := uint64(0); i < n; i++ {
		var set SIDIntervals
		copy(set.SID[:], s.bytes(16, "source id"))
		if tagged {
			tl := s.uvar("tag length")
			if tl > 32 {
				return nil, fmt.Errorf("previous gtids: tag of %d bytes, longer than 32", tl)
			}
			set.Tag = string(s.bytes(int(tl), "tag"))
		}
		k := s.u64("interval count")
		if s.err != nil {
			return nil, s.err
		}
		if k > uint64(s.left())/16 {
			return nil, fmt.Errorf("previous gtids: %d intervals do not fit %d bytes", k, s.left())
		}
		set.Intervals = make([]GTIDInterval, k)
		for j := range set.Intervals {
			start, end := int64(s.u64("interval start")), int64(s.u64("interval end"))
			// Intervals are stored half-open.
			set.Intervals[j] = GTIDInterval{Start: start, End: end - 1}
		}
		ev.Sets = append(ev.Sets, set)
	}
	return ev, s.err
}

// formatGTIDSet prints sets as MySQL does: entries of one uuid share it, the
// untagged intervals first and then each tag with its intervals.
func formatGTIDSet(sets []SIDIntervals) string {
	var b strings.Builder
	var prev [16]byte
	for i, s := range sets {
		if i == 0 || s.SID != prev {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(FormatUUID(s.SID))
			prev = s.SID
		}
		if s.Tag != "" {
			b.WriteByte(':')
			b.WriteString(s.Tag)
		}
		for _, iv := range s.Intervals {
			b.WriteByte(':')
			b.WriteString(itoa(iv.Start))
			if iv.End != iv.Start {
				b.WriteByte('-')
				b.WriteString(itoa(iv.End))
			}
		}
	}
	return b.String()
}

// MariaDB GTID extra flags (FlagsExtra). The ALTER flags mark MariaDB
// 10.8+ two-phase ALTER TABLE (binlog_alter_two_phase): a START ALTER
// transaction, then the COMMIT or ROLLBACK ALTER that names it.
const (
	MariaExtraMultiEngine   uint8 = 1
	MariaExtraStartAlter    uint8 = 2
	MariaExtraCommitAlter   uint8 = 4
	MariaExtraRollbackAlter uint8 = 8
)

func parseMariaGTID(ev *MariaGTIDEvent, h EventHeader, body []byte) (*MariaGTIDEvent, error) {
	r := reader{b: body}
	*ev = MariaGTIDEvent{EventHeader: h}
	ev.Sequence = r.u64("gtid sequence")
	ev.Domain = r.u32("gtid domain")
	ev.Flags = r.u8("gtid flags")
	if ev.Flags&MariaFlagGroupCommitID != 0 {
		ev.CommitID = r.u64("commit id")
	}
	if ev.Flags&(MariaFlagPreparedXA|MariaFlagCompletedXA) != 0 {
		ev.XAFormatID = r.u32("xa format id")
		gl, bl := int(r.u8("xa gtrid length")), int(r.u8("xa bqual length"))
		if gl > 64 || bl > 64 {
			return nil, fmt.Errorf("xa gtrid length %d or bqual length %d over 64", gl, bl)
		}
		ev.XAGTRID = r.bytes(gl, "xa gtrid")
		ev.XABQUAL = r.bytes(bl, "xa bqual")
	}
	if r.err != nil {
		return nil, r.err
	}
	// Without a commit id the event is padded with zeros, which read as "no
	// extra flags".
	if r.left() > 0 {
		ev.FlagsExtra = r.u8("extra flags")
		if ev.FlagsExtra&MariaExtraMultiEngine != 0 {
			ev.ExtraEngines = r.u8("extra engines")
		}
		if ev.FlagsExtra&(MariaExtraCommitAlter|MariaExtraRollbackAlter) != 0 {
			ev.StartAlterSeq = r.u64("start alter sequence")
		}
	}
	return ev, r.err
}

func parseMariaGTIDList(h EventHeader, body []byte) (*MariaGTIDListEvent, error) {
	r := reader{b: body}
	v := r.u32("gtid count")
	if r.err != nil {
		return nil, r.err
	}
	n := int(v & 0x0fffffff)
	if n > r.left()/16 {
		return nil, fmt.Errorf("gtid list: %d entries do not fit %d bytes", n, r.left())
	}
	ev := &MariaGTIDListEvent{EventHeader: h, Flags: uint8(v >> 28), GTIDs: make([]MariaGTID, n)}
	for i := range ev.GTIDs {
		ev.GTIDs[i] = MariaGTID{Domain: r.u32("domain"), ServerID: r.u32("server id"), Sequence: r.u64("sequence")}
	}
	return ev, r.err
}
