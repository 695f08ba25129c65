package schema

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluice-db/sluice/change"
)

// Open continues a history from its store at position at: the state in
// force at at, from the newest snapshot at or before it plus the versions
// after that snapshot up to at. Versions recorded after at are deleted from
// the store: the stream, resumed at at, delivers their DDL again and the
// history records them again, so nothing is applied twice. A zero at opens
// the newest state and deletes nothing. A history the store does not hold
// opens empty (bootstrap it, or let it learn from DDL).
func Open(ctx context.Context, opts Options, at change.Position) (*History, error) {
	h, err := New(opts)
	if err != nil {
		return nil, err
	}
	if opts.Store == nil {
		return h, nil
	}
	snaps, err := opts.Store.Snapshots(ctx, opts.Name)
	if err != nil {
		return nil, fmt.Errorf("schema history %q: list snapshots: %w", opts.Name, err)
	}
	var from uint64
	for i := len(snaps) - 1; i >= 0; i-- {
		in, ok, err := atOrAfter(opts.Flavor, at, snaps[i].Pos)
		if err != nil {
			return nil, fmt.Errorf("schema history %q: order snapshot at %s against %s: %w", opts.Name, snaps[i].Pos, at, err)
		}
		if at.IsZero() || ok && in {
			from = snaps[i].Seq
			break
		}
	}
	recs, err := opts.Store.Records(ctx, opts.Name, from)
	if err != nil {
		return nil, fmt.Errorf("schema history %q: load records from %d: %w", opts.Name, from, err)
	}
	if len(recs) == 0 {
		return h, nil
	}
	applied := 0
	for _, r := range recs {
		if !at.IsZero() {
			in, ok, err := atOrAfter(opts.Flavor, at, r.Pos)
			if err != nil {
				return nil, fmt.Errorf("schema history %q: order version %d at %s against %s: %w", opts.Name, r.Seq, r.Pos, at, err)
			}
			if !ok {
				return nil, fmt.Errorf("schema history %q: cannot order version %d at %s against %s (one has only a file position, the other only a GTID set)",
					opts.Name, r.Seq, r.Pos, at)
			}
			if !in {
				break
			}
		}
		if err := h.load(r); err != nil {
			return nil, err
		}
		applied++
	}
	if applied == 0 {
		return nil, fmt.Errorf("schema history %q starts at %s, after %s: it has no state there; "+
			"start at or after %s, or bootstrap a new history", opts.Name, recs[0].Pos, at, recs[0].Pos)
	}
	h.started = true
	h.base = at
	if at.IsZero() {
		h.base = h.head
	}
	if last := recs[len(recs)-1].Seq; !at.IsZero() && last > h.seq {
		if err := opts.Store.Truncate(ctx, opts.Name, h.seq); err != nil {
			return nil, fmt.Errorf("schema history %q: discard versions after %s: %w", opts.Name, at, err)
		}
		h.log.Info("discarded schema versions recorded after the resume position; the stream will deliver their DDL again",
			"pos", at.String(), "versions", last-h.seq)
	}
	return h, nil
}

// load applies one stored record to the state.
func (h *History) load(r Record) error {
	var data recordData
	if err := json.Unmarshal(r.Data, &data); err != nil {
		return fmt.Errorf("schema history %q: decode version %d at %s: %w", h.opts.Name, r.Seq, r.Pos, err)
	}
	if r.Kind == KindSnapshot {
		h.adoptServer(data.Server)
		h.resetTo(r.Seq, r.Pos, &data)
		h.since = 0
	} else {
		h.applyData(r.Seq, r.Pos, &data)
		h.since++
		h.remember(r.Pos, r.DDL, r.Kind)
	}
	h.seq = r.Seq
	return nil
}

// Compact deletes what no resume at or after before needs: the records
// older than the newest snapshot at or before it, and in memory the table
// versions superseded before it. It does nothing when no snapshot is that
// old yet.
func (h *History) Compact(ctx context.Context, before change.Position) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opts.Store != nil {
		snaps, err := h.opts.Store.Snapshots(ctx, h.opts.Name)
		if err != nil {
			return fmt.Errorf("schema history %q: list snapshots: %w", h.opts.Name, err)
		}
		var cut uint64
		for i := len(snaps) - 1; i >= 0; i-- {
			if in, ok, _ := atOrAfter(h.opts.Flavor, before, snaps[i].Pos); ok && in {
				cut = snaps[i].Seq
				break
			}
		}
		if cut > 0 {
			if err := h.opts.Store.Compact(ctx, h.opts.Name, cut); err != nil {
				return fmt.Errorf("schema history %q: compact before %s: %w", h.opts.Name, before, err)
			}
		}
	}
	for k, st := range h.tables {
		keep := 0
		for i := len(st.versions) - 1; i >= 0; i-- {
			if in, ok, _ := atOrAfter(h.opts.Flavor, before, st.versions[i].pos); ok && in {
				keep = i
				break
			}
		}
		if keep > 0 {
			st.versions = append([]*tableVersion(nil), st.versions[keep:]...)
			st.cache = resolveCache{}
		}
		if len(st.versions) == 1 && st.versions[0].def == nil {
			delete(h.tables, k)
		}
	}
	return nil
}
