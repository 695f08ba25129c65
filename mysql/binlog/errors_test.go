package binlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-db/sluice/change"
)

// readFixtureEvents returns the raw events of a fixture file with offsets.
func readFixtureEvents(t testing.TB, path string) (raws [][]byte, offs []uint64) {
	t.Helper()
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		raw, off, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		raws, offs = append(raws, raw), append(offs, off)
	}
}

// TestChecksumMismatch: a flipped bit in an event is an error naming the
// file and the event's offset; with verification off it is not a checksum
// error.
func TestChecksumMismatch(t *testing.T) {
	path := filepath.Join(fixtureDir, "mysql", "mysql-enum-string-set.000001")
	raws, offs := readFixtureEvents(t, path)
	for i := 1; i < len(raws); i++ {
		d := NewDecoder(DecoderOptions{File: "f.000001"})
		for j := 0; j < i; j++ {
			if _, err := d.Decode(raws[j], offs[j]); err != nil {
				t.Fatal(err)
			}
		}
		bad := append([]byte(nil), raws[i]...)
		bad[HeaderSize] ^= 0x10
		_, err := d.Decode(bad, offs[i])
		var be *Error
		if !errors.Is(err, ErrChecksum) || !errors.As(err, &be) || be.Offset != offs[i] || be.File != "f.000001" {
			t.Fatalf("event %d: error %v, want a checksum error at f.000001:%d", i, err, offs[i])
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("f.000001:%d", offs[i])) {
			t.Errorf("error %q does not name the position", err)
		}
	}
	// The FORMAT_DESCRIPTION is checked too.
	bad := append([]byte(nil), raws[0]...)
	bad[30] ^= 1
	if _, err := NewDecoder(DecoderOptions{}).Decode(bad, 4); !errors.Is(err, ErrChecksum) {
		t.Errorf("corrupt format description: %v", err)
	}
	// With verification off the corrupt byte goes unnoticed (here it is in
	// a QUERY event's thread id).
	d := NewDecoder(DecoderOptions{NoChecksum: true})
	for i, raw := range raws {
		if i == 3 {
			raw = append([]byte(nil), raw...)
			raw[HeaderSize] ^= 0x10
		}
		if _, err := d.Decode(raw, offs[i]); err != nil {
			t.Fatalf("event %d with NoChecksum: %v", i, err)
		}
	}
}

// TestTruncatedEvents: every event of every fixture, cut short at every
// length, fails to decode with an *Error, and never panics.
func TestTruncatedEvents(t *testing.T) {
	for _, path := range fixtureFiles(t) {
		if filepath.Base(path) == truncatedFixture {
			continue
		}
		raws, offs := readFixtureEvents(t, path)
		for i := range raws {
			for cut := 0; cut < len(raws[i]); cut++ {
				// A fresh decoder that has seen the events before this one,
				// so the cut event is decoded in its real context.
				d := NewDecoder(DecoderOptions{NoChecksum: true})
				for j := 0; j < i; j++ {
					if _, err := d.Decode(raws[j], offs[j]); err != nil {
						t.Fatal(err)
					}
				}
				short := append([]byte(nil), raws[i][:cut]...)
				if cut >= HeaderSize {
					// Keep the header's size field honest, so that the body
					// parsers (not the framing check) meet the short body.
					binary.LittleEndian.PutUint32(short[9:], uint32(cut))
				}
				_, err := d.Decode(short, offs[i])
				var be *Error
				if err != nil && !errors.As(err, &be) {
					t.Errorf("%s event %d cut to %d: error %v is not an *Error", filepath.Base(path), i, cut, err)
				}
			}
		}
	}
}

// TestReaderErrors: files that are not binlogs, or end inside an event, or
// have an impossible event size, give errors with the file and offset.
func TestReaderErrors(t *testing.T) {
	dir := t.TempDir()
	b := newEventBuilder()
	fde := b.formatDescription()
	good := binlogFile(fde, b.event(XIDEventType, make([]byte, 8)))
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tooSmall := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(tooSmall[4+len(fde)+9:], 10)
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(huge[4+len(fde)+9:], 1<<31)
	cases := []struct {
		name string
		data []byte
		off  uint64
		want string
	}{
		{"not-binlog", []byte("hello world"), 0, "not a binlog file"},
		{"empty", nil, 0, "not a binlog file"},
		{"cut-header", good[:4+len(fde)+5], uint64(4 + len(fde)), "truncated event"},
		{"cut-body", good[:len(good)-3], uint64(4 + len(fde)), "size field says 31 bytes, 28 left"},
		{"size-too-small", tooSmall, uint64(4 + len(fde)), "smaller than the header"},
		{"size-too-large", huge, uint64(4 + len(fde)), "truncated or corrupt event"},
	}
	for _, c := range cases {
		path := write(c.name, c.data)
		err := ReadFile(path, NewDecoder(DecoderOptions{}), func(Event) error { return nil })
		var be *Error
		if !errors.As(err, &be) || be.File != path || be.Offset != c.off || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q at %s:%d", c.name, err, c.want, path, c.off)
		}
	}
	if err := ReadFile(write("good", good), NewDecoder(DecoderOptions{}), func(Event) error { return nil }); err != nil {
		t.Errorf("good file: %v", err)
	}
	// Reading from a stream that is not a file works the same way.
	r, err := NewReader(bytes.NewReader(good), "stream")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("read %d events from a stream, want 2", n)
	}
}

// TestDecodeErrors: events the decoder cannot or must not decode.
func TestDecodeErrors(t *testing.T) {
	b := newEventBuilder()
	fde := b.formatDescription()
	tm := b.tableMap(tableMapSpec{id: 9, schema: "s", table: "t", types: []byte{TypeLong, TypeVarChar}, meta: []byte{40, 0}, nullable: []bool{false, true}})
	row := append([]byte{0}, binary.LittleEndian.AppendUint32(nil, 5)...)
	row = append(row, 1, 'x')
	rows := b.rows(WriteRowsV2, 9, 2, row)
	decodeAll := func(d *Decoder, raws ...[]byte) (Event, error) {
		var ev Event
		var err error
		for i, raw := range raws {
			if ev, err = d.Decode(raw, uint64(100*i)); err != nil {
				return nil, err
			}
		}
		return ev, nil
	}
	t.Run("rows decode with TableFromMap", func(t *testing.T) {
		ev, err := decodeAll(NewDecoder(DecoderOptions{}), fde, tm, rows)
		if err != nil {
			t.Fatal(err)
		}
		r := ev.(*RowsEvent)
		if r.Changes[0].After[0].I != 5 || string(r.Changes[0].After[1].B) != "x" || r.Table.Columns[0].Name != "col_1" {
			t.Errorf("row %v table %+v", r.Changes[0].After, r.Table)
		}
	})
	t.Run("unknown event", func(t *testing.T) {
		_, err := decodeAll(NewDecoder(DecoderOptions{}), fde, b.event(99, []byte{1, 2}))
		if !errors.Is(err, ErrUnknownEvent) || !strings.Contains(err.Error(), "at (stream):100") {
			t.Errorf("error %v", err)
		}
		ign := b.event(99, []byte{1, 2})
		ign[17] |= byte(FlagIgnorable)
		ign = refreshCRC(ign)
		ev, err := decodeAll(NewDecoder(DecoderOptions{}), fde, ign)
		if o, ok := ev.(*OtherEvent); err != nil || !ok || !bytes.Equal(o.Body, []byte{1, 2}) {
			t.Errorf("ignorable event: %v %v", ev, err)
		}
	})
	t.Run("encryption", func(t *testing.T) {
		_, err := decodeAll(NewDecoder(DecoderOptions{}), fde, b.event(MariaStartEncryptionType, make([]byte, 17)))
		if !errors.Is(err, ErrEncrypted) || !strings.Contains(err.Error(), "encrypted binlogs are not supported") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("rows without table map", func(t *testing.T) {
		_, err := decodeAll(NewDecoder(DecoderOptions{}), fde, rows)
		if err == nil || !strings.Contains(err.Error(), "without a table map") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("resolver error names the table", func(t *testing.T) {
		res := resolverFunc(func(tm *TableMap, pos change.Position) (*change.Table, error) {
			return nil, fmt.Errorf("table %s unknown at %s", tm.QualifiedName(), pos)
		})
		_, err := decodeAll(NewDecoder(DecoderOptions{Resolver: res, File: "b.000002"}), fde, tm, rows)
		var be *Error
		if !errors.As(err, &be) || be.Table != "s.t" || !strings.Contains(err.Error(), "table s.t unknown at b.000002:200") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("column count mismatch", func(t *testing.T) {
		res := resolverFunc(func(tm *TableMap, pos change.Position) (*change.Table, error) {
			return &change.Table{Schema: "s", Name: "t", Columns: []change.Column{{Name: "a", Type: change.TypeInt}}}, nil
		})
		_, err := decodeAll(NewDecoder(DecoderOptions{Resolver: res}), fde, tm, rows)
		if err == nil || !strings.Contains(err.Error(), "table definition has 1 columns, the binlog has 2") || !strings.Contains(err.Error(), "s.t") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("column type mismatch", func(t *testing.T) {
		res := resolverFunc(func(tm *TableMap, pos change.Position) (*change.Table, error) {
			return &change.Table{Schema: "s", Name: "t", Columns: []change.Column{{Name: "a", Type: change.TypeInt}, {Name: "b", Type: change.TypeDateTime}}}, nil
		})
		_, err := decodeAll(NewDecoder(DecoderOptions{Resolver: res}), fde, tm, rows)
		if err == nil || !strings.Contains(err.Error(), "column b: binlog type varchar does not match the table definition's datetime") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("short row names the column", func(t *testing.T) {
		bad := b.rows(WriteRowsV2, 9, 2, append([]byte{0}, 5, 0, 0, 0, 9, 'x'))
		_, err := decodeAll(NewDecoder(DecoderOptions{}), fde, tm, bad)
		if err == nil || !strings.Contains(err.Error(), "column col_2: value needs 9 bytes, 1 left") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("event size field", func(t *testing.T) {
		_, err := NewDecoder(DecoderOptions{}).Decode(append(fde, 0), 4)
		if err == nil || !strings.Contains(err.Error(), "event header says") {
			t.Errorf("error %v", err)
		}
	})
}

// refreshCRC recomputes the checksum of an event built by eventBuilder
// after a test changed it.
func refreshCRC(ev []byte) []byte {
	n := len(ev) - ChecksumSize
	binary.LittleEndian.PutUint32(ev[n:], crc32.ChecksumIEEE(ev[:n]))
	return ev
}

type resolverFunc func(tm *TableMap, pos change.Position) (*change.Table, error)

func (f resolverFunc) ResolveTable(tm *TableMap, pos change.Position) (*change.Table, error) {
	return f(tm, pos)
}

// TestPayloadBound: a TRANSACTION_PAYLOAD that decompresses to more than
// MaxPayloadSize is an error, whether its size field says so or not.
func TestPayloadBound(t *testing.T) {
	b := newEventBuilder()
	fde := b.formatDescription()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	// 4 MiB of one inner event's worth of zeros: it compresses to a few
	// hundred bytes.
	plain := make([]byte, 4<<20)
	inner := b.event(XIDEventType, make([]byte, 8))
	copy(plain, inner)
	compressed := enc.EncodeAll(plain, nil)
	enc.Close()
	payload := func(sizeField uint64) []byte {
		var body []byte
		field := func(typ byte, v uint64) {
			var f []byte
			f = appendPacked(f, v)
			body = append(body, typ)
			body = appendPacked(body, uint64(len(f)))
			body = append(body, f...)
		}
		field(1, uint64(len(compressed)))
		field(2, 0)
		if sizeField != 0 {
			field(3, sizeField)
		}
		body = append(body, 0)
		return b.event(TransactionPayloadType, append(body, compressed...))
	}
	for _, sizeField := range []uint64{uint64(len(plain)), 0, 100} {
		d := NewDecoder(DecoderOptions{MaxPayloadSize: 1 << 20})
		if _, err := d.Decode(fde, 4); err != nil {
			t.Fatal(err)
		}
		_, err := d.Decode(payload(sizeField), 200)
		if sizeField == 100 {
			// A size field smaller than the data is a corrupt event.
			if err == nil {
				t.Errorf("size field %d: no error", sizeField)
			}
			continue
		}
		if !errors.Is(err, ErrPayloadTooLarge) {
			t.Errorf("size field %d: error %v, want ErrPayloadTooLarge", sizeField, err)
		}
	}
}
