package capture

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MariaDBGTID is one MariaDB GTID: domain-server-sequence.
type MariaDBGTID struct {
	Domain uint32
	Server uint32
	Seq    uint64
}

// String formats g as "domain-server-seq".
func (g MariaDBGTID) String() string {
	var buf [64]byte
	return string(g.appendTo(buf[:0]))
}

func (g MariaDBGTID) appendTo(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(g.Domain), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(g.Server), 10)
	b = append(b, '-')
	return strconv.AppendUint(b, g.Seq, 10)
}

// ParseMariaDBGTID parses "domain-server-seq".
func ParseMariaDBGTID(s string) (MariaDBGTID, error) {
	parts := strings.Split(strings.TrimSpace(s), "-")
	if len(parts) != 3 {
		return MariaDBGTID{}, fmt.Errorf("mariadb gtid %q: want domain-server-sequence", s)
	}
	d, err1 := strconv.ParseUint(parts[0], 10, 32)
	sv, err2 := strconv.ParseUint(parts[1], 10, 32)
	n, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return MariaDBGTID{}, fmt.Errorf("mariadb gtid %q: want domain-server-sequence: %w", s, err)
	}
	return MariaDBGTID{Domain: uint32(d), Server: uint32(sv), Seq: n}, nil
}

// MariaDBGTIDList is a MariaDB replication position: the last GTID of each
// replication domain, as gtid_binlog_pos and gtid_slave_pos show it. It is
// a position, not a set: a domain's later GTID replaces the earlier one.
type MariaDBGTIDList struct {
	// gtids is sorted by domain, one entry per domain.
	gtids []MariaDBGTID
}

// ParseMariaDBGTIDList parses "0-1-42,1-2-7". The empty string is the empty
// list (the position before the first transaction).
func ParseMariaDBGTIDList(s string) (*MariaDBGTIDList, error) {
	l := &MariaDBGTIDList{}
	s = strings.TrimSpace(s)
	if s == "" {
		return l, nil
	}
	for _, part := range strings.Split(s, ",") {
		g, err := ParseMariaDBGTID(part)
		if err != nil {
			return nil, err
		}
		if _, ok := l.Get(g.Domain); ok {
			return nil, fmt.Errorf("mariadb gtid list %q: domain %d appears twice", s, g.Domain)
		}
		l.Update(g)
	}
	return l, nil
}

// Update records g as its domain's latest GTID.
func (l *MariaDBGTIDList) Update(g MariaDBGTID) {
	i, ok := slices.BinarySearchFunc(l.gtids, g.Domain, func(e MariaDBGTID, d uint32) int {
		return cmpUint(uint64(e.Domain), uint64(d))
	})
	if ok {
		l.gtids[i] = g
		return
	}
	l.gtids = slices.Insert(l.gtids, i, g)
}

// Get returns the latest GTID of a domain.
func (l *MariaDBGTIDList) Get(domain uint32) (MariaDBGTID, bool) {
	for _, g := range l.gtids {
		if g.Domain == domain {
			return g, true
		}
	}
	return MariaDBGTID{}, false
}

// GTIDs returns the list's GTIDs, sorted by domain.
func (l *MariaDBGTIDList) GTIDs() []MariaDBGTID { return slices.Clone(l.gtids) }

// Contains reports whether the position l includes g: l has g's domain at a
// sequence number at or past g's.
func (l *MariaDBGTIDList) Contains(g MariaDBGTID) bool {
	cur, ok := l.Get(g.Domain)
	return ok && cur.Seq >= g.Seq
}

// String formats the list as MariaDB does: "0-1-42,1-2-7", sorted by domain.
func (l *MariaDBGTIDList) String() string {
	var buf [128]byte
	return string(l.appendTo(buf[:0]))
}

func (l *MariaDBGTIDList) appendTo(b []byte) []byte {
	for i, g := range l.gtids {
		if i > 0 {
			b = append(b, ',')
		}
		b = g.appendTo(b)
	}
	return b
}

// Clone returns a copy that shares nothing with l.
func (l *MariaDBGTIDList) Clone() *MariaDBGTIDList {
	return &MariaDBGTIDList{gtids: slices.Clone(l.gtids)}
}

// MySQLGTIDSet is a MySQL GTID set such as gtid_executed:
// "uuid:1-5:tag:1-3,uuid2:7". It holds, per source UUID and tag, sorted
// disjoint intervals of transaction numbers.
type MySQLGTIDSet struct {
	// sids is sorted by UUID bytes, then by tag (the untagged one first).
	sids []mysqlSID
}

type mysqlSID struct {
	uuid [16]byte
	tag  string
	// ivs are half-open [start, stop) intervals, sorted and disjoint, as
	// MySQL encodes them.
	ivs []gnoInterval
}

type gnoInterval struct{ start, stop int64 }

// ParseMySQLGTIDSet parses the text form MySQL prints for gtid_executed.
// Whitespace and newlines between elements are allowed, as MySQL prints
// long sets over several lines.
func ParseMySQLGTIDSet(s string) (*MySQLGTIDSet, error) {
	set := &MySQLGTIDSet{}
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		fields := strings.Split(strings.TrimSpace(part), ":")
		if len(fields) < 2 {
			return nil, fmt.Errorf("mysql gtid set %q: element %q: want uuid[:tag]:interval[:interval...]", s, part)
		}
		u, err := parseUUID(fields[0])
		if err != nil {
			return nil, fmt.Errorf("mysql gtid set %q: %w", s, err)
		}
		tag := ""
		intervals := 0
		for j, f := range fields[1:] {
			f = strings.TrimSpace(f)
			if isGTIDTag(f) {
				// A tag starts the intervals of that tag; the one before
				// it must have had some (the untagged part may be empty).
				if j > 0 && intervals == 0 {
					return nil, fmt.Errorf("mysql gtid set %q: tag %q has no interval", s, tag)
				}
				tag = strings.ToLower(f)
				intervals = 0
				continue
			}
			lo, hi, err := parseGNOInterval(f)
			if err != nil {
				return nil, fmt.Errorf("mysql gtid set %q: %w", s, err)
			}
			set.addInterval(u, tag, gnoInterval{lo, hi + 1})
			intervals++
		}
		if intervals == 0 {
			return nil, fmt.Errorf("mysql gtid set %q: element %q has no interval", s, part)
		}
	}
	return set, nil
}

// isGTIDTag reports whether f is a GTID tag: a letter or underscore, then
// up to 31 letters, digits or underscores.
func isGTIDTag(f string) bool {
	if f == "" || len(f) > 32 {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func parseGNOInterval(f string) (lo, hi int64, err error) {
	a, b, isRange := strings.Cut(f, "-")
	lo, err = strconv.ParseInt(a, 10, 64)
	if err != nil || lo < 1 {
		return 0, 0, fmt.Errorf("bad interval %q", f)
	}
	hi = lo
	if isRange {
		hi, err = strconv.ParseInt(b, 10, 64)
		if err != nil || hi < lo {
			return 0, 0, fmt.Errorf("bad interval %q", f)
		}
	}
	return lo, hi, nil
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	s = strings.TrimSpace(s)
	if !looksLikeUUID(s) {
		return u, fmt.Errorf("bad server uuid %q", s)
	}
	h := strings.ReplaceAll(s, "-", "")
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("bad server uuid %q: %w", s, err)
	}
	return u, nil
}

func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func appendUUID(b []byte, u [16]byte) []byte {
	var h [32]byte
	hex.Encode(h[:], u[:])
	b = append(b, h[0:8]...)
	b = append(b, '-')
	b = append(b, h[8:12]...)
	b = append(b, '-')
	b = append(b, h[12:16]...)
	b = append(b, '-')
	b = append(b, h[16:20]...)
	b = append(b, '-')
	return append(b, h[20:32]...)
}

// FormatMySQLGTID formats one MySQL GTID: "uuid:gno" or "uuid:tag:gno".
func FormatMySQLGTID(uuid [16]byte, tag string, gno int64) string {
	b := make([]byte, 0, 64)
	b = appendUUID(b, uuid)
	b = append(b, ':')
	if tag != "" {
		b = append(b, tag...)
		b = append(b, ':')
	}
	return string(strconv.AppendInt(b, gno, 10))
}

func (s *MySQLGTIDSet) find(uuid [16]byte, tag string) (int, bool) {
	return slices.BinarySearchFunc(s.sids, struct {
		u [16]byte
		t string
	}{uuid, tag}, func(e mysqlSID, k struct {
		u [16]byte
		t string
	}) int {
		if c := bytes.Compare(e.uuid[:], k.u[:]); c != 0 {
			return c
		}
		return strings.Compare(e.tag, k.t)
	})
}

// Add records one transaction, uuid[:tag]:gno.
func (s *MySQLGTIDSet) Add(uuid [16]byte, tag string, gno int64) {
	s.addInterval(uuid, tag, gnoInterval{gno, gno + 1})
}

func (s *MySQLGTIDSet) addInterval(uuid [16]byte, tag string, iv gnoInterval) {
	i, ok := s.find(uuid, tag)
	if !ok {
		s.sids = slices.Insert(s.sids, i, mysqlSID{uuid: uuid, tag: tag, ivs: []gnoInterval{iv}})
		return
	}
	sid := &s.sids[i]
	// Fast path: the next transaction of a source extends its last interval.
	if n := len(sid.ivs); n > 0 && sid.ivs[n-1].stop == iv.start {
		sid.ivs[n-1].stop = iv.stop
		return
	}
	sid.ivs = mergeInterval(sid.ivs, iv)
}

// mergeInterval inserts iv into sorted disjoint intervals, merging what
// overlaps or touches.
func mergeInterval(ivs []gnoInterval, iv gnoInterval) []gnoInterval {
	out := make([]gnoInterval, 0, len(ivs)+1)
	i := 0
	for ; i < len(ivs) && ivs[i].stop < iv.start; i++ {
		out = append(out, ivs[i])
	}
	for ; i < len(ivs) && ivs[i].start <= iv.stop; i++ {
		iv.start = min(iv.start, ivs[i].start)
		iv.stop = max(iv.stop, ivs[i].stop)
	}
	out = append(out, iv)
	return append(out, ivs[i:]...)
}

// Contains reports whether the set holds uuid[:tag]:gno.
func (s *MySQLGTIDSet) Contains(uuid [16]byte, tag string, gno int64) bool {
	i, ok := s.find(uuid, tag)
	if !ok {
		return false
	}
	for _, iv := range s.sids[i].ivs {
		if gno >= iv.start && gno < iv.stop {
			return true
		}
	}
	return false
}

// IsEmpty reports whether the set holds no transaction.
func (s *MySQLGTIDSet) IsEmpty() bool { return len(s.sids) == 0 }

// String formats the set as MySQL prints gtid_executed (without its line
// breaks): "uuid:1-5:tag:1-3,uuid2:7".
func (s *MySQLGTIDSet) String() string {
	return string(s.appendTo(nil))
}

func (s *MySQLGTIDSet) appendTo(b []byte) []byte {
	for i, sid := range s.sids {
		if i == 0 || sid.uuid != s.sids[i-1].uuid {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendUUID(b, sid.uuid)
		}
		if sid.tag != "" {
			b = append(b, ':')
			b = append(b, sid.tag...)
		}
		for _, iv := range sid.ivs {
			b = append(b, ':')
			b = strconv.AppendInt(b, iv.start, 10)
			if iv.stop-1 != iv.start {
				b = append(b, '-')
				b = strconv.AppendInt(b, iv.stop-1, 10)
			}
		}
	}
	return b
}

// Clone returns a copy that shares nothing with s.
func (s *MySQLGTIDSet) Clone() *MySQLGTIDSet {
	c := &MySQLGTIDSet{sids: make([]mysqlSID, len(s.sids))}
	for i, sid := range s.sids {
		sid.ivs = slices.Clone(sid.ivs)
		c.sids[i] = sid
	}
	return c
}

// Encode returns the set in the binary form COM_BINLOG_DUMP_GTID carries
// (MySQL's Gtid_set::encode). The tagged format, which MySQL 8.3 and later
// understand, is used only when the set has a tagged GTID, so that older
// servers keep receiving the classic format.
func (s *MySQLGTIDSet) Encode() []byte {
	tagged := false
	for _, sid := range s.sids {
		if sid.tag != "" {
			tagged = true
			break
		}
	}
	b := make([]byte, 8, 8+len(s.sids)*(16+8+16))
	n := uint64(len(s.sids))
	if tagged {
		// The first and last bytes mark the format; the count sits in the
		// six bytes between.
		binary.LittleEndian.PutUint64(b, n<<8)
		b[0], b[7] = 1, 1
	} else {
		binary.LittleEndian.PutUint64(b, n)
	}
	for _, sid := range s.sids {
		b = append(b, sid.uuid[:]...)
		if tagged {
			// The tag length is a variable-length integer; below 128 it is
			// one byte holding the length shifted left by one.
			b = append(b, byte(len(sid.tag)<<1))
			b = append(b, sid.tag...)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(len(sid.ivs)))
		for _, iv := range sid.ivs {
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.start))
			b = binary.LittleEndian.AppendUint64(b, uint64(iv.stop))
		}
	}
	return b
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
