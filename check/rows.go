package check

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// row is a row's canonical column texts in comparison order; a nil element
// is NULL. A nil row is a row that is not there.
type row [][]byte

func rowsEqual(a, b row) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) || !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// differingColumns names the columns where a and b differ.
func differingColumns(a, b row, cols []column) []string {
	var out []string
	for i := range cols {
		if i >= len(a) || i >= len(b) || (a[i] == nil) != (b[i] == nil) || !bytes.Equal(a[i], b[i]) {
			out = append(out, cols[i].Name)
		}
	}
	return out
}

// encodeKey makes a map key of a key tuple that no two tuples share.
func encodeKey(k []string) string {
	var b strings.Builder
	for _, v := range k {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// fetchBatch is how many keys one row query asks for.
const fetchBatch = 200

// fetchRows reads the canonical rows with the given keys. With lock the rows
// are read FOR UPDATE (q must then be a transaction).
func fetchRows(ctx context.Context, q queryer, s *sideSQL, keys [][]string, lock bool) (map[string]row, error) {
	out := make(map[string]row, len(keys))
	for start := 0; start < len(keys); start += fetchBatch {
		batch := keys[start:min(start+fetchBatch, len(keys))]
		query, args := s.rowsQuery(batch, lock)
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("read rows of %s: %w", s.table, err)
		}
		nk, nc := len(s.key), len(s.exprs)
		dest := make([][]byte, nk+nc)
		ptrs := make([]any, nk+nc)
		for i := range dest {
			ptrs[i] = &dest[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read rows of %s: %w", s.table, err)
			}
			k := make([]string, nk)
			for i := range k {
				k[i] = string(dest[i])
			}
			r := make(row, nc)
			for i := range r {
				if dest[nk+i] != nil {
					r[i] = append([]byte{}, dest[nk+i]...)
				}
			}
			out[encodeKey(k)] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read rows of %s: %w", s.table, err)
		}
	}
	return out, nil
}

// rowHash is one row's key and hash, from a leaf of narrowing.
type rowHash struct {
	key  []string
	hash string
}

func fetchRowHashes(ctx context.Context, q queryer, s *sideSQL, r keyRange) ([]rowHash, error) {
	query, args := s.rowHashesQuery(r)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read row hashes of %s: %w", s.table, err)
	}
	defer rows.Close()
	nk := len(s.key)
	dest := make([][]byte, nk+1)
	ptrs := make([]any, nk+1)
	for i := range dest {
		ptrs[i] = &dest[i]
	}
	var out []rowHash
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read row hashes of %s: %w", s.table, err)
		}
		k := make([]string, nk)
		for i := range k {
			k[i] = string(dest[i])
		}
		out = append(out, rowHash{key: k, hash: string(dest[nk])})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read row hashes of %s: %w", s.table, err)
	}
	return out, nil
}
