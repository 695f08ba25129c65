package snapshot

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/sluice-db/sluice/change"
)

// appendKey appends a byte encoding of row's values in cols that is equal
// for two images of the same row, whether the value came from the binlog
// or from a chunk read. Kinds that differ only in how they were produced
// (a BINARY value read as bytes or as a string) encode alike.
func appendKey(dst []byte, row change.Row, cols []int) []byte {
	for _, c := range cols {
		v := row[c]
		switch v.Kind {
		case change.KindAbsent:
			dst = append(dst, 'a')
		case change.KindNull:
			dst = append(dst, 'z')
		case change.KindDecimal, change.KindString, change.KindBytes, change.KindJSON,
			change.KindGeometry, change.KindVector:
			dst = append(dst, 's')
			dst = binary.AppendUvarint(dst, uint64(len(v.B)))
			dst = append(dst, v.B...)
		default:
			// Numbers, temporal values (packed in I), BIT, and ENUM and SET
			// by their index or bitmap.
			dst = append(dst, 'n')
			dst = binary.BigEndian.AppendUint64(dst, uint64(v.I))
		}
	}
	return dst
}

// boundValue is one key value of a chunk bound as the target stores it in
// sluice.snapshot_chunk: a kind and its text (base64 for bytes).
type boundValue struct {
	K string `json:"k"`
	V string `json:"v,omitempty"`
	F uint8  `json:"f,omitempty"`
}

// encodeBound writes a chunk bound (key values) as JSON text; nil is SQL
// NULL, meaning "the table's start" or "its end".
func encodeBound(vals []change.Value) ([]byte, error) {
	if vals == nil {
		return nil, nil
	}
	out := make([]boundValue, len(vals))
	for i, v := range vals {
		bv := boundValue{K: v.Kind.String(), F: v.Frac}
		switch v.Kind {
		case change.KindNull:
		case change.KindAbsent:
			return nil, fmt.Errorf("encode chunk bound: key column %d is absent", i)
		case change.KindDecimal, change.KindString, change.KindBytes, change.KindJSON,
			change.KindGeometry, change.KindVector:
			bv.V = base64.StdEncoding.EncodeToString(v.B)
		case change.KindEnum, change.KindSet:
			bv.V = strconv.FormatInt(v.I, 10) + ":" + base64.StdEncoding.EncodeToString(v.B)
		default:
			bv.V = strconv.FormatInt(v.I, 10)
		}
		out[i] = bv
	}
	return json.Marshal(out)
}

var kindByName = func() map[string]change.Kind {
	m := map[string]change.Kind{}
	for k := change.KindAbsent; k <= change.KindVector; k++ {
		m[k.String()] = k
	}
	return m
}()

// decodeBound reads what encodeBound wrote.
func decodeBound(b []byte) ([]change.Value, error) {
	if b == nil {
		return nil, nil
	}
	var in []boundValue
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode chunk bound %q: %w", b, err)
	}
	out := make([]change.Value, len(in))
	for i, bv := range in {
		k, ok := kindByName[bv.K]
		if !ok || k == change.KindAbsent {
			return nil, fmt.Errorf("decode chunk bound %q: unknown kind %q", b, bv.K)
		}
		v := change.Value{Kind: k, Frac: bv.F}
		var err error
		switch k {
		case change.KindNull:
		case change.KindDecimal, change.KindString, change.KindBytes, change.KindJSON,
			change.KindGeometry, change.KindVector:
			v.B, err = base64.StdEncoding.DecodeString(bv.V)
		case change.KindEnum, change.KindSet:
			n, rest, found := cut(bv.V, ':')
			if !found {
				err = fmt.Errorf("want index:text")
				break
			}
			if v.I, err = strconv.ParseInt(n, 10, 64); err == nil {
				v.B, err = base64.StdEncoding.DecodeString(rest)
			}
		default:
			v.I, err = strconv.ParseInt(bv.V, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("decode chunk bound %q: value %d: %w", b, i, err)
		}
		if v.B == nil && (k == change.KindString || k == change.KindBytes || k == change.KindDecimal) {
			v.B = []byte{}
		}
		out[i] = v
	}
	return out, nil
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// addInt adds n to an integer key value, saturating at the type's range;
// ok is false when it saturated.
func addInt(v change.Value, n uint64) (change.Value, bool) {
	if v.Kind == change.KindUint {
		u := uint64(v.I)
		if u > math.MaxUint64-n {
			return change.Uint(math.MaxUint64), false
		}
		return change.Uint(u + n), true
	}
	if n > math.MaxInt64 || v.I > math.MaxInt64-int64(n) {
		return change.Int(math.MaxInt64), false
	}
	return change.Int(v.I + int64(n)), true
}

// intLess reports a < b for two integer values of one column.
func intLess(a, b change.Value) bool {
	if a.Kind == change.KindUint {
		return uint64(a.I) < uint64(b.I)
	}
	return a.I < b.I
}
