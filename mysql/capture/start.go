package capture

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sluice-db/sluice/change"
)

// StartKind says how a Start names the first transaction to read.
type StartKind uint8

const (
	// StartNow reads what is committed after the moment capture starts,
	// and bootstraps the schema history from the live server there.
	StartNow StartKind = iota
	// StartOldest reads from the start of the oldest binlog the source
	// still has.
	StartOldest
	// StartPosition reads from Position: a file and offset (which must be
	// a transaction boundary), or a GTID set (MySQL) or GTID list
	// (MariaDB) naming what was already read.
	StartPosition
	// StartTime reads from the first transaction committed at or after
	// Time.
	StartTime
)

// Start says where capture begins.
type Start struct {
	Kind     StartKind
	Position change.Position
	Time     time.Time
}

func (s Start) String() string {
	switch s.Kind {
	case StartNow:
		return "now"
	case StartOldest:
		return "oldest"
	case StartPosition:
		return s.Position.String()
	case StartTime:
		return s.Time.Format(time.RFC3339Nano)
	}
	return "unknown"
}

var mariaGTIDListRE = regexp.MustCompile(`^\s*\d+-\d+-\d+(\s*,\s*\d+-\d+-\d+)*\s*$`)

// ParseStart reads a start as users type it: "now", "start" (or
// "oldest"), "FILE:POS", a MySQL GTID set, a MariaDB GTID list, or a
// timestamp (RFC 3339, or "YYYY-MM-DD hh:mm:ss[.ffffff]" in loc, the
// local zone when loc is nil, as mysqlbinlog --start-datetime reads it).
//
// A bare date such as 2024-01-02 is read as a MariaDB GTID, because it is
// one; write a time of day to mean a timestamp.
func ParseStart(s string, loc *time.Location) (Start, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "now", "":
		return Start{Kind: StartNow}, nil
	case "start", "oldest", "earliest", "beginning":
		return Start{Kind: StartOldest}, nil
	}
	if p, ok := change.ParseFilePos(s); ok {
		return Start{Kind: StartPosition, Position: p}, nil
	}
	if mariaGTIDListRE.MatchString(s) {
		l, err := ParseMariaDBGTIDList(s)
		if err != nil {
			return Start{}, fmt.Errorf("start %q: %w", s, err)
		}
		return Start{Kind: StartPosition, Position: change.Position{GTID: l.String()}}, nil
	}
	if loc == nil {
		loc = time.Local
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		var t time.Time
		var err error
		if layout == time.RFC3339Nano {
			t, err = time.Parse(layout, s)
		} else {
			t, err = time.ParseInLocation(layout, s, loc)
		}
		if err == nil {
			return Start{Kind: StartTime, Time: t}, nil
		}
	}
	if strings.Contains(s, ":") && len(s) > 36 && looksLikeUUID(strings.TrimSpace(s)[:36]) {
		set, err := ParseMySQLGTIDSet(s)
		if err != nil {
			return Start{}, fmt.Errorf("start %q: %w", s, err)
		}
		return Start{Kind: StartPosition, Position: change.Position{GTID: set.String()}}, nil
	}
	return Start{}, fmt.Errorf("start %q: want now, start, FILE:POS, a GTID set or list, or a time (RFC 3339 or 'YYYY-MM-DD hh:mm:ss')", s)
}

// gtidFlavor tells which flavor a GTID string is written in.
func gtidFlavor(g string) change.Flavor {
	if mariaGTIDListRE.MatchString(g) {
		return change.MariaDB
	}
	return change.MySQL
}
