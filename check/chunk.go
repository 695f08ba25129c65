package check

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// keyRange is the rows whose key is above Lo and at most Hi, in key order.
// A nil bound is open: the first chunk starts at -inf and the last ends at
// +inf, so that target rows outside the source's key span are covered too.
type keyRange struct {
	Lo []string
	Hi []string
}

// sizer adapts the rows per chunk toward a target time per chunk from the
// rates it observes. Chunks finish concurrently, so it locks.
type sizer struct {
	mu       sync.Mutex
	target   time.Duration
	rows     int64
	min, max int64
	rate     float64 // rows per second, smoothed
}

func newSizer(o *Options) *sizer {
	return &sizer{target: o.ChunkTime, rows: o.InitialChunkRows, min: min(100, o.InitialChunkRows), max: o.MaxChunkRows}
}

// size is the rows the next chunk should hold.
func (s *sizer) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rows
}

func (s *sizer) clone() *sizer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &sizer{target: s.target, rows: s.rows, min: s.min, max: s.max, rate: s.rate}
}

// observe takes one chunk's rows and time and sets the next size. A step
// grows the size at most fourfold, so that one fast chunk (cached pages)
// does not make the next one take seconds.
func (s *sizer) observe(rows int64, d time.Duration) {
	if rows <= 0 || d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := float64(rows) / d.Seconds()
	if s.rate == 0 {
		s.rate = r
	} else {
		s.rate = 0.6*s.rate + 0.4*r
	}
	next := int64(s.rate * s.target.Seconds())
	if next > 4*s.rows {
		next = 4 * s.rows
	}
	s.rows = min(max(next, s.min), s.max)
}

// chunker cuts a table's key space into contiguous ranges, from a resume
// point to +inf.
type chunker interface {
	next(ctx context.Context, rows int64) (keyRange, bool, error)
}

// intChunker cuts a single integer key into numeric ranges, which needs no
// query per chunk. Its width follows the key density it sees, and it jumps
// over gaps by asking for the next key.
type intChunker struct {
	mu       sync.Mutex // next and observe run on different goroutines
	db       *sql.DB
	s        *sideSQL
	lo       *big.Int // exclusive; nil for -inf
	min, max *big.Int
	density  float64 // rows per key value
	empty    bool
	finished bool
}

func newIntChunker(ctx context.Context, db *sql.DB, s *sideSQL, after []string) (*intChunker, error) {
	c := &intChunker{db: db, s: s, density: 1}
	var lo, hi sql.NullString
	if err := db.QueryRowContext(ctx, s.minMaxQuery()).Scan(&lo, &hi); err != nil {
		return nil, fmt.Errorf("read key span of %s: %w", s.table, err)
	}
	if !lo.Valid {
		c.empty = true
		return c, nil
	}
	c.max, _ = new(big.Int).SetString(hi.String, 10)
	minKey, _ := new(big.Int).SetString(lo.String, 10)
	if c.max == nil || minKey == nil {
		return nil, fmt.Errorf("key span of %s is not numeric: %q..%q", s.table, lo.String, hi.String)
	}
	c.min = minKey
	if after != nil {
		c.lo, _ = new(big.Int).SetString(after[0], 10)
		if c.lo == nil {
			return nil, fmt.Errorf("resume point %q of %s is not numeric", after[0], s.table)
		}
	}
	return c, nil
}

func (c *intChunker) next(ctx context.Context, rows int64) (keyRange, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return keyRange{}, false, nil
	}
	if c.empty {
		c.finished = true
		return keyRange{}, true, nil
	}
	start := c.lo
	if start == nil || start.Cmp(c.max) < 0 {
		// Skip a gap: the next chunk starts its width at the next key.
		var from *big.Int
		if start != nil {
			var nk sql.NullString
			if err := c.db.QueryRowContext(ctx, c.s.nextKeyQuery(), start.String()).Scan(&nk); err != nil {
				return keyRange{}, false, fmt.Errorf("find next key of %s after %s: %w", c.s.table, start, err)
			}
			if nk.Valid {
				from, _ = new(big.Int).SetString(nk.String, 10)
			}
		}
		first := from
		if start == nil {
			first = c.min
		}
		if first != nil {
			width := int64(float64(rows) / c.density)
			if width < 1 {
				width = 1
			}
			hi := new(big.Int).Add(first, big.NewInt(width-1))
			if hi.Cmp(c.max) < 0 {
				r := keyRange{Hi: []string{hi.String()}}
				if start != nil {
					r.Lo = []string{start.String()}
				}
				c.lo = hi
				return r, true, nil
			}
		}
	}
	// The last chunk runs to +inf.
	r := keyRange{}
	if start != nil {
		r.Lo = []string{start.String()}
	}
	c.finished = true
	return r, true, nil
}

// observe updates the density from a finished chunk's row count.
func (c *intChunker) observe(r keyRange, rows int64) {
	if r.Lo == nil || r.Hi == nil || rows <= 0 {
		return
	}
	lo, _ := new(big.Int).SetString(r.Lo[0], 10)
	hi, _ := new(big.Int).SetString(r.Hi[0], 10)
	if lo == nil || hi == nil {
		return
	}
	w, _ := new(big.Float).SetInt(new(big.Int).Sub(hi, lo)).Float64()
	if w <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.density = 0.5*c.density + 0.5*(float64(rows)/w)
}

// walkChunker cuts any key by walking the key index: each chunk ends at the
// key found rows entries after its start.
type walkChunker struct {
	db       *sql.DB
	s        *sideSQL
	lo       []string
	finished bool
}

func (c *walkChunker) next(ctx context.Context, rows int64) (keyRange, bool, error) {
	if c.finished {
		return keyRange{}, false, nil
	}
	q, args := c.s.boundaryQuery(keyRange{Lo: c.lo}, rows-1)
	hi, err := scanKey(ctx, c.db, len(c.s.key), q, args...)
	if err != nil {
		return keyRange{}, false, fmt.Errorf("find chunk end of %s: %w", c.s.table, err)
	}
	r := keyRange{Lo: c.lo, Hi: hi}
	if hi == nil {
		c.finished = true
	}
	c.lo = hi
	return r, true, nil
}

// scanKey reads one key tuple, or nil when the query returns no row.
func scanKey(ctx context.Context, q queryer, n int, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.RawBytes, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i, v := range vals {
		out[i] = string(v)
	}
	return out, rows.Err()
}
