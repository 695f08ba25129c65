package apply

import (
	"hash/maphash"

	"github.com/sluice-db/sluice/change"
)

// Splitting a group around the rows it shares with earlier groups.
//
// A one-way group that conflicts with groups still in flight need not wait
// for them before writing anything: only the rows they share must be
// written after theirs. The worker writes the other rows at once, waits
// until the earlier groups have executed (they then hold the row locks of
// the shared rows), and writes the shared rows last; the server makes those
// statements wait for the earlier commits, so they apply in source order.
// A hot row that nearly every transaction touches (a counter, sluice's own
// heartbeat) then costs a group one short lock wait at its end instead of
// its whole run.

// splitShared divides g's operations into those on rows no group in earlier
// writes (free) and the rest (shared). Tables whose rows are not
// independent of each other go to shared whole: tables without a key,
// tables with other unique keys (a unique value may pass from one row to
// another within the group, which only the group's own order keeps apart),
// and keys compared under a collation byte hashes cannot model.
func splitShared(g *Group, earlier []*Group, h *maphash.Hash) (free, shared []*TableOps) {
	if len(earlier) == 0 {
		return g.Tables, nil
	}
	for _, o := range g.Tables {
		t := o.Table
		if o.Key == nil || o.serial || len(o.Serial) > 0 || len(o.uniqueOthers) > 0 || collatedKey(t) {
			shared = append(shared, o)
			continue
		}
		isShared := make([]bool, len(o.entries))
		nShared := 0
		for i := range o.entries {
			k, ok := writeKey(h, t, 0, o.Key, o.entries[i].id)
			if !ok || writtenBy(k, earlier) {
				isShared[i] = true
				nShared++
			}
		}
		switch nShared {
		case 0:
			free = append(free, o)
		case len(o.entries):
			shared = append(shared, o)
		default:
			isFree := make([]bool, len(o.entries))
			for i, s := range isShared {
				isFree[i] = !s
			}
			free = append(free, o.subset(isShared))
			shared = append(shared, o.subset(isFree))
		}
	}
	return free, shared
}

// subset returns the operations of o's entries not dropped. o is left as
// it was.
func (o *TableOps) subset(dropped []bool) *TableOps {
	s := &TableOps{Table: o.Table, Key: o.Key, entries: o.entries, uniqueOthers: o.uniqueOthers}
	s.build(dropped)
	return s
}

func writtenBy(k uint64, groups []*Group) bool {
	for _, e := range groups {
		if _, ok := e.writes[k]; ok {
			return true
		}
	}
	return false
}

// writeKey hashes the values of cols in img as a group's write set holds
// them: which tells the table's keys apart (0 the row's key, then its
// unique keys). It reports false when img lacks one of the columns, or,
// for a unique key (which > 0), holds a NULL in one (NULLs never collide).
func writeKey(h *maphash.Hash, t *change.Table, which int, cols []int, img change.Row) (uint64, bool) {
	h.Reset()
	h.WriteString(t.Schema)
	h.WriteByte(0)
	h.WriteString(t.Name)
	h.WriteByte(byte(which))
	for _, c := range cols {
		v := img[c]
		switch v.Kind {
		case change.KindAbsent:
			return 0, false
		case change.KindNull:
			if which > 0 {
				return 0, false
			}
		}
		v.Hash(h)
	}
	return h.Sum64(), true
}
