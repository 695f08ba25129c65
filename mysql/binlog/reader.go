package binlog

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Reader reads the raw events of a binlog file, one at a time, with the file
// offset of each. It checks the magic number and the framing (every event's
// size field) and reports a truncated or corrupt file as an *Error naming the
// file and offset; it does not decode events (Decoder does).
//
// Events are returned as slices of large read buffers that are never
// reused, so an event stays valid as long as the caller keeps it.
type Reader struct {
	name   string
	src    io.Reader
	closer io.Closer
	size   int64 // file size when known, else -1

	buf      []byte
	pos, end int
	off      uint64 // file offset of buf[pos]
	eof      bool
}

// readChunk is the size of the buffers the Reader reads into.
const readChunk = 1 << 20

// maxEventSize bounds an event when the file size is unknown; MySQL's
// max_allowed_packet is at most 1 GiB.
const maxEventSize = 1<<30 + 1<<20

// OpenFile opens a binlog file and checks that it starts with the binlog
// magic number.
func OpenFile(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open binlog file: %w", err)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	r, err := newReader(f, path, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads a binlog from src (which starts with the magic number);
// name is used in positions and errors.
func NewReader(src io.Reader, name string) (*Reader, error) {
	return newReader(src, name, -1)
}

func newReader(src io.Reader, name string, size int64) (*Reader, error) {
	r := &Reader{name: name, src: src, size: size}
	var magic [4]byte
	n, err := io.ReadFull(src, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Err: fmt.Errorf("read magic number: %w", err)}
	}
	if n < 4 || magic != Magic {
		return nil, &Error{File: name, Err: fmt.Errorf("not a binlog file: starts with % x, want % x", magic[:n], Magic[:])}
	}
	r.off = 4
	if r.size < 0 {
		// An in-memory source (bytes.Reader) says how much is left; use it
		// to size buffers and to reject impossible event sizes early.
		if lr, ok := src.(interface{ Len() int }); ok {
			r.size = int64(lr.Len()) + 4
		}
	}
	return r, nil
}

// Name returns the file name the reader was opened with.
func (r *Reader) Name() string { return r.name }

// Offset returns the offset of the next event.
func (r *Reader) Offset() uint64 { return r.off }

// Close closes the file.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Seek moves to offset (which must be the start of an event) in a file
// opened with OpenFile, e.g. after reading its FORMAT_DESCRIPTION.
func (r *Reader) Seek(offset uint64) error {
	s, ok := r.src.(io.Seeker)
	if !ok {
		return &Error{File: r.name, Offset: r.off, Err: errors.New("seek: the source cannot seek")}
	}
	if offset < 4 {
		return &Error{File: r.name, Offset: offset, Err: errors.New("seek: offset is inside the magic number")}
	}
	if _, err := s.Seek(int64(offset), io.SeekStart); err != nil {
		return &Error{File: r.name, Offset: offset, Err: fmt.Errorf("seek: %w", err)}
	}
	r.buf, r.pos, r.end, r.off, r.eof = nil, 0, 0, offset, false
	return nil
}

// Next returns the next raw event (header, body and checksum) and its
// offset. It returns io.EOF after the last complete event, and an *Error
// when the file ends inside an event or an event's size is impossible.
func (r *Reader) Next() (raw []byte, offset uint64, err error) {
	if err := r.fill(HeaderSize); err != nil {
		return nil, r.off, err
	}
	avail := r.end - r.pos
	if avail == 0 {
		return nil, r.off, io.EOF
	}
	if avail < HeaderSize {
		return nil, r.off, &Error{File: r.name, Offset: r.off,
			Err: fmt.Errorf("truncated event: %d bytes left, an event header needs %d: %w", avail, HeaderSize, io.ErrUnexpectedEOF)}
	}
	size, _ := EventSize(r.buf[r.pos:r.end])
	if size < HeaderSize {
		return nil, r.off, &Error{File: r.name, Offset: r.off,
			Err: fmt.Errorf("corrupt event: size field %d is smaller than the header", size)}
	}
	limit := uint64(maxEventSize)
	if r.size >= 0 {
		limit = uint64(r.size) - r.off
	}
	if uint64(size) > limit {
		return nil, r.off, &Error{File: r.name, Offset: r.off,
			Err: fmt.Errorf("truncated or corrupt event: size field says %d bytes, %d left: %w", size, limit, io.ErrUnexpectedEOF)}
	}
	if err := r.fill(int(size)); err != nil {
		return nil, r.off, err
	}
	if avail = r.end - r.pos; avail < int(size) {
		return nil, r.off, &Error{File: r.name, Offset: r.off,
			Err: fmt.Errorf("truncated event: size field says %d bytes, %d left: %w", size, avail, io.ErrUnexpectedEOF)}
	}
	raw = r.buf[r.pos : r.pos+int(size) : r.pos+int(size)]
	offset = r.off
	r.pos += int(size)
	r.off += uint64(size)
	return raw, offset, nil
}

// fill makes n bytes available at r.pos if the source has them. It moves
// what is left of the buffer to a new one rather than reading over bytes
// already handed out. A buffer larger than a chunk grows as data arrives,
// so that a corrupt size field costs at most twice the bytes really there.
func (r *Reader) fill(n int) error {
	if r.end-r.pos >= n || r.eof {
		return nil
	}
	size := readChunk
	if r.size >= 0 {
		// Do not allocate a megabyte for the tail of a small file.
		if rem := r.size - int64(r.off); rem < int64(size) {
			size = int(max(rem, 0))
		}
	}
	size = max(size, min(n, readChunk), r.end-r.pos)
	nb := make([]byte, size)
	have := copy(nb, r.buf[r.pos:r.end])
	r.buf, r.pos, r.end = nb, 0, have
	for r.end < n {
		if r.end == len(r.buf) {
			grown := make([]byte, min(n, 2*len(r.buf)))
			copy(grown, r.buf[:r.end])
			r.buf = grown
		}
		m, err := r.src.Read(r.buf[r.end:])
		r.end += m
		if err == io.EOF {
			r.eof = true
			return nil
		}
		if err != nil {
			return &Error{File: r.name, Offset: r.off, Err: fmt.Errorf("read: %w", err)}
		}
	}
	return nil
}

// ReadFile decodes every event of a binlog file with d, calling fn for each.
// It stops at the first error, or when fn returns one.
func ReadFile(path string, d *Decoder, fn func(Event) error) error {
	r, err := OpenFile(path)
	if err != nil {
		return err
	}
	defer r.Close()
	d.SetFile(path)
	for {
		raw, off, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		ev, err := d.Decode(raw, off)
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
