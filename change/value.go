package change

import (
	"bytes"
	"hash/maphash"
	"math"
	"strconv"
	"time"
)

// Kind says how a Value's fields are to be read.
type Kind uint8

const (
	// KindAbsent marks a column that the row image did not carry
	// (binlog_row_image=MINIMAL or NOBLOB). It is not NULL.
	KindAbsent Kind = iota
	KindNull
	KindInt       // I, signed
	KindUint      // uint64(I)
	KindFloat     // FLOAT: math.Float64frombits(uint64(I)), exactly a float32
	KindDouble    // DOUBLE: math.Float64frombits(uint64(I))
	KindDecimal   // B: exact decimal text, e.g. "-12.3400"
	KindYear      // I: 1901..2155, or 0 for 0000
	KindDate      // I: packed date, see PackDate
	KindTime      // I: signed microseconds, -838:59:59 .. 838:59:59
	KindDateTime  // I: packed date-time, see PackDateTime
	KindTimestamp // I: microseconds since 1970-01-01 UTC; 0 is the zero timestamp
	KindString    // B: bytes in the column's character set
	KindBytes     // B: binary bytes
	KindBit       // uint64(I)
	KindEnum      // I: 1-based member index, 0 for ''; B: the member's text
	KindSet       // uint64(I): member bitmap; B: the members' text joined by ','
	KindJSON      // B: JSON text
	KindGeometry  // B: 4-byte little-endian SRID followed by WKB, as MySQL stores it
	KindVector    // B: little-endian float32s
)

var kindNames = [...]string{
	KindAbsent: "absent", KindNull: "null", KindInt: "int", KindUint: "uint",
	KindFloat: "float", KindDouble: "double", KindDecimal: "decimal",
	KindYear: "year", KindDate: "date", KindTime: "time", KindDateTime: "datetime",
	KindTimestamp: "timestamp", KindString: "string", KindBytes: "bytes",
	KindBit: "bit", KindEnum: "enum", KindSet: "set", KindJSON: "json",
	KindGeometry: "geometry", KindVector: "vector",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed cell. It is a small value type so that a row is one
// slice allocation: numbers and times live in I, text and bytes in B. B
// usually points into the buffer the value was decoded from and must be
// treated as read-only.
type Value struct {
	Kind Kind
	// Frac is the fractional-second digits (0..6) of TIME, DATETIME and
	// TIMESTAMP values, used when formatting them.
	Frac uint8
	I    int64
	B    []byte
}

// Constructors. They do not copy B.

func Null() Value                     { return Value{Kind: KindNull} }
func Int(i int64) Value               { return Value{Kind: KindInt, I: i} }
func Uint(u uint64) Value             { return Value{Kind: KindUint, I: int64(u)} }
func Float(f float32) Value           { return Value{Kind: KindFloat, I: int64(math.Float64bits(float64(f)))} }
func Double(f float64) Value          { return Value{Kind: KindDouble, I: int64(math.Float64bits(f))} }
func Decimal(text []byte) Value       { return Value{Kind: KindDecimal, B: text} }
func String(b []byte) Value           { return Value{Kind: KindString, B: b} }
func Bytes(b []byte) Value            { return Value{Kind: KindBytes, B: b} }
func Bit(u uint64) Value              { return Value{Kind: KindBit, I: int64(u)} }
func Year(y int) Value                { return Value{Kind: KindYear, I: int64(y)} }
func JSON(text []byte) Value          { return Value{Kind: KindJSON, B: text} }
func Geometry(b []byte) Value         { return Value{Kind: KindGeometry, B: b} }
func Vector(b []byte) Value           { return Value{Kind: KindVector, B: b} }
func Enum(idx int, n []byte) Value    { return Value{Kind: KindEnum, I: int64(idx), B: n} }
func Set(bits uint64, s []byte) Value { return Value{Kind: KindSet, I: int64(bits), B: s} }

// Date makes a DATE; month and day may be 0 where the server allows it.
func Date(year, month, day int) Value { return Value{Kind: KindDate, I: PackDate(year, month, day)} }

// DateTime makes a DATETIME with frac fractional digits.
func DateTime(year, month, day, hour, min, sec, usec int, frac uint8) Value {
	return Value{Kind: KindDateTime, Frac: frac, I: PackDateTime(year, month, day, hour, min, sec, usec)}
}

// Time makes a TIME from signed microseconds.
func Time(usec int64, frac uint8) Value { return Value{Kind: KindTime, Frac: frac, I: usec} }

// Timestamp makes a TIMESTAMP from microseconds since the epoch (UTC).
func Timestamp(unixMicro int64, frac uint8) Value {
	return Value{Kind: KindTimestamp, Frac: frac, I: unixMicro}
}

// PackDate packs a calendar date so that packed dates order like dates and
// zero parts ("2020-00-00", "0000-00-00") survive.
func PackDate(year, month, day int) int64 { return int64((year*13+month)*32 + day) }

// UnpackDate reverses PackDate.
func UnpackDate(p int64) (year, month, day int) {
	d := int(p)
	return d / (13 * 32), d / 32 % 13, d % 32
}

// PackDateTime packs a date and a time of day with microseconds.
func PackDateTime(year, month, day, hour, min, sec, usec int) int64 {
	d := PackDate(year, month, day)
	return ((d*24+int64(hour))*60+int64(min))*60*1e6 + int64(sec)*1e6 + int64(usec)
}

// UnpackDateTime reverses PackDateTime.
func UnpackDateTime(p int64) (year, month, day, hour, min, sec, usec int) {
	usec = int(p % 1e6)
	p /= 1e6
	sec = int(p % 60)
	p /= 60
	min = int(p % 60)
	p /= 60
	hour = int(p % 24)
	year, month, day = UnpackDate(p / 24)
	return
}

// IsNull reports whether v is SQL NULL.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Uint returns v's bits as an unsigned integer (KindUint, KindBit, KindSet).
func (v Value) Uint() uint64 { return uint64(v.I) }

// Float64 returns the value of a FLOAT or DOUBLE.
func (v Value) Float64() float64 { return math.Float64frombits(uint64(v.I)) }

// Time returns a TIMESTAMP as a UTC time.Time, or a DATETIME/DATE read as UTC.
// Zero dates, which time.Time cannot hold, come back as the zero time.Time.
func (v Value) Time() time.Time {
	switch v.Kind {
	case KindTimestamp:
		if v.I == 0 {
			return time.Time{}
		}
		return time.UnixMicro(v.I).UTC()
	case KindDateTime:
		y, mo, d, h, mi, s, us := UnpackDateTime(v.I)
		if mo == 0 || d == 0 {
			return time.Time{}
		}
		return time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC)
	case KindDate:
		y, mo, d := UnpackDate(v.I)
		if mo == 0 || d == 0 {
			return time.Time{}
		}
		return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// Equal reports whether a and b are the same value of the same kind. FLOAT
// and DOUBLE compare by bits, so NaN equals itself and 0 differs from -0.
func (v Value) Equal(w Value) bool {
	if v.Kind != w.Kind {
		return false
	}
	switch v.Kind {
	case KindAbsent, KindNull:
		return true
	case KindDecimal, KindString, KindBytes, KindJSON, KindGeometry, KindVector:
		return bytes.Equal(v.B, w.B)
	case KindEnum, KindSet:
		return v.I == w.I && bytes.Equal(v.B, w.B)
	}
	return v.I == w.I
}

// Hash writes v into h so that Equal values hash alike.
func (v Value) Hash(h *maphash.Hash) {
	h.WriteByte(byte(v.Kind))
	switch v.Kind {
	case KindAbsent, KindNull:
	case KindDecimal, KindString, KindBytes, KindJSON, KindGeometry, KindVector, KindEnum, KindSet:
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(v.B)), byte(len(v.B)>>8), byte(len(v.B)>>16), byte(len(v.B)>>24)
		h.Write(n[:])
		h.Write(v.B)
	default:
		var n [8]byte
		u := uint64(v.I)
		for i := range n {
			n[i] = byte(u >> (8 * i))
		}
		h.Write(n[:])
	}
}

// Clone returns v with B copied, so that v no longer points into a decode
// buffer.
func (v Value) Clone() Value {
	if v.B != nil {
		v.B = append([]byte(nil), v.B...)
	}
	return v
}

// AppendText appends v formatted the way MySQL prints it in a result set:
// numbers in decimal, temporal values as 'YYYY-MM-DD hh:mm:ss.ffffff' with
// Frac digits (TIMESTAMP in UTC), strings and bytes raw, BIT as its integer.
// NULL and absent append nothing; check Kind first.
func (v Value) AppendText(dst []byte) []byte {
	switch v.Kind {
	case KindInt, KindYear:
		if v.Kind == KindYear && v.I == 0 {
			return append(dst, "0000"...)
		}
		return strconv.AppendInt(dst, v.I, 10)
	case KindUint, KindBit:
		return strconv.AppendUint(dst, uint64(v.I), 10)
	case KindFloat:
		return strconv.AppendFloat(dst, v.Float64(), 'g', -1, 32)
	case KindDouble:
		return strconv.AppendFloat(dst, v.Float64(), 'g', -1, 64)
	case KindDate:
		y, mo, d := UnpackDate(v.I)
		return appendDate(dst, y, mo, d)
	case KindDateTime:
		y, mo, d, h, mi, s, us := UnpackDateTime(v.I)
		dst = appendDate(dst, y, mo, d)
		dst = append(dst, ' ')
		return appendClock(dst, h, mi, s, us, v.Frac)
	case KindTimestamp:
		if v.I == 0 {
			dst = append(dst, "0000-00-00 00:00:00"...)
			return appendFrac(dst, 0, v.Frac)
		}
		t := time.UnixMicro(v.I).UTC()
		dst = appendDate(dst, t.Year(), int(t.Month()), t.Day())
		dst = append(dst, ' ')
		return appendClock(dst, t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000, v.Frac)
	case KindTime:
		us := v.I
		if us < 0 {
			dst = append(dst, '-')
			us = -us
		}
		secs := us / 1e6
		h := secs / 3600
		if h < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, h, 10)
		dst = append(dst, ':')
		dst = append2(dst, int(secs/60%60))
		dst = append(dst, ':')
		dst = append2(dst, int(secs%60))
		return appendFrac(dst, int(us%1e6), v.Frac)
	case KindAbsent, KindNull:
		return dst
	}
	return append(dst, v.B...)
}

// String formats v for messages: NULL as NULL, everything else as AppendText.
func (v Value) String() string {
	switch v.Kind {
	case KindNull:
		return "NULL"
	case KindAbsent:
		return "(absent)"
	}
	return string(v.AppendText(nil))
}

func appendDate(dst []byte, y, mo, d int) []byte {
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, '-')
	dst = append2(dst, mo)
	dst = append(dst, '-')
	return append2(dst, d)
}

func appendClock(dst []byte, h, mi, s, us int, frac uint8) []byte {
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	return appendFrac(dst, us, frac)
}

func appendFrac(dst []byte, us int, frac uint8) []byte {
	if frac == 0 {
		return dst
	}
	if frac > 6 {
		frac = 6
	}
	var buf [7]byte
	buf[0] = '.'
	for i := 6; i >= 1; i-- {
		buf[i] = byte('0' + us%10)
		us /= 10
	}
	return append(dst, buf[:1+frac]...)
}

func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10%10), byte('0'+n%10))
}

// Absent is the value of a column the row image did not carry.
func Absent() Value { return Value{Kind: KindAbsent} }
