package binlog

import (
	"encoding/binary"
	"fmt"

	"github.com/sluice-db/sluice/change"
)

// Temporal values in rows events, old (pre-5.6) and new ("2") formats. All
// of them become the packed or microsecond forms change.Value defines; none
// of them goes through time.Time, so zero dates and out-of-range values
// survive and no time zone is applied.

// fracBytes is how many bytes the fractional part of a TIME2, DATETIME2 or
// TIMESTAMP2 with fsp digits takes.
func fracBytes(fsp uint8) int { return int(fsp+1) / 2 }

// readFrac reads the fractional part of a *2 temporal value as microseconds.
// Positive values only; TIME2 handles its negative case itself.
func readFrac(b []byte, fsp uint8) int64 {
	switch fracBytes(fsp) {
	case 1:
		return int64(b[0]) * 10000
	case 2:
		return int64(binary.BigEndian.Uint16(b)) * 100
	case 3:
		return int64(b[0])<<16 | int64(b[1])<<8 | int64(b[2])
	}
	return 0
}

// decodeDate decodes a 3-byte DATE: day in the low 5 bits, month in the next
// 4, year above.
func decodeDate(b []byte) int64 {
	v := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	return change.PackDate(v>>9, v>>5&15, v&31)
}

// decodeDateTime2 decodes a DATETIME2: 5 big-endian bytes holding
// 1 sign bit, 17 bits of year*13+month, 5 of day, 5 of hour, 6 of minute and
// 6 of second, offset by 0x8000000000, then the fraction.
func decodeDateTime2(b []byte, fsp uint8) (int64, error) {
	ip := int64(beUint(b[:5])) - 0x8000000000
	if ip < 0 {
		// MySQL never stores negative DATETIME values.
		return 0, fmt.Errorf("negative datetime2 %d", ip)
	}
	us := readFrac(b[5:], fsp)
	ymd := ip >> 17
	ym := ymd >> 5
	hms := ip & 0x1ffff
	return change.PackDateTime(int(ym/13), int(ym%13), int(ymd&31),
		int(hms>>12), int(hms>>6&63), int(hms&63), int(us)), nil
}

// decodeDateTimeOld decodes a pre-5.6 DATETIME: a little-endian integer
// YYYYMMDDhhmmss.
func decodeDateTimeOld(b []byte) int64 {
	v := binary.LittleEndian.Uint64(b)
	d, t := v/1000000, v%1000000
	return change.PackDateTime(int(d/10000), int(d/100%100), int(d%100),
		int(t/10000), int(t/100%100), int(t%100), 0)
}

// decodeTimestamp2 decodes a TIMESTAMP2: big-endian seconds since the epoch
// (UTC) and the fraction. 0 is the zero timestamp.
func decodeTimestamp2(b []byte, fsp uint8) int64 {
	sec := int64(binary.BigEndian.Uint32(b))
	return sec*1e6 + readFrac(b[4:], fsp)
}

// decodeTime2 decodes a TIME2 into signed microseconds. The value is stored
// as 1 sign bit, 1 unused bit, 10 bits of hour, 6 of minute and 6 of second,
// offset by 0x800000, followed by the fraction; negative values store the
// fraction as its complement so that the bytes sort like the times.
func decodeTime2(b []byte, fsp uint8) int64 {
	ip := int64(b[0])<<16 | int64(b[1])<<8 | int64(b[2])
	ip -= 0x800000
	var frac int64
	switch fracBytes(fsp) {
	case 1:
		frac = int64(b[3])
		if ip < 0 && frac != 0 {
			ip++
			frac -= 0x100
		}
		frac *= 10000
	case 2:
		frac = int64(binary.BigEndian.Uint16(b[3:]))
		if ip < 0 && frac != 0 {
			ip++
			frac -= 0x10000
		}
		frac *= 100
	case 3:
		// With 6 bytes the whole value is one offset integer.
		v := int64(beUint(b[:6])) - 0x800000000000
		return packedTimeMicros(v)
	}
	return packedTimeMicros(ip<<24 + frac)
}

// packedTimeMicros converts MySQL's in-memory packed TIME (hms<<24 | micros,
// negated for negative times) to signed microseconds. JSON opaque TIME
// values use the same form.
func packedTimeMicros(p int64) int64 {
	neg := p < 0
	if neg {
		p = -p
	}
	us := p & 0xffffff
	hms := p >> 24
	h, m, s := hms>>12&0x3ff, hms>>6&63, hms&63
	v := ((h*60+m)*60+s)*1e6 + us
	if neg {
		v = -v
	}
	return v
}

// decodeTimeOld decodes a pre-5.6 TIME: a signed 3-byte integer ±HHMMSS.
func decodeTimeOld(b []byte) int64 {
	v := int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16) << 8 >> 8
	neg := v < 0
	if neg {
		v = -v
	}
	us := (int64(v/10000)*3600 + int64(v/100%100)*60 + int64(v%100)) * 1e6
	if neg {
		us = -us
	}
	return us
}

// packedDateTime converts MySQL's in-memory packed DATETIME (as JSON opaque
// DATE, DATETIME and TIMESTAMP values store it) to change's packed form.
func packedDateTime(p int64) (int64, bool) {
	if p < 0 {
		p = -p
	}
	us := p & 0xffffff
	ip := p >> 24
	ymd := ip >> 17
	ym := ymd >> 5
	hms := ip & 0x1ffff
	y, mo, d := ym/13, ym%13, ymd&31
	if y > 9999 {
		return 0, false
	}
	return change.PackDateTime(int(y), int(mo), int(d), int(hms>>12), int(hms>>6&63), int(hms&63), int(us)), true
}

// MariaDB 5.3 "hires" temporal formats: TIME(n), DATETIME(n) and
// TIMESTAMP(n) with n > 0 created while mysql56_temporal_format=OFF. The
// TABLE_MAP shows them as the old TIME, DATETIME and TIMESTAMP types with no
// metadata, so only the table definition's precision tells them apart.

var (
	timeHiresBytes     = [7]int{3, 4, 4, 5, 5, 5, 6}
	datetimeHiresBytes = [7]int{5, 6, 6, 7, 7, 7, 8}
	secPartBytes       = [7]int{0, 1, 1, 2, 2, 3, 3}
	pow10i64           = [7]int64{1, 10, 100, 1000, 10000, 100000, 1000000}
)

// timeMaxMicros is (TIME_MAX_VALUE_SECONDS+1) in microseconds, the offset
// MariaDB adds so that negative hires times store as unsigned.
const timeMaxMicros = (838*3600 + 59*60 + 59 + 1) * 1e6

// decodeTimeHires decodes a MariaDB hires TIME into signed microseconds.
func decodeTimeHires(b []byte, dec uint8) int64 {
	scale := pow10i64[6-dec]
	v := int64(beUint(b[:timeHiresBytes[dec]])) - timeMaxMicros/scale
	return v * scale
}

// decodeDateTimeHires decodes a MariaDB hires DATETIME. Its packed form,
// once scaled to microseconds, is change's packed DATETIME.
func decodeDateTimeHires(b []byte, dec uint8) int64 {
	return int64(beUint(b[:datetimeHiresBytes[dec]])) * pow10i64[6-dec]
}

// decodeTimestampHires decodes a MariaDB hires TIMESTAMP.
func decodeTimestampHires(b []byte, dec uint8) int64 {
	sec := int64(binary.BigEndian.Uint32(b))
	frac := int64(beUint(b[4 : 4+secPartBytes[dec]]))
	return sec*1e6 + frac*pow10i64[6-dec]
}
