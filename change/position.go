package change

import (
	"fmt"
	"strconv"
	"strings"
)

// Flavor is the kind of server that wrote a binlog. The two differ in their
// GTID formats and in a few event types.
type Flavor uint8

const (
	MySQL Flavor = iota + 1
	MariaDB
)

func (f Flavor) String() string {
	switch f {
	case MySQL:
		return "mysql"
	case MariaDB:
		return "mariadb"
	}
	return "unknown"
}

// ParseFlavor accepts "mysql" and "mariadb".
func ParseFlavor(s string) (Flavor, error) {
	switch strings.ToLower(s) {
	case "mysql":
		return MySQL, nil
	case "mariadb":
		return MariaDB, nil
	}
	return 0, fmt.Errorf("unknown flavor %q (want mysql or mariadb)", s)
}

// Position is a place in a source's binlog: the coordinates a reader resumes
// from. File and Offset always name the byte after the last event read
// completely. GTID, when the source has GTIDs, is the whole executed set at
// that point: a MySQL GTID set ("uuid:1-42,uuid2:1-7") or a MariaDB GTID list
// ("0-1-42,1-2-7"). A reader that has a GTID prefers it, because it survives
// a failover to another server whose files are named differently.
type Position struct {
	File   string `json:"file,omitempty"`
	Offset uint64 `json:"pos,omitempty"`
	GTID   string `json:"gtid,omitempty"`
}

// IsZero reports whether p names no place at all.
func (p Position) IsZero() bool { return p.File == "" && p.GTID == "" }

// String formats p as "file:pos" followed by " gtid=..." when there is one.
func (p Position) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(p.Offset, 10))
	}
	if p.GTID != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("gtid=")
		b.WriteString(p.GTID)
	}
	if b.Len() == 0 {
		return "(none)"
	}
	return b.String()
}

// Compare orders two file positions of the same server: by file name (binlog
// file names sort by their numeric suffix, which has a fixed width), then by
// offset. It ignores GTIDs.
func (p Position) Compare(q Position) int {
	if c := compareFileNames(p.File, q.File); c != 0 {
		return c
	}
	switch {
	case p.Offset < q.Offset:
		return -1
	case p.Offset > q.Offset:
		return 1
	}
	return 0
}

func compareFileNames(a, b string) int {
	// Suffixes grow past their padding after binlog.999999; compare numerically
	// when both names share the base.
	ab, an, aok := splitBinlogName(a)
	bb, bn, bok := splitBinlogName(b)
	if aok && bok && ab == bb {
		switch {
		case an < bn:
			return -1
		case an > bn:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

func splitBinlogName(s string) (base string, n uint64, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return s[:i], n, true
}

// ParseFilePos parses "file:pos". It returns ok=false when s is not of that
// form, so callers can try a GTID next.
func ParseFilePos(s string) (Position, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return Position{}, false
	}
	off, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return Position{}, false
	}
	file := s[:i]
	if strings.ContainsAny(file, ",: ") || looksLikeUUID(file) {
		return Position{}, false
	}
	return Position{File: file, Offset: off}, true
}

// looksLikeUUID tells a MySQL GTID ("uuid:23") apart from "file:pos".
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
