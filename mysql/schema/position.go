package schema

import (
	"fmt"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-db/sluice/change"
)

// Positions order the history's versions. Two rules, cheapest first:
//   - file and offset (change.Position.Compare), valid within one server's
//     binlog sequence; this is the hot path's only test;
//   - GTID sets, when both positions carry one: a version at v is in force at
//     p when p's executed set contains v's. This survives a failover to a
//     server whose files are numbered differently, and decides whenever the
//     file test says "before" (see tableState.at) or the files are not
//     comparable.

// fileBefore reports whether p is before q by file and offset. Positions
// without a file are never before anything. It does not allocate.
func fileBefore(p, q change.Position) bool {
	if p.File == "" || q.File == "" {
		return false
	}
	if p.File == q.File {
		return p.Offset < q.Offset
	}
	return p.Compare(q) < 0
}

// gtidFlavor names the GTID syntax of s for go-mysql.
func gtidFlavor(f change.Flavor, s string) string {
	switch f {
	case change.MySQL:
		return gomysql.MySQLFlavor
	case change.MariaDB:
		return gomysql.MariaDBFlavor
	}
	if strings.Contains(s, ":") {
		return gomysql.MySQLFlavor
	}
	return gomysql.MariaDBFlavor
}

// gtidContains reports whether the executed set have contains want.
func gtidContains(f change.Flavor, have, want string) (bool, error) {
	hs, err := gomysql.ParseGTIDSet(gtidFlavor(f, have), have)
	if err != nil {
		return false, fmt.Errorf("parse gtid set %q: %w", have, err)
	}
	ws, err := gomysql.ParseGTIDSet(gtidFlavor(f, want), want)
	if err != nil {
		return false, fmt.Errorf("parse gtid set %q: %w", want, err)
	}
	return hs.Contain(ws), nil
}

// atOrAfter reports whether position p is at or after version position v,
// that is whether a version recorded at v is in force at p. GTIDs decide
// when both have them; else file and offset. ok is false when the two
// cannot be ordered (one has only a file, the other only a GTID).
func atOrAfter(f change.Flavor, p, v change.Position) (after bool, ok bool, err error) {
	if p.GTID != "" && v.GTID != "" {
		in, err := gtidContains(f, p.GTID, v.GTID)
		return in, err == nil, err
	}
	if p.File != "" && v.File != "" {
		return p.Compare(v) >= 0, true, nil
	}
	if p.IsZero() || v.IsZero() {
		return true, true, nil
	}
	return false, false, nil
}

// samePosition reports whether two positions name the same place.
func samePosition(p, q change.Position) bool {
	if p.GTID != "" && q.GTID != "" {
		return p.GTID == q.GTID && (p.File == "" || q.File == "" || p.File == q.File && p.Offset == q.Offset)
	}
	return p.File == q.File && p.Offset == q.Offset && p.File != ""
}
