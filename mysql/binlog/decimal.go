package binlog

import "fmt"

// MySQL's binary DECIMAL: the integer and fraction parts are each stored as
// groups of 9 decimal digits in 4 big-endian bytes, with a shorter leading
// (integer) or trailing (fraction) group for the remaining digits. The sign
// bit of the first byte is flipped, and a negative number has all its bytes
// inverted, so that the bytes sort like the numbers.

// digitsBytes[n] is the number of bytes that hold n (0..9) decimal digits.
var digitsBytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decimalSize returns the number of bytes of a DECIMAL(prec, scale).
func decimalSize(prec, scale int) int {
	intg := prec - scale
	return intg/9*4 + digitsBytes[intg%9] + scale/9*4 + digitsBytes[scale%9]
}

// validDecimal reports whether a DECIMAL(prec, scale) from a TABLE_MAP (or a
// JSON opaque value) can be decoded.
func validDecimal(prec, scale int) error {
	if prec < 1 || prec > 65 || scale < 0 || scale > 30 || scale > prec {
		return fmt.Errorf("invalid decimal(%d,%d)", prec, scale)
	}
	return nil
}

// appendDecimal appends the text of the binary decimal b (decimalSize bytes)
// to dst, exactly: "-" for negatives, no leading zeros (but "0" before the
// point), and exactly scale digits after it.
func appendDecimal(dst, b []byte, prec, scale int) []byte {
	intg := prec - scale
	lead := digitsBytes[intg%9]
	// The first byte's high bit is set for non-negative numbers.
	neg := b[0]&0x80 == 0
	var mask byte
	if neg {
		mask = 0xff
	}
	pos := 0
	// word reads n bytes big-endian, undoing the sign flip on the first one.
	word := func(n int) uint32 {
		var v uint32
		for i := 0; i < n; i++ {
			c := b[pos] ^ mask
			if pos == 0 {
				c ^= 0x80
			}
			v = v<<8 | uint32(c)
			pos++
		}
		return v
	}
	start := len(dst)
	if neg {
		dst = append(dst, '-')
	}
	digitsStart := len(dst)
	wrote := false // whether a significant integer digit was written
	emit := func(v uint32, width int) {
		var buf [9]byte
		for i := width - 1; i >= 0; i-- {
			buf[i] = byte('0' + v%10)
			v /= 10
		}
		if !wrote {
			// Skip leading zeros of the integer part.
			i := 0
			for i < width && buf[i] == '0' {
				i++
			}
			if i == width {
				return
			}
			wrote = true
			dst = append(dst, buf[i:width]...)
			return
		}
		dst = append(dst, buf[:width]...)
	}
	if lead > 0 {
		emit(word(lead)%pow10[intg%9], intg%9)
	}
	for i := 0; i < intg/9; i++ {
		emit(word(4)%1e9, 9)
	}
	if !wrote {
		dst = append(dst, '0')
	}
	allZero := !wrote
	if scale > 0 {
		dst = append(dst, '.')
		for i := 0; i < scale/9; i++ {
			v := word(4) % 1e9
			if v != 0 {
				allZero = false
			}
			dst = appendDigits(dst, v, 9)
		}
		if rem := scale % 9; rem > 0 {
			v := word(digitsBytes[rem]) % pow10[rem]
			if v != 0 {
				allZero = false
			}
			dst = appendDigits(dst, v, rem)
		}
	}
	if neg && allZero {
		// A negative zero is not a value MySQL prints; drop the sign.
		dst = append(dst[:start], dst[digitsStart:]...)
	}
	return dst
}

var pow10 = [10]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

func appendDigits(dst []byte, v uint32, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:width]...)
}
