package binlog

import "github.com/sluice-db/sluice/change"

// The decoder hands out values, rows and events carved from large chunks
// instead of allocating each one. A chunk is never reused: once handed out,
// memory belongs to whoever holds the event, and the garbage collector frees
// a chunk when nothing points into it any more. This keeps the hot path at a
// fraction of an allocation per rows event.

// slab hands out *T one at a time.
type slab[T any] struct {
	buf []T
}

func (s *slab[T]) alloc(chunk int) *T {
	if len(s.buf) == 0 {
		s.buf = make([]T, chunk)
	}
	p := &s.buf[0]
	s.buf = s.buf[1:]
	return p
}

// take hands out n consecutive T with no room to append into a neighbour.
func (s *slab[T]) take(n, chunk int) []T {
	if n > len(s.buf) {
		if n > chunk/4 {
			return make([]T, n)
		}
		s.buf = make([]T, chunk)
	}
	v := s.buf[:n:n]
	s.buf = s.buf[n:]
	return v
}

// valueRun builds the values of one rows event in a chunk. The run can grow
// while the event is decoded (the number of rows is not known up front); if
// the chunk runs out, the run moves to a new chunk.
type valueRun struct {
	chunk      []change.Value
	start, end int
}

const valueChunk = 16384

// grow makes room for n more values in the current run.
func (r *valueRun) grow(n int) {
	if r.end+n <= len(r.chunk) {
		return
	}
	used := r.end - r.start
	size := valueChunk
	if 2*(used+n) > size {
		size = 2 * (used + n)
	}
	c := make([]change.Value, size)
	copy(c, r.chunk[r.start:r.end])
	r.chunk, r.start, r.end = c, 0, used
}

// next returns the next n values of the run (grow first).
func (r *valueRun) next(n int) []change.Value {
	v := r.chunk[r.end : r.end+n : r.end+n]
	r.end += n
	return v
}

// finish returns the run's values and starts a new run after them.
func (r *valueRun) finish() []change.Value {
	v := r.chunk[r.start:r.end:r.end]
	r.start = r.end
	return v
}

// abort drops the current run (after a decode error).
func (r *valueRun) abort() { r.end = r.start }

// arena holds text the decoder makes (DECIMAL, SET, JSON): bytes that values
// point to and that are not in the event buffer.
type arena struct {
	buf []byte
}

const arenaChunk = 64 << 10

// tail returns an empty slice with the arena's free space as capacity, to
// append one value's text into; commit then claims what was written.
func (a *arena) tail(need int) []byte {
	if cap(a.buf)-len(a.buf) < need {
		size := arenaChunk
		if need > size/4 {
			return make([]byte, 0, need)
		}
		a.buf = make([]byte, 0, size)
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// commit claims b, which was built from tail: if it still lives in the
// arena's chunk the arena moves past it; if appending outgrew the chunk, b
// is its own allocation and the arena is unchanged.
func (a *arena) commit(b []byte) []byte {
	if n := len(a.buf); len(b) > 0 && cap(a.buf)-n >= len(b) && &a.buf[:n+1][n] == &b[0] {
		a.buf = a.buf[:n+len(b)]
	}
	return b[:len(b):len(b)]
}
