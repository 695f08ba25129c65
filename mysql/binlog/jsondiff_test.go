package binlog

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/sluice-db/sluice/change"
)

type testDiff struct {
	op    JSONDiffOp
	path  string
	value string // JSON text, empty for a remove
}

func encodeDiffs(t testing.TB, diffs []testDiff) []byte {
	var b []byte
	for _, d := range diffs {
		b = append(b, byte(d.op))
		b = appendPacked(b, uint64(len(d.path)))
		b = append(b, d.path...)
		if d.op != JSONRemove {
			v := encodeJSON(t, d.value)
			b = appendPacked(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// TestApplyJSONDiffs: diffs have the effect of JSON_REPLACE, JSON_INSERT /
// JSON_ARRAY_INSERT and JSON_REMOVE, and new object members take their
// place in MySQL's key order.
func TestApplyJSONDiffs(t *testing.T) {
	before := `{"a": 1, "b": [1, 2, 3], "c": {"d": "x", "k y": 0}, "zz": null}`
	cases := []struct {
		name  string
		diffs []testDiff
		want  string
	}{
		{"replace member", []testDiff{{JSONReplace, "$.a", "2"}}, `{"a": 2, "b": [1, 2, 3], "c": {"d": "x", "k y": 0}, "zz": null}`},
		{"array insert, last", []testDiff{{JSONInsert, "$.b[1]", "9"}, {JSONReplace, "$.b[last]", "0"}}, `{"a": 1, "b": [1, 9, 2, 0], "c": {"d": "x", "k y": 0}, "zz": null}`},
		{"array insert past the end appends", []testDiff{{JSONInsert, "$.b[10]", `"end"`}}, `{"a": 1, "b": [1, 2, 3, "end"], "c": {"d": "x", "k y": 0}, "zz": null}`},
		{"remove and quoted member", []testDiff{{JSONRemove, "$.c.d", ""}, {JSONReplace, `$.c."k y"`, `[true]`}}, `{"a": 1, "b": [1, 2, 3], "c": {"k y": [true]}, "zz": null}`},
		{"insert member in key order", []testDiff{{JSONInsert, "$.e", `"new"`}, {JSONInsert, "$.aaa", "{}"}}, `{"a": 1, "b": [1, 2, 3], "c": {"d": "x", "k y": 0}, "e": "new", "zz": null, "aaa": {}}`},
		{"remove from array", []testDiff{{JSONRemove, "$.b[0]", ""}, {JSONRemove, "$.b[last]", ""}}, `{"a": 1, "b": [2], "c": {"d": "x", "k y": 0}, "zz": null}`},
		{"replace whole document", []testDiff{{JSONReplace, "$", `[1]`}}, `[1]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diffs, err := parseJSONDiffs(encodeDiffs(t, c.diffs))
			if err != nil {
				t.Fatal(err)
			}
			got, err := applyJSONDiffs(nil, encodeJSON(t, before), diffs)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
	for _, bad := range [][]testDiff{
		{{JSONReplace, "$.nope", "1"}},
		{{JSONRemove, "$.b[7]", ""}},
		{{JSONInsert, "$.a", "1"}},
		{{JSONReplace, "$.a.b", "1"}},
		{{JSONReplace, "a", "1"}},
		{{JSONReplace, "$[x]", "1"}},
	} {
		diffs, err := parseJSONDiffs(encodeDiffs(t, bad))
		if err == nil {
			_, err = applyJSONDiffs(nil, encodeJSON(t, before), diffs)
		}
		if !errors.Is(err, errCorruptDiff) {
			t.Errorf("%+v: error %v, want a corrupted diff", bad, err)
		}
	}
}

// TestPartialUpdateRowsEvent decodes a PARTIAL_UPDATE_ROWS event whose
// before image carries the JSON column (binlog_row_image=FULL): the after
// image is the before image with the diffs applied. A second column of the
// same row is written in full and a third row is not partial at all.
func TestPartialUpdateRowsEvent(t *testing.T) {
	b := newEventBuilder()
	tm := b.tableMap(tableMapSpec{id: 7, schema: "s", table: "t", types: []byte{TypeLong, TypeJSON, TypeJSON}, meta: []byte{4, 4}, nullable: []bool{false, true, true}})
	jsonCol := func(doc []byte) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(doc))), doc...)
	}
	beforeDoc := encodeJSON(t, `{"n": 1, "tags": ["a"]}`)
	diffs := encodeDiffs(t, []testDiff{{JSONReplace, "$.n", "2"}, {JSONInsert, "$.tags[1]", `"b"`}})
	var rows []byte
	// Row 1: j1 partial, j2 full.
	rows = append(rows, 0) // null bitmap of the before image
	rows = binary.LittleEndian.AppendUint32(rows, 1)
	rows = append(rows, jsonCol(beforeDoc)...)
	rows = append(rows, jsonCol(encodeJSON(t, `[1]`))...)
	rows = append(rows, 1, 0b01) // value options: partial json; partial bits: j1
	rows = append(rows, 0)       // null bitmap of the after image
	rows = binary.LittleEndian.AppendUint32(rows, 1)
	rows = append(rows, jsonCol(diffs)...)
	rows = append(rows, jsonCol(encodeJSON(t, `[2]`))...)
	// Row 2: value options 0, no partial bitmap, j1 NULL after.
	rows = append(rows, 0)
	rows = binary.LittleEndian.AppendUint32(rows, 2)
	rows = append(rows, jsonCol(beforeDoc)...)
	rows = append(rows, jsonCol(encodeJSON(t, `null`))...)
	rows = append(rows, 0)     // value options
	rows = append(rows, 0b010) // after null bitmap: j1 NULL
	rows = binary.LittleEndian.AppendUint32(rows, 2)
	rows = append(rows, jsonCol(encodeJSON(t, `{}`))...)
	ev := b.rows(PartialUpdateRows, 7, 3, rows)

	d := NewDecoder(DecoderOptions{})
	for _, raw := range [][]byte{b.formatDescription(), tm} {
		if _, err := d.Decode(raw, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.Decode(ev, 100)
	if err != nil {
		t.Fatal(err)
	}
	re := got.(*RowsEvent)
	if re.Op != change.Update || len(re.Changes) != 2 || len(re.JSONDiffs) != 0 {
		t.Fatalf("op %s, %d changes, %d unapplied diffs", re.Op, len(re.Changes), len(re.JSONDiffs))
	}
	want := [][]string{
		{"1", `{"n": 2, "tags": ["a", "b"]}`, "[2]"},
		{"2", "NULL", "{}"},
	}
	for i, c := range re.Changes {
		for j, v := range c.After {
			if v.String() != want[i][j] {
				t.Errorf("row %d column %d: %s, want %s", i, j, v, want[i][j])
			}
		}
	}
	if re.Changes[0].Before[1].String() != `{"n": 1, "tags": ["a"]}` {
		t.Errorf("before image %s", re.Changes[0].Before[1])
	}
}
