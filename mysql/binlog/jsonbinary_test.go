package binlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"testing"
)

// encodeJSON writes a JSON text as MySQL's binary JSON, choosing types as
// the server does (smallest integer type, small containers when they fit),
// for tests of the decoder and the diff applier.
func encodeJSON(t testing.TB, text string) []byte {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(text)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("test json %q: %v", text, err)
	}
	typ, data := encodeJSONValue(v)
	return append([]byte{typ}, data...)
}

func encodeJSONValue(v any) (byte, []byte) {
	switch x := v.(type) {
	case nil:
		return jsonLiteral, []byte{0}
	case bool:
		if x {
			return jsonLiteral, []byte{1}
		}
		return jsonLiteral, []byte{2}
	case string:
		return jsonString, appendJSONVarString(nil, []byte(x))
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			switch {
			case i >= math.MinInt16 && i <= math.MaxInt16:
				return jsonInt16, binary.LittleEndian.AppendUint16(nil, uint16(i))
			case i >= math.MinInt32 && i <= math.MaxInt32:
				return jsonInt32, binary.LittleEndian.AppendUint32(nil, uint32(i))
			}
			return jsonInt64, binary.LittleEndian.AppendUint64(nil, uint64(i))
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return jsonUint64, binary.LittleEndian.AppendUint64(nil, u)
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return jsonDouble, binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))
	case []any:
		for _, large := range []bool{false, true} {
			if b, ok := encodeJSONContainer(false, large, nil, x); ok {
				t := byte(jsonSmallArray)
				if large {
					t = jsonLargeArray
				}
				return t, b
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keyLess([]byte(keys[i]), []byte(keys[j])) })
		vals := make([]any, len(keys))
		for i, k := range keys {
			vals[i] = x[k]
		}
		for _, large := range []bool{false, true} {
			if b, ok := encodeJSONContainer(true, large, keys, vals); ok {
				t := byte(jsonSmallObject)
				if large {
					t = jsonLargeObject
				}
				return t, b
			}
		}
	}
	panic("unencodable test json")
}

func appendJSONVarString(b, s []byte) []byte {
	n := len(s)
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			b = append(b, c)
			break
		}
		b = append(b, c|0x80)
	}
	return append(b, s...)
}

func encodeJSONContainer(object, large bool, keys []string, vals []any) ([]byte, bool) {
	off := 2
	if large {
		off = 4
	}
	n := len(vals)
	pos := 2 * off
	if object {
		pos += n * (off + 2)
	}
	valEntries := pos
	pos += n * (1 + off)
	buf := make([]byte, pos)
	put := func(p, v int) {
		if large {
			binary.LittleEndian.PutUint32(buf[p:], uint32(v))
		} else {
			binary.LittleEndian.PutUint16(buf[p:], uint16(v))
		}
	}
	for i, k := range keys {
		e := 2*off + i*(off+2)
		put(e, len(buf))
		binary.LittleEndian.PutUint16(buf[e+off:], uint16(len(k)))
		buf = append(buf, k...)
	}
	for i, v := range vals {
		t, d := encodeJSONValue(v)
		e := valEntries + i*(1+off)
		buf[e] = t
		if jsonInlined(t, large) {
			copy(buf[e+1:e+1+off], d)
			continue
		}
		put(e+1, len(buf))
		buf = append(buf, d...)
	}
	if !large && len(buf) > math.MaxUint16 {
		return nil, false
	}
	put(0, n)
	put(off, len(buf))
	return buf, true
}

// TestJSONText: binary JSON prints as MySQL prints a JSON column.
func TestJSONText(t *testing.T) {
	cases := []struct{ in, want string }{
		{`null`, `null`},
		{`true`, `true`},
		{`false`, `false`},
		{`0`, `0`},
		{`-32768`, `-32768`},
		{`65535`, `65535`},
		{`-2147483648`, `-2147483648`},
		{`9223372036854775807`, `9223372036854775807`},
		{`18446744073709551615`, `18446744073709551615`},
		{`"x\"y\\z\n\t\u0001\u001f é😀"`, "\"x\\\"y\\\\z\\n\\t\\u0001\x1f é😀\""},
		{`{}`, `{}`},
		{`[]`, `[]`},
		{`{"b": 1, "a": [1, "two", null, {"c": true}], "aa": -1.5}`, `{"a": [1, "two", null, {"c": true}], "b": 1, "aa": -1.5}`},
		{`[1.0, 0.1, 1e15, 1e14, 123456789012345678, 1.5e-15, 1e-16, 3e300, -2.5, 100, 0.0001, -0.0]`,
			`[1.0, 0.1, 1e15, 100000000000000.0, 123456789012345678, 0.0000000000000015, 1e-16, 3e300, -2.5, 100, 0.0001, -0.0]`},
		{`[1e21, 1.25e-5, 12345.678]`, `[1e21, 0.0000125, 12345.678]`},
	}
	for _, c := range cases {
		got, err := appendJSONText(nil, encodeJSON(t, c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// A large object (over 64 KiB) uses 4-byte offsets.
	big := `{"k": "` + string(bytes.Repeat([]byte("v"), 70000)) + `", "n": 5}`
	doc := encodeJSON(t, big)
	if doc[0] != jsonLargeObject {
		t.Fatalf("type %d, want large object", doc[0])
	}
	got, err := appendJSONText(nil, doc)
	if err != nil || !jsonEquivalent(string(got), big) {
		t.Errorf("large object: %v", err)
	}
	// An empty document is the null literal.
	if got, _ := appendJSONText(nil, nil); string(got) != "null" {
		t.Errorf("empty document: %s", got)
	}
}

// TestJSONOpaque: values of MySQL types JSON has no type for.
func TestJSONOpaque(t *testing.T) {
	opaque := func(ft byte, data []byte) []byte {
		return append([]byte{jsonOpaque, ft}, appendJSONVarString(nil, data)...)
	}
	le := func(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
	// Packed temporal values as MySQL keeps them in memory.
	dt := func(y, mo, d, h, mi, s, us int64) int64 {
		return (((y*13+mo)<<5|d)<<17|h<<12|mi<<6|s)<<24 + us
	}
	tm := func(neg bool, h, mi, s, us int64) int64 {
		v := (h<<12|mi<<6|s)<<24 + us
		if neg {
			return -v
		}
		return v
	}
	dec := []byte{5, 2, 0x80, 0x7b, 0x2d} // DECIMAL(5,2) 123.45: sign bit set, 123 in 2 bytes, 45 in 1
	cases := []struct {
		doc  []byte
		want string
	}{
		{opaque(TypeNewDecimal, dec), `123.45`},
		{opaque(TypeDate, le(dt(2012, 3, 18, 0, 0, 0, 0))), `"2012-03-18"`},
		{opaque(TypeDateTime, le(dt(2012, 3, 18, 11, 30, 45, 5))), `"2012-03-18 11:30:45.000005"`},
		{opaque(TypeTimestamp, le(dt(1999, 12, 31, 23, 59, 59, 999999))), `"1999-12-31 23:59:59.999999"`},
		{opaque(TypeTime, le(tm(true, 838, 59, 59, 0))), `"-838:59:59.000000"`},
		{opaque(TypeTime, le(tm(false, 1, 2, 3, 400000))), `"01:02:03.400000"`},
		{opaque(TypeVarString, []byte("s")), `"s"`},
		{opaque(TypeBlob, []byte{0, 1, 2}), `"base64:type252:AAEC"`},
		{opaque(TypeBit, []byte{0x55}), `"base64:type16:VQ=="`},
	}
	for _, c := range cases {
		got, err := appendJSONText(nil, c.doc)
		if err != nil || string(got) != c.want {
			t.Errorf("% x: %s (%v), want %s", c.doc, got, err, c.want)
		}
	}
}

// TestJSONCorrupt: corrupt documents give errors, never a panic.
func TestJSONCorrupt(t *testing.T) {
	good := encodeJSON(t, `{"a": [1, 2, {"b": "c"}], "d": "eeee"}`)
	for n := 1; n < len(good); n++ {
		if _, err := appendJSONText(nil, good[:n]); err == nil {
			t.Errorf("document cut to %d bytes decoded without error", n)
		}
	}
	deep := bytes.Repeat([]byte("["), maxJSONDepth+1)
	doc := encodeJSON(t, string(deep)+string(bytes.Repeat([]byte("]"), maxJSONDepth+1)))
	if _, err := appendJSONText(nil, doc); err == nil {
		t.Errorf("document nested %d deep decoded without error", maxJSONDepth+1)
	}
	for _, doc := range [][]byte{{0x0e}, {jsonLiteral, 9}, {jsonSmallObject, 1, 0, 2, 0}, {jsonString, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := appendJSONText(nil, doc); err == nil {
			t.Errorf("% x decoded without error", doc)
		}
	}
}
