package binlog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errShort is the cause of every "the event ends before its field does"
// error; callers wrap it with what they were reading.
var errShort = errors.New("unexpected end of event")

// reader walks an event body with bounds checks. It never panics: a read past
// the end sets err (the first error sticks) and returns zero values, so a
// parser can read a run of fields and check err once.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("read %s at body offset %d (%d bytes left): %w", what, r.pos, len(r.b)-r.pos, errShort)
	}
}

func (r *reader) left() int { return len(r.b) - r.pos }

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.fail(what)
		return nil
	}
	v := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return v
}

func (r *reader) skip(n int, what string) { r.bytes(n, what) }

func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	v := r.b[r.pos:len(r.b):len(r.b)]
	r.pos = len(r.b)
	return v
}

func (r *reader) u8(what string) uint8 {
	b := r.bytes(1, what)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) u16(what string) uint16 {
	b := r.bytes(2, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *reader) u32(what string) uint32 {
	b := r.bytes(4, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u64(what string) uint64 {
	b := r.bytes(8, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// uintN reads an n-byte little-endian unsigned integer (n <= 8).
func (r *reader) uintN(n int, what string) uint64 {
	b := r.bytes(n, what)
	if b == nil {
		return 0
	}
	return leUint(b)
}

// packed reads a length-encoded ("packed") integer.
func (r *reader) packed(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n, ok := packedInt(r.b[r.pos:])
	if !ok {
		r.fail(what)
		return 0
	}
	r.pos += n
	return v
}

// packedLen reads a packed integer that is a length of something in the rest
// of the event, and fails when it cannot be.
func (r *reader) packedLen(what string) int {
	v := r.packed(what)
	if r.err != nil {
		return 0
	}
	if v > uint64(r.left()) {
		r.fail(what)
		return 0
	}
	return int(v)
}

// packedBytes reads a packed length followed by that many bytes.
func (r *reader) packedBytes(what string) []byte {
	n := r.packedLen(what)
	return r.bytes(n, what)
}

// leUint decodes up to 8 little-endian bytes.
func leUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// beUint decodes up to 8 big-endian bytes.
func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// packedInt decodes a length-encoded integer: one byte below 251, else a
// marker (0xfc, 0xfd, 0xfe) and 2, 3 or 8 little-endian bytes. 0xfb (NULL)
// and 0xff are not integers.
func packedInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case c == 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case c == 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
	return 0, 0, false
}

// bitSet reports whether bit i of a little-endian bitmap (bit 0 is the low
// bit of the first byte) is set; rows events use this order.
func bitSet(bm []byte, i int) bool { return bm[i>>3]&(1<<(uint(i)&7)) != 0 }

// bitSetMSB reads bitmaps that TABLE_MAP metadata stores with the first
// column in the high bit of the first byte.
func bitSetMSB(bm []byte, i int) bool { return bm[i>>3]&(0x80>>(uint(i)&7)) != 0 }
