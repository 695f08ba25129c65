package binlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PARTIAL_UPDATE_ROWS events (binlog_row_value_options=PARTIAL_JSON) carry
// a JSON column of the after image as a list of diffs against the before
// image: JSON_REPLACE, JSON_INSERT / JSON_ARRAY_INSERT and JSON_REMOVE at a
// path. This file reads the diffs and applies them to a small tree built
// from the before image's binary JSON.

// JSONDiffOp is what a JSONDiff does at its path.
type JSONDiffOp uint8

const (
	JSONReplace JSONDiffOp = 0
	JSONInsert  JSONDiffOp = 1
	JSONRemove  JSONDiffOp = 2
)

func (o JSONDiffOp) String() string {
	switch o {
	case JSONReplace:
		return "replace"
	case JSONInsert:
		return "insert"
	case JSONRemove:
		return "remove"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// JSONDiff is one change of a partial JSON update.
type JSONDiff struct {
	Op   JSONDiffOp
	Path string // a MySQL JSON path such as $.a[2]."b c"
	// Value is the new value in MySQL's binary JSON (nil for a remove); see
	// ValueText.
	Value []byte
}

// ValueText returns Value as JSON text.
func (d JSONDiff) ValueText() (string, error) {
	if d.Op == JSONRemove {
		return "", nil
	}
	b, err := appendJSONText(nil, d.Value)
	return string(b), err
}

var errCorruptDiff = errors.New("corrupted json diff")

// parseJSONDiffs reads a diff list: for each diff, the operation byte, the
// path (packed length and bytes) and, except for a remove, the value
// (packed length and binary JSON).
func parseJSONDiffs(b []byte) ([]JSONDiff, error) {
	r := reader{b: b}
	var out []JSONDiff
	for r.left() > 0 {
		op := JSONDiffOp(r.u8("json diff operation"))
		if op > JSONRemove {
			return nil, fmt.Errorf("%w: unknown operation %d", errCorruptDiff, op)
		}
		d := JSONDiff{Op: op, Path: string(r.packedBytes("json diff path"))}
		if op != JSONRemove {
			d.Value = r.packedBytes("json diff value")
		}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, d)
	}
	return out, nil
}

// jsonNode is a JSON value as a tree. Scalars keep their printed text.
type jsonNode struct {
	object, array bool
	keys          [][]byte
	vals          []*jsonNode
	text          []byte
}

func buildJSONNode(t byte, data []byte, depth int) (*jsonNode, error) {
	switch t {
	case jsonSmallObject, jsonLargeObject, jsonSmallArray, jsonLargeArray:
		if depth >= maxJSONDepth {
			return nil, errJSONDepth
		}
		c, err := parseJSONContainer(t, data)
		if err != nil {
			return nil, err
		}
		n := &jsonNode{object: c.object, array: !c.object, vals: make([]*jsonNode, c.count)}
		if c.object {
			n.keys = make([][]byte, c.count)
		}
		for i := 0; i < c.count; i++ {
			if c.object {
				if n.keys[i], err = c.key(i); err != nil {
					return nil, err
				}
			}
			vt, vd, err := c.value(i)
			if err != nil {
				return nil, err
			}
			if n.vals[i], err = buildJSONNode(vt, vd, depth+1); err != nil {
				return nil, err
			}
		}
		return n, nil
	}
	text, err := appendJSONValue(nil, t, data, depth)
	if err != nil {
		return nil, err
	}
	return &jsonNode{text: text}, nil
}

func buildJSONDoc(doc []byte) (*jsonNode, error) {
	if len(doc) == 0 {
		return &jsonNode{text: []byte("null")}, nil
	}
	return buildJSONNode(doc[0], doc[1:], 0)
}

func appendJSONNode(dst []byte, n *jsonNode) []byte {
	switch {
	case n.object:
		dst = append(dst, '{')
		for i, k := range n.keys {
			if i > 0 {
				dst = append(dst, ',', ' ')
			}
			dst = appendMySQLJSONString(dst, k)
			dst = append(dst, ':', ' ')
			dst = appendJSONNode(dst, n.vals[i])
		}
		return append(dst, '}')
	case n.array:
		dst = append(dst, '[')
		for i, v := range n.vals {
			if i > 0 {
				dst = append(dst, ',', ' ')
			}
			dst = appendJSONNode(dst, v)
		}
		return append(dst, ']')
	}
	return append(dst, n.text...)
}

// keyLess orders object keys as MySQL stores them: shorter first, then
// bytewise.
func keyLess(a, b []byte) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return bytes.Compare(a, b) < 0
}

// pathLeg is one step of a JSON path: a member name or an array index
// (fromEnd counts back from the last element, as in [last-N]).
type pathLeg struct {
	key     []byte
	isKey   bool
	index   int
	fromEnd bool
}

func parseJSONPath(p string) ([]pathLeg, error) {
	bad := func(why string) error { return fmt.Errorf("%w: path %q: %s", errCorruptDiff, p, why) }
	if len(p) == 0 || p[0] != '$' {
		return nil, bad("does not start with $")
	}
	var legs []pathLeg
	i := 1
	for i < len(p) {
		switch p[i] {
		case ' ':
			i++
		case '.':
			i++
			if i < len(p) && p[i] == '"' {
				j := i + 1
				for j < len(p) && p[j] != '"' {
					if p[j] == '\\' {
						j++
					}
					j++
				}
				if j >= len(p) {
					return nil, bad("unterminated quoted member")
				}
				var k string
				if err := json.Unmarshal([]byte(p[i:j+1]), &k); err != nil {
					return nil, bad("invalid quoted member")
				}
				legs = append(legs, pathLeg{key: []byte(k), isKey: true})
				i = j + 1
				continue
			}
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			if j == i {
				return nil, bad("empty member name")
			}
			legs = append(legs, pathLeg{key: []byte(p[i:j]), isKey: true})
			i = j
		case '[':
			j := i + 1
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				return nil, bad("unterminated array index")
			}
			s := string(bytes.TrimSpace([]byte(p[i+1 : j])))
			leg := pathLeg{}
			if rest, ok := cutPrefix(s, "last"); ok {
				leg.fromEnd = true
				rest = string(bytes.TrimSpace([]byte(rest)))
				if rest != "" {
					r2, ok := cutPrefix(rest, "-")
					if !ok {
						return nil, bad("invalid last index")
					}
					n, err := strconv.Atoi(string(bytes.TrimSpace([]byte(r2))))
					if err != nil || n < 0 {
						return nil, bad("invalid last index")
					}
					leg.index = n
				}
			} else {
				n, err := strconv.Atoi(s)
				if err != nil || n < 0 {
					return nil, bad("invalid array index")
				}
				leg.index = n
			}
			legs = append(legs, leg)
			i = j + 1
		default:
			return nil, bad("unexpected character")
		}
	}
	return legs, nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

func (l pathLeg) arrayIndex(n int) int {
	if l.fromEnd {
		return n - 1 - l.index
	}
	return l.index
}

func (n *jsonNode) find(key []byte) int {
	for i, k := range n.keys {
		if bytes.Equal(k, key) {
			return i
		}
	}
	return -1
}

// step follows one leg from *slot and returns the slot of the child.
// A scalar or object addressed as [0] is its own element, as in MySQL.
func step(slot **jsonNode, l pathLeg) (**jsonNode, error) {
	n := *slot
	if l.isKey {
		if !n.object {
			return nil, errCorruptDiff
		}
		i := n.find(l.key)
		if i < 0 {
			return nil, errCorruptDiff
		}
		return &n.vals[i], nil
	}
	if !n.array {
		if l.arrayIndex(1) == 0 {
			return slot, nil
		}
		return nil, errCorruptDiff
	}
	i := l.arrayIndex(len(n.vals))
	if i < 0 || i >= len(n.vals) {
		return nil, errCorruptDiff
	}
	return &n.vals[i], nil
}

// applyJSONDiff changes the document in *root as d says.
func applyJSONDiff(root **jsonNode, d JSONDiff) error {
	legs, err := parseJSONPath(d.Path)
	if err != nil {
		return err
	}
	var val *jsonNode
	if d.Op != JSONRemove {
		if val, err = buildJSONDoc(d.Value); err != nil {
			return fmt.Errorf("json diff value at %s: %w", d.Path, err)
		}
	}
	if len(legs) == 0 {
		if d.Op != JSONReplace {
			return fmt.Errorf("%w: %s of the whole document", errCorruptDiff, d.Op)
		}
		*root = val
		return nil
	}
	slot := root
	for _, l := range legs[:len(legs)-1] {
		if slot, err = step(slot, l); err != nil {
			return fmt.Errorf("%w: %s at %s: no such path in the before image", errCorruptDiff, d.Op, d.Path)
		}
	}
	parent := *slot
	last := legs[len(legs)-1]
	fail := func() error {
		return fmt.Errorf("%w: %s at %s does not fit the before image", errCorruptDiff, d.Op, d.Path)
	}
	switch d.Op {
	case JSONReplace:
		child, err := step(slot, last)
		if err != nil {
			return fail()
		}
		*child = val
	case JSONInsert:
		if last.isKey {
			if !parent.object || parent.find(last.key) >= 0 {
				return fail()
			}
			i := 0
			for i < len(parent.keys) && keyLess(parent.keys[i], last.key) {
				i++
			}
			parent.keys = append(parent.keys, nil)
			copy(parent.keys[i+1:], parent.keys[i:])
			parent.keys[i] = last.key
			parent.vals = append(parent.vals, nil)
			copy(parent.vals[i+1:], parent.vals[i:])
			parent.vals[i] = val
			return nil
		}
		if !parent.array {
			return fail()
		}
		i := last.arrayIndex(len(parent.vals))
		if i < 0 {
			return fail()
		}
		if i > len(parent.vals) {
			i = len(parent.vals)
		}
		parent.vals = append(parent.vals, nil)
		copy(parent.vals[i+1:], parent.vals[i:])
		parent.vals[i] = val
	case JSONRemove:
		if last.isKey {
			i := -1
			if parent.object {
				i = parent.find(last.key)
			}
			if i < 0 {
				return fail()
			}
			parent.keys = append(parent.keys[:i], parent.keys[i+1:]...)
			parent.vals = append(parent.vals[:i], parent.vals[i+1:]...)
			return nil
		}
		if !parent.array {
			return fail()
		}
		i := last.arrayIndex(len(parent.vals))
		if i < 0 || i >= len(parent.vals) {
			return fail()
		}
		parent.vals = append(parent.vals[:i], parent.vals[i+1:]...)
	}
	return nil
}

// applyJSONDiffs applies diffs to the binary JSON document before and
// appends the resulting JSON text to dst.
func applyJSONDiffs(dst, before []byte, diffs []JSONDiff) ([]byte, error) {
	root, err := buildJSONDoc(before)
	if err != nil {
		return dst, fmt.Errorf("json before image: %w", err)
	}
	for _, d := range diffs {
		if err := applyJSONDiff(&root, d); err != nil {
			return dst, err
		}
	}
	return appendJSONNode(dst, root), nil
}
