package pipeline

import (
	"context"
	"sync"
)

// rowBudget bounds how many row changes wait between capture and apply, so
// that a source far ahead of the target (a catch-up, a huge transaction)
// never fills memory: capture waits for the applier instead.
type rowBudget struct {
	max int

	mu      sync.Mutex
	used    int
	waiting chan struct{} // closed and replaced whenever rows are released
}

func newRowBudget(max int) *rowBudget {
	return &rowBudget{max: max, waiting: make(chan struct{})}
}

// acquire takes n rows, waiting while the budget is spent. A single batch
// larger than the whole budget is let through when nothing else is held, so
// that it cannot wait forever.
func (b *rowBudget) acquire(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		wait := b.waiting
		b.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release gives n rows back.
func (b *rowBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	close(b.waiting)
	b.waiting = make(chan struct{})
	b.mu.Unlock()
}
