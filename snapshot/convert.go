package snapshot

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-db/sluice/change"
)

// Chunk rows are read with the binary protocol (server-side prepared
// statements), so that FLOAT and DOUBLE arrive as their exact bits, and
// scanned as raw bytes: the driver renders numbers with the shortest text
// that reads back to the same value. The session reads text without any
// character set conversion (character_set_results=NULL) and TIMESTAMP in
// UTC, so that values equal what the binlog carries.

// converter turns a result cell into a change.Value for one column. Text
// and bytes are copied into an arena that the chunk's rows share.
type converter struct {
	arena []byte
}

func (cv *converter) keep(b []byte) []byte {
	if len(cv.arena)+len(b) > cap(cv.arena) {
		n := 1 << 20
		if len(b) > n/4 {
			return append([]byte(nil), b...)
		}
		cv.arena = make([]byte, 0, n)
	}
	start := len(cv.arena)
	cv.arena = append(cv.arena, b...)
	return cv.arena[start:len(cv.arena):len(cv.arena)]
}

func (cv *converter) value(col *change.Column, b []byte, null bool) (change.Value, error) {
	if null {
		return change.Null(), nil
	}
	s := b
	switch col.Type {
	case change.TypeTinyInt, change.TypeSmallInt, change.TypeMediumInt, change.TypeInt, change.TypeBigInt:
		if col.Unsigned {
			u, err := strconv.ParseUint(string(s), 10, 64)
			if err != nil {
				return change.Value{}, err
			}
			return change.Uint(u), nil
		}
		i, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return change.Value{}, err
		}
		return change.Int(i), nil
	case change.TypeDecimal:
		return change.Decimal(cv.keep(s)), nil
	case change.TypeFloat:
		f, err := strconv.ParseFloat(string(s), 32)
		if err != nil {
			return change.Value{}, err
		}
		return change.Float(float32(f)), nil
	case change.TypeDouble:
		f, err := strconv.ParseFloat(string(s), 64)
		if err != nil {
			return change.Value{}, err
		}
		return change.Double(f), nil
	case change.TypeBit:
		var u uint64
		for _, c := range s {
			u = u<<8 | uint64(c)
		}
		return change.Bit(u), nil
	case change.TypeYear:
		y, err := strconv.Atoi(string(s))
		if err != nil {
			return change.Value{}, err
		}
		return change.Year(y), nil
	case change.TypeDate:
		y, mo, d, ok := parseDate(s)
		if !ok {
			return change.Value{}, fmt.Errorf("date %q", s)
		}
		return change.Date(y, mo, d), nil
	case change.TypeTime:
		us, ok := parseTime(s)
		if !ok {
			return change.Value{}, fmt.Errorf("time %q", s)
		}
		return change.Time(us, uint8(col.Scale)), nil
	case change.TypeDateTime:
		y, mo, d, h, mi, sec, us, ok := parseDateTime(s)
		if !ok {
			return change.Value{}, fmt.Errorf("datetime %q", s)
		}
		return change.DateTime(y, mo, d, h, mi, sec, us, uint8(col.Scale)), nil
	case change.TypeTimestamp:
		y, mo, d, h, mi, sec, us, ok := parseDateTime(s)
		if !ok {
			return change.Value{}, fmt.Errorf("timestamp %q", s)
		}
		if y == 0 && mo == 0 && d == 0 {
			return change.Timestamp(0, uint8(col.Scale)), nil
		}
		t := time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
		return change.Timestamp(t.UnixMicro(), uint8(col.Scale)), nil
	case change.TypeChar, change.TypeVarChar, change.TypeText:
		if col.Charset == "binary" {
			return change.Bytes(cv.keep(s)), nil
		}
		return change.String(cv.keep(s)), nil
	case change.TypeEnum:
		idx := 0
		if len(s) > 0 {
			idx = member(col.Elems, s)
		}
		return change.Enum(idx, cv.keep(s)), nil
	case change.TypeSet:
		var bits uint64
		for _, m := range bytes.Split(s, []byte{','}) {
			if len(m) == 0 {
				continue
			}
			if i := member(col.Elems, m); i > 0 {
				bits |= 1 << uint(i-1)
			}
		}
		return change.Set(bits, cv.keep(s)), nil
	case change.TypeJSON:
		return change.JSON(cv.keep(s)), nil
	case change.TypeGeometry:
		return change.Geometry(cv.keep(s)), nil
	case change.TypeVector:
		return change.Vector(cv.keep(s)), nil
	}
	// BINARY, VARBINARY, BLOB and anything unknown: bytes as stored.
	return change.Bytes(cv.keep(s)), nil
}

// member returns the 1-based index of an ENUM or SET member, 0 if none.
// The server prints members as defined; a case-insensitive match covers
// definitions read with another case.
func member(elems []string, s []byte) int {
	for i, e := range elems {
		if e == string(s) {
			return i + 1
		}
	}
	for i, e := range elems {
		if bytes.EqualFold([]byte(e), s) {
			return i + 1
		}
	}
	return 0
}

func digits(s []byte) (int, bool) {
	if len(s) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseDate reads YYYY-MM-DD (zero parts allowed).
func parseDate(s []byte) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	return y, m, d, ok1 && ok2 && ok3
}

// parseDateTime reads YYYY-MM-DD hh:mm:ss[.ffffff] (a bare date too).
func parseDateTime(s []byte) (y, mo, d, h, mi, sec, us int, ok bool) {
	if len(s) < 10 {
		return
	}
	if y, mo, d, ok = parseDate(s[:10]); !ok {
		return
	}
	if len(s) == 10 {
		return y, mo, d, 0, 0, 0, 0, true
	}
	if len(s) < 19 || s[10] != ' ' && s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return y, mo, d, 0, 0, 0, 0, false
	}
	var ok1, ok2, ok3 bool
	h, ok1 = digits(s[11:13])
	mi, ok2 = digits(s[14:16])
	sec, ok3 = digits(s[17:19])
	if !ok1 || !ok2 || !ok3 {
		return y, mo, d, 0, 0, 0, 0, false
	}
	us, ok = fraction(s[19:])
	return
}

// fraction reads "" or ".f..." into microseconds.
func fraction(s []byte) (int, bool) {
	if len(s) == 0 {
		return 0, true
	}
	if s[0] != '.' || len(s) > 7 {
		return 0, false
	}
	f, ok := digits(s[1:])
	if !ok {
		return 0, false
	}
	for i := len(s) - 1; i < 6; i++ {
		f *= 10
	}
	return f, true
}

// parseTime reads [-]h+:mm:ss[.ffffff] into signed microseconds.
func parseTime(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	i := bytes.IndexByte(s, ':')
	if i < 1 || len(s) < i+6 || s[i+3] != ':' {
		return 0, false
	}
	h, ok1 := digits(s[:i])
	m, ok2 := digits(s[i+1 : i+3])
	sec, ok3 := digits(s[i+4 : i+6])
	us, ok4 := fraction(s[i+6:])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, false
	}
	v := ((int64(h)*60+int64(m))*60+int64(sec))*1e6 + int64(us)
	if neg {
		v = -v
	}
	return v, true
}

// keyArg turns a chunk bound value into a statement argument, and says how
// its placeholder must be written so that the server compares it in the
// column's own collation (a bare binary string would compare byte-wise
// and disagree with the index order).
func keyArg(col *change.Column, v change.Value) (any, string) {
	switch v.Kind {
	case change.KindNull:
		return nil, "?"
	case change.KindInt, change.KindYear:
		return v.I, "?"
	case change.KindUint, change.KindBit:
		return uint64(v.I), "?"
	case change.KindEnum, change.KindSet:
		// Compared by index or bitmap, as the index orders them.
		return v.I, "?"
	case change.KindFloat, change.KindDouble:
		return v.Float64(), "?"
	case change.KindDate, change.KindDateTime, change.KindTimestamp, change.KindTime:
		return string(v.AppendText(nil)), "?"
	case change.KindString:
		if col.Charset != "" && col.Charset != "binary" && plainName(col.Charset) {
			ph := "CONVERT(CAST(? AS BINARY) USING " + col.Charset + ")"
			if col.Collation != "" && plainName(col.Collation) {
				ph += " COLLATE " + col.Collation
			}
			return v.B, ph
		}
	}
	if v.B == nil {
		return []byte{}, "?"
	}
	return v.B, "?"
}

// plainName reports whether a character set or collation name is made of
// the characters such names have, so that it can be written into SQL.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}
