package capture

import "github.com/sluice-db/sluice/change"

// changeRun collects the row changes of the transaction being assembled in
// large chunks shared by consecutive transactions, instead of growing one
// slice per transaction. A chunk is never written again where a delivered
// transaction's changes lie, so a consumer may keep them as long as it
// likes; the garbage collector frees a chunk when nothing points into it.
type changeRun struct {
	chunk      []change.RowChange
	start, end int
	// alias holds the changes of the transaction's first rows event as the
	// decoder made them, while it is the only one: most transactions have
	// one rows event, and their changes are then never copied. The decoder
	// hands out slices with no room to append into, so they are safe to
	// pass on.
	alias []change.RowChange
}

const changeChunk = 4096

// add appends cs to the run, moving the run to a new chunk when the
// current one is full.
func (r *changeRun) add(cs []change.RowChange) {
	if r.end == r.start && r.alias == nil {
		r.alias = cs[:len(cs):len(cs)]
		return
	}
	if r.alias != nil {
		a := r.alias
		r.alias = nil
		r.copyIn(a)
	}
	r.copyIn(cs)
}

func (r *changeRun) copyIn(cs []change.RowChange) {
	n := len(cs)
	if r.end+n > len(r.chunk) {
		used := r.end - r.start
		size := changeChunk
		if 2*(used+n) > size {
			size = 2 * (used + n)
		}
		c := make([]change.RowChange, size)
		copy(c, r.chunk[r.start:r.end])
		r.chunk, r.start, r.end = c, 0, used
	}
	copy(r.chunk[r.end:], cs)
	r.end += n
}

// len is the number of changes in the run.
func (r *changeRun) len() int { return len(r.alias) + r.end - r.start }

// take returns the run's changes (nil when there are none) and starts the
// next run after them.
func (r *changeRun) take() []change.RowChange {
	if r.alias != nil {
		v := r.alias
		r.alias = nil
		return v
	}
	if r.end == r.start {
		return nil
	}
	v := r.chunk[r.start:r.end:r.end]
	r.start = r.end
	return v
}

// drop forgets the run's changes (a transaction that was not completed).
func (r *changeRun) drop() {
	r.alias = nil
	clear(r.chunk[r.start:r.end])
	r.end = r.start
}
