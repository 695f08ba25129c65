package binlog

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/sluice-db/sluice/change"
)

// MySQL's binary JSON (sql-common/json_binary.cc) to JSON text, printed the
// way MySQL prints a JSON column: ", " between elements, ": " after keys,
// keys in their stored order, doubles with a ".0" when they look like
// integers, DECIMALs as bare numbers and temporal values as quoted strings.

const (
	jsonSmallObject = 0x00
	jsonLargeObject = 0x01
	jsonSmallArray  = 0x02
	jsonLargeArray  = 0x03
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonUint16      = 0x06
	jsonInt32       = 0x07
	jsonUint32      = 0x08
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
	jsonOpaque      = 0x0f
)

// maxJSONDepth is MySQL's JSON_DOCUMENT_MAX_DEPTH with room to spare; a
// deeper document is corrupt, and the limit keeps recursion bounded.
const maxJSONDepth = 150

var errJSONDepth = errors.New("json document nested too deeply")

// appendJSONText appends the text of the binary JSON document doc. An empty
// document (which MySQL writes for ” inserted in a non-strict sql_mode) is
// the JSON null literal, as MySQL reads it.
func appendJSONText(dst, doc []byte) ([]byte, error) {
	if len(doc) == 0 {
		return append(dst, "null"...), nil
	}
	return appendJSONValue(dst, doc[0], doc[1:], 0)
}

func appendJSONValue(dst []byte, t byte, data []byte, depth int) ([]byte, error) {
	switch t {
	case jsonSmallObject, jsonLargeObject, jsonSmallArray, jsonLargeArray:
		return appendJSONContainer(dst, t, data, depth)
	case jsonLiteral:
		if len(data) < 1 {
			return dst, fmt.Errorf("json literal: %w", errShort)
		}
		switch data[0] {
		case 0:
			return append(dst, "null"...), nil
		case 1:
			return append(dst, "true"...), nil
		case 2:
			return append(dst, "false"...), nil
		}
		return dst, fmt.Errorf("invalid json literal %d", data[0])
	case jsonInt16, jsonUint16, jsonInt32, jsonUint32, jsonInt64, jsonUint64:
		return appendJSONInt(dst, t, data)
	case jsonDouble:
		if len(data) < 8 {
			return dst, fmt.Errorf("json double: %w", errShort)
		}
		return appendMySQLDouble(dst, math.Float64frombits(binary.LittleEndian.Uint64(data))), nil
	case jsonString:
		s, err := jsonVarBytes(data)
		if err != nil {
			return dst, fmt.Errorf("json string: %w", err)
		}
		return appendMySQLJSONString(dst, s), nil
	case jsonOpaque:
		return appendJSONOpaque(dst, data)
	}
	return dst, fmt.Errorf("invalid json value type %#x", t)
}

func appendJSONInt(dst []byte, t byte, data []byte) ([]byte, error) {
	need := 8
	switch t {
	case jsonInt16, jsonUint16:
		need = 2
	case jsonInt32, jsonUint32:
		need = 4
	}
	if len(data) < need {
		return dst, fmt.Errorf("json integer: %w", errShort)
	}
	switch t {
	case jsonInt16:
		return strconv.AppendInt(dst, int64(int16(binary.LittleEndian.Uint16(data))), 10), nil
	case jsonUint16:
		return strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint16(data)), 10), nil
	case jsonInt32:
		return strconv.AppendInt(dst, int64(int32(binary.LittleEndian.Uint32(data))), 10), nil
	case jsonUint32:
		return strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(data)), 10), nil
	case jsonInt64:
		return strconv.AppendInt(dst, int64(binary.LittleEndian.Uint64(data)), 10), nil
	}
	return strconv.AppendUint(dst, binary.LittleEndian.Uint64(data), 10), nil
}

// jsonVarLen reads the variable-length length of strings and opaque values:
// 7 bits a byte, low bits first, at most 5 bytes.
func jsonVarLen(data []byte) (n, used int, err error) {
	var v uint64
	for i := 0; i < 5 && i < len(data); i++ {
		v |= uint64(data[i]&0x7f) << (7 * i)
		if data[i]&0x80 == 0 {
			if v > math.MaxUint32 {
				return 0, 0, fmt.Errorf("json length %d too large", v)
			}
			return int(v), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("json length: %w", errShort)
}

func jsonVarBytes(data []byte) ([]byte, error) {
	n, used, err := jsonVarLen(data)
	if err != nil {
		return nil, err
	}
	if n > len(data)-used {
		return nil, fmt.Errorf("json value of %d bytes, %d left: %w", n, len(data)-used, errShort)
	}
	return data[used : used+n], nil
}

// jsonInlined reports whether a value of type t is stored in its entry
// instead of at an offset: literals and 16-bit integers always, 32-bit
// integers in the large format.
func jsonInlined(t byte, large bool) bool {
	switch t {
	case jsonLiteral, jsonInt16, jsonUint16:
		return true
	case jsonInt32, jsonUint32:
		return large
	}
	return false
}

// jsonContainer is the parsed header of an object or array.
type jsonContainer struct {
	data       []byte // the container, from its count field, cut to its size
	large      bool
	object     bool
	count      int
	offsetSize int
}

func parseJSONContainer(t byte, data []byte) (jsonContainer, error) {
	c := jsonContainer{large: t == jsonLargeObject || t == jsonLargeArray, object: t == jsonSmallObject || t == jsonLargeObject}
	c.offsetSize = 2
	if c.large {
		c.offsetSize = 4
	}
	if len(data) < 2*c.offsetSize {
		return c, fmt.Errorf("json container header: %w", errShort)
	}
	var size int
	if c.large {
		c.count, size = int(binary.LittleEndian.Uint32(data)), int(binary.LittleEndian.Uint32(data[4:]))
	} else {
		c.count, size = int(binary.LittleEndian.Uint16(data)), int(binary.LittleEndian.Uint16(data[2:]))
	}
	if size > len(data) || size < 0 {
		return c, fmt.Errorf("json container of %d bytes, %d left: %w", size, len(data), errShort)
	}
	c.data = data[:size]
	entries := c.count * (1 + c.offsetSize)
	if c.object {
		entries += c.count * (c.offsetSize + 2)
	}
	if c.count < 0 || c.count > size || 2*c.offsetSize+entries > size {
		return c, fmt.Errorf("json container with %d elements does not fit its %d bytes", c.count, size)
	}
	return c, nil
}

func (c *jsonContainer) off(p int) int {
	if c.large {
		return int(binary.LittleEndian.Uint32(c.data[p:]))
	}
	return int(binary.LittleEndian.Uint16(c.data[p:]))
}

// key returns the i-th key of an object.
func (c *jsonContainer) key(i int) ([]byte, error) {
	p := 2*c.offsetSize + i*(c.offsetSize+2)
	ko := c.off(p)
	kl := int(binary.LittleEndian.Uint16(c.data[p+c.offsetSize:]))
	if ko < 0 || ko > len(c.data) || kl > len(c.data)-ko {
		return nil, fmt.Errorf("json key %d out of bounds", i)
	}
	return c.data[ko : ko+kl], nil
}

// value returns the type and data of the i-th element.
func (c *jsonContainer) value(i int) (byte, []byte, error) {
	p := 2 * c.offsetSize
	if c.object {
		p += c.count * (c.offsetSize + 2)
	}
	p += i * (1 + c.offsetSize)
	t := c.data[p]
	if jsonInlined(t, c.large) {
		return t, c.data[p+1 : p+1+c.offsetSize], nil
	}
	vo := c.off(p + 1)
	if vo < 0 || vo >= len(c.data) {
		return 0, nil, fmt.Errorf("json value %d out of bounds", i)
	}
	return t, c.data[vo:], nil
}

func appendJSONContainer(dst []byte, t byte, data []byte, depth int) ([]byte, error) {
	if depth >= maxJSONDepth {
		return dst, errJSONDepth
	}
	c, err := parseJSONContainer(t, data)
	if err != nil {
		return dst, err
	}
	open, close := byte('['), byte(']')
	if c.object {
		open, close = '{', '}'
	}
	dst = append(dst, open)
	for i := 0; i < c.count; i++ {
		if i > 0 {
			dst = append(dst, ',', ' ')
		}
		if c.object {
			k, err := c.key(i)
			if err != nil {
				return dst, err
			}
			dst = appendMySQLJSONString(dst, k)
			dst = append(dst, ':', ' ')
		}
		vt, vd, err := c.value(i)
		if err != nil {
			return dst, err
		}
		if dst, err = appendJSONValue(dst, vt, vd, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, close), nil
}

// appendJSONOpaque appends a value of a MySQL type JSON has no type for.
func appendJSONOpaque(dst, data []byte) ([]byte, error) {
	if len(data) < 1 {
		return dst, fmt.Errorf("json opaque type: %w", errShort)
	}
	ft := data[0]
	v, err := jsonVarBytes(data[1:])
	if err != nil {
		return dst, fmt.Errorf("json opaque value: %w", err)
	}
	switch ft {
	case TypeNewDecimal:
		if len(v) < 2 {
			return dst, fmt.Errorf("json decimal: %w", errShort)
		}
		prec, scale := int(v[0]), int(v[1])
		if err := validDecimal(prec, scale); err != nil {
			return dst, fmt.Errorf("json decimal: %w", err)
		}
		if len(v)-2 < decimalSize(prec, scale) {
			return dst, fmt.Errorf("json decimal: %w", errShort)
		}
		return appendDecimal(dst, v[2:], prec, scale), nil
	case TypeDate, TypeDateTime, TypeTimestamp, TypeTime:
		if len(v) < 8 {
			return dst, fmt.Errorf("json temporal: %w", errShort)
		}
		p := int64(binary.LittleEndian.Uint64(v))
		dst = append(dst, '"')
		if ft == TypeTime {
			dst = change.Time(packedTimeMicros(p), 6).AppendText(dst)
		} else {
			dt, ok := packedDateTime(p)
			if !ok {
				return dst, fmt.Errorf("json datetime %d out of range", p)
			}
			if ft == TypeDate {
				y, mo, d, _, _, _, _ := change.UnpackDateTime(dt)
				dst = change.Date(y, mo, d).AppendText(dst)
			} else {
				dst = change.Value{Kind: change.KindDateTime, Frac: 6, I: dt}.AppendText(dst)
			}
		}
		return append(dst, '"'), nil
	case TypeVarString:
		// MySQL prints strings that arrived as opaque VAR_STRING as strings.
		return appendMySQLJSONString(dst, v), nil
	}
	// Anything else prints as "base64:type<N>:<base64 of the bytes>".
	dst = append(dst, `"base64:type`...)
	dst = strconv.AppendUint(dst, uint64(ft), 10)
	dst = append(dst, ':')
	n := base64.StdEncoding.EncodedLen(len(v))
	start := len(dst)
	for i := 0; i < n; i++ {
		dst = append(dst, 0)
	}
	base64.StdEncoding.Encode(dst[start:], v)
	return append(dst, '"'), nil
}

// appendMySQLJSONString quotes s the way MySQL's JSON printer does: only '"',
// '\\' and control characters below 0x1f are escaped (0x1f itself is not, a
// quirk of MySQL's check), other bytes are copied as they are.
func appendMySQLJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x1f && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendMySQLDouble formats f as MySQL's my_gcvt does with the field width
// the JSON printer uses, then adds ".0" when the result has neither a point
// nor an exponent, so that it reads back as a double.
func appendMySQLDouble(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// JSON cannot hold these and MySQL never stores them.
		return append(dst, "null"...)
	}
	start := len(dst)
	dst = appendGcvt(dst, f)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// gcvtWidth is MY_GCVT_MAX_FIELD_WIDTH: DBL_DIG + 4 + MAX(5, DBL_DIG).
const gcvtWidth = 15 + 4 + 15

// maxDecptForF is MAX_DECPT_FOR_F_FORMAT (DBL_DIG).
const maxDecptForF = 15

// appendGcvt chooses between fixed and exponent notation for the shortest
// digits of f exactly as my_gcvt does for a field of gcvtWidth. With that
// width no digits are ever dropped, so only the choice of format matters.
func appendGcvt(dst []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	width := gcvtWidth
	neg := f < 0
	if neg {
		width--
		f = -f
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // d.ddde±XX
	var digits [20]byte
	nd := 0
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp, _ := strconv.Atoi(string(e[i+1:]))
	decpt := exp + 1
	expLen := 1
	if decpt >= 101 || decpt <= -99 {
		expLen++
	}
	if decpt >= 11 || decpt <= -9 {
		expLen++
	}
	var fLen int
	switch {
	case decpt <= 0:
		fLen = nd - decpt + 2
	case decpt < nd:
		fLen = nd + 1
	default:
		fLen = decpt
	}
	haveSpace := fLen <= width
	forceE := decpt <= 0 && width <= 2-decpt && width >= 3+expLen
	useF := (haveSpace || (decpt <= width && (decpt >= -1 || (decpt == -2 && (nd > 1 || !forceE))) && !forceE)) &&
		(!haveSpace || (decpt >= -maxDecptForF+1 && (decpt <= maxDecptForF || nd > decpt)))
	if neg {
		dst = append(dst, '-')
	}
	if useF {
		if decpt <= 0 {
			dst = append(dst, '0', '.')
			for j := decpt; j < 0; j++ {
				dst = append(dst, '0')
			}
			return append(dst, digits[:nd]...)
		}
		for j := 0; j < nd; j++ {
			dst = append(dst, digits[j])
			if j+1 == decpt && j+1 < nd {
				dst = append(dst, '.')
			}
		}
		for j := nd; j < decpt; j++ {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, digits[0])
	if nd > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:nd]...)
	}
	dst = append(dst, 'e')
	x := decpt - 1
	if x < 0 {
		dst = append(dst, '-')
		x = -x
	}
	return strconv.AppendInt(dst, int64(x), 10)
}
