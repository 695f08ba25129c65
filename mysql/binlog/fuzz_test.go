package binlog

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"
)

// Fuzz targets: whatever the bytes, reading and decoding ends in events or
// an error, never a panic or a runaway allocation. They are seeded from
// every fixture file and from generated streams; `go test -fuzz` (see
// scripts/fuzz.sh) mutates from there.

// fuzzSeeds returns the fixture files and generated streams as binlog files.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, path := range fixtureFiles(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	s := genSysbenchStream(3)
	seeds = append(seeds, binlogFile(s.events...))
	return seeds
}

// FuzzReader frames arbitrary bytes as a binlog file.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		prev := uint64(4)
		for {
			raw, off, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %v is not an *Error", err)
				}
				return
			}
			if off != prev || len(raw) < HeaderSize || binary.LittleEndian.Uint32(raw[9:]) != uint32(len(raw)) {
				t.Fatalf("event at %d (after %d) of %d bytes", off, prev, len(raw))
			}
			prev = off + uint64(len(raw))
		}
	})
}

// FuzzDecoder decodes arbitrary bytes as a binlog file. Checksums are not
// verified, so that mutations reach the event parsers instead of stopping
// at the CRC; decompression is bounded low so that a mutated size cannot
// exhaust memory.
func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, DecoderOptions{NoChecksum: true, MaxPayloadSize: 1 << 20})
	})
}

// FuzzDecoderChecksum is FuzzDecoder with checksums on: the path a real
// stream takes.
func FuzzDecoderChecksum(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, data, DecoderOptions{MaxPayloadSize: 1 << 20})
	})
}

func fuzzDecode(t *testing.T, data []byte, opts DecoderOptions) {
	r, err := NewReader(bytes.NewReader(data), "fuzz")
	if err != nil {
		return
	}
	d := NewDecoder(opts)
	for {
		raw, off, err := r.Next()
		if err != nil {
			return
		}
		ev, err := d.Decode(raw, off)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			continue
		}
		if r, ok := ev.(*RowsEvent); ok {
			for _, c := range r.Changes {
				for _, v := range c.Before {
					v.AppendText(nil)
				}
				for _, v := range c.After {
					v.AppendText(nil)
				}
			}
		}
	}
}

// FuzzJSONBinary decodes arbitrary bytes as a binary JSON document and as a
// diff list applied to a fixed document.
func FuzzJSONBinary(f *testing.F) {
	f.Add(encodeJSON(f, `{"a": [1, 2.5, "x", null, true], "b": {"c": -70000}}`))
	f.Add(encodeJSON(f, `[18446744073709551615, -9223372036854775808, 1e300]`))
	f.Add(encodeDiffs(f, []testDiff{{JSONReplace, "$.a[1]", "7"}, {JSONInsert, `$."k y"`, `{}`}, {JSONRemove, "$.b.c", ""}}))
	before := encodeJSON(f, `{"a": [1, 2], "b": {"c": 1}}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		appendJSONText(nil, data)
		if diffs, err := parseJSONDiffs(data); err == nil {
			applyJSONDiffs(nil, before, diffs)
		}
	})
}
