package binlog

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/sluice-db/sluice/change"
)

// Rows events: WRITE/UPDATE/DELETE_ROWS v0, v1 and v2, MariaDB's compressed
// variants and MySQL's PARTIAL_UPDATE_ROWS. The body is the table id, flags,
// (v2) extra data, the column count, one bitmap of the columns each image
// carries (two for updates), then the row images back to back.

// dummyTableID is the table id of the empty rows event MySQL writes to end a
// statement that changed no rows of a mapped table.
const dummyTableID = 0x00ffffff

func rowsVersion2(t EventType) bool {
	switch t {
	case WriteRowsV2, UpdateRowsV2, DeleteRowsV2, PartialUpdateRows,
		MariaWriteRowsCompressed, MariaUpdateRowsCompressed, MariaDeleteRowsCompressed:
		return true
	}
	return false
}

func rowsOp(t EventType) change.Op {
	switch t {
	case WriteRowsV0, WriteRowsV1, WriteRowsV2, MariaWriteRowsCompressedV1, MariaWriteRowsCompressed:
		return change.Insert
	case DeleteRowsV0, DeleteRowsV1, DeleteRowsV2, MariaDeleteRowsCompressedV1, MariaDeleteRowsCompressed:
		return change.Delete
	}
	return change.Update
}

func rowsCompressed(t EventType) bool {
	return t >= MariaWriteRowsCompressedV1 && t <= MariaDeleteRowsCompressed
}

func (d *Decoder) decodeRows(h EventHeader, body []byte) (Event, string, error) {
	idSize := 6
	if d.postHeader[h.Type] == 6 {
		idSize = 4
	}
	r := reader{b: body}
	tableID := r.uintN(idSize, "table id")
	flags := r.u16("flags")
	var extra []byte
	if rowsVersion2(h.Type) {
		n := int(r.u16("extra data length"))
		if r.err == nil && n < 2 {
			return nil, "", fmt.Errorf("extra data length %d is less than 2", n)
		}
		extra = r.bytes(n-2, "extra data")
	}
	ncols := r.packed("column count")
	if r.err != nil {
		return nil, "", r.err
	}
	op := rowsOp(h.Type)
	e := d.tables[tableID]
	if e == nil {
		if tableID == dummyTableID {
			ev := d.rowsEvs.alloc(128)
			*ev = RowsEvent{EventHeader: h, TableID: tableID, Flags: flags, Op: op, Extra: extra}
			return ev, "", nil
		}
		return nil, "", fmt.Errorf("rows event for table id %d without a table map before it", tableID)
	}
	if ncols != uint64(len(e.tm.Types)) {
		return nil, e.name, fmt.Errorf("rows event has %d columns, its table map %d", ncols, len(e.tm.Types))
	}
	n := int(ncols)
	present := r.bytes((n+7)/8, "columns bitmap")
	var presentAfter []byte
	if op == change.Update {
		presentAfter = r.bytes((n+7)/8, "after image columns bitmap")
	}
	if r.err != nil {
		return nil, e.name, r.err
	}
	if !e.resolved {
		if err := d.resolve(e, h.Offset); err != nil {
			return nil, e.name, err
		}
	}
	ev := d.rowsEvs.alloc(128)
	*ev = RowsEvent{EventHeader: h, TableID: tableID, Flags: flags, Op: op, Map: e.tm, Table: e.table, Extra: extra}
	if e.skip {
		ev.Skipped = true
		return ev, "", nil
	}
	data := r.rest()
	if rowsCompressed(h.Type) {
		var err error
		if data, err = d.decompressMaria(data); err != nil {
			return nil, e.name, fmt.Errorf("compressed rows: %w", err)
		}
	}
	if err := d.decodeRowImages(ev, e, data, present, presentAfter); err != nil {
		return nil, e.name, err
	}
	return ev, "", nil
}

// countBits returns how many of the first n bits of bm are set.
func countBits(bm []byte, n int) int {
	c := 0
	full := n / 8
	for _, b := range bm[:full] {
		c += bits.OnesCount8(b)
	}
	if rem := n % 8; rem != 0 {
		c += bits.OnesCount8(bm[full] & (1<<rem - 1))
	}
	return c
}

// decodeRowImages decodes all row images of an event into changes.
func (d *Decoder) decodeRowImages(ev *RowsEvent, e *tableEntry, data, present, presentAfter []byte) error {
	n := len(e.plan)
	np := countBits(present, n)
	npAfter := 0
	images := 1
	if presentAfter != nil {
		npAfter = countBits(presentAfter, n)
		images = 2
	}
	partial := ev.Type == PartialUpdateRows
	if partial {
		if cap(d.beforeJSON) < n {
			d.beforeJSON = make([][]byte, n)
		}
		d.beforeJSON = d.beforeJSON[:n]
	}
	d.rowStarts = d.rowStarts[:0]
	d.values.start = d.values.end
	var diffs []RowJSONDiffs
	pos := 0
	for pos < len(data) {
		rowStart := pos
		d.rowStarts = append(d.rowStarts, d.values.end-d.values.start)
		d.values.grow(n * images)
		var err error
		row := d.values.next(n)
		if partial {
			clear(d.beforeJSON)
		}
		if pos, err = d.decodeImage(e, data, pos, present, np, row, partial, nil); err != nil {
			d.values.abort()
			return fmt.Errorf("row %d: %w", len(d.rowStarts), err)
		}
		if images == 2 {
			after := d.values.next(n)
			pi := &d.partial
			*pi = partialImage{unapplied: pi.unapplied[:0]}
			if partial {
				pi.change = len(d.rowStarts) - 1
				// value_options, then (if partial JSON is on) a bitmap with a
				// bit for every JSON column of the table.
				v, k, ok := packedInt(data[pos:])
				if !ok {
					d.values.abort()
					return fmt.Errorf("row %d: read value options: %w", len(d.rowStarts), errShort)
				}
				pos += k
				if v&1 != 0 {
					nb := (e.jsonCols + 7) / 8
					if nb > len(data)-pos {
						d.values.abort()
						return fmt.Errorf("row %d: read partial json bitmap: %w", len(d.rowStarts), errShort)
					}
					pi.bits = data[pos : pos+nb]
					pos += nb
				}
			}
			if pos, err = d.decodeImage(e, data, pos, presentAfter, npAfter, after, partial, pi); err != nil {
				d.values.abort()
				return fmt.Errorf("row %d after image: %w", len(d.rowStarts), err)
			}
			if len(pi.unapplied) > 0 {
				diffs = append(diffs, pi.unapplied...)
			}
		}
		if pos == rowStart {
			// An image of no bytes (no columns) would never end the loop.
			d.values.abort()
			return fmt.Errorf("row %d: the row images carry no columns", len(d.rowStarts))
		}
	}
	vals := d.values.finish()
	changes := d.changes.take(len(d.rowStarts), 4096)
	for k, s := range d.rowStarts {
		c := &changes[k]
		c.Table, c.Op = e.table, ev.Op
		img := vals[s : s+n : s+n]
		switch ev.Op {
		case change.Insert:
			c.After = img
		case change.Delete:
			c.Before = img
		default:
			c.Before = img
			c.After = vals[s+n : s+2*n : s+2*n]
		}
	}
	ev.Changes = changes
	ev.JSONDiffs = diffs
	return nil
}

// partialImage carries the partial JSON state of one after image.
type partialImage struct {
	change    int
	bits      []byte // partial JSON bitmap, nil when no column is partial
	jsonIdx   int
	unapplied []RowJSONDiffs
}

// decodeImage decodes one row image at data[pos:] into row and returns the
// position after it. np is the number of columns the image carries.
func (d *Decoder) decodeImage(e *tableEntry, data []byte, pos int, present []byte, np int, row []change.Value, partial bool, pi *partialImage) (int, error) {
	nb := (np + 7) / 8
	if nb > len(data)-pos {
		return pos, fmt.Errorf("read null bitmap: %w", errShort)
	}
	nulls := data[pos : pos+nb]
	pos += nb
	ni := 0
	for i := range e.plan {
		p := &e.plan[i]
		isPartial := false
		if pi != nil && p.op == opJSON {
			isPartial = pi.bits != nil && bitSet(pi.bits, pi.jsonIdx)
			pi.jsonIdx++
		}
		if !bitSet(present, i) {
			row[i] = change.Value{}
			continue
		}
		null := bitSet(nulls, ni)
		ni++
		if null {
			row[i] = change.Value{Kind: change.KindNull}
			continue
		}
		left := len(data) - pos
		switch p.op {
		case opInt32:
			if left < 4 {
				return pos, d.short(p, 4, left)
			}
			row[i] = change.Value{Kind: change.KindInt, I: int64(int32(binary.LittleEndian.Uint32(data[pos:])))}
			pos += 4
		case opUint32:
			if left < 4 {
				return pos, d.short(p, 4, left)
			}
			row[i] = change.Value{Kind: change.KindUint, I: int64(binary.LittleEndian.Uint32(data[pos:]))}
			pos += 4
		case opString:
			var l int
			k := int(p.prefix)
			if left < k {
				return pos, d.short(p, k, left)
			}
			switch k {
			case 1:
				l = int(data[pos])
			case 2:
				l = int(binary.LittleEndian.Uint16(data[pos:]))
			default:
				l = int(leUint(data[pos : pos+k]))
			}
			pos += k
			if l > left-k {
				return pos, d.short(p, l, left-k)
			}
			if l < p.pad {
				b := append(d.arena.tail(p.pad), data[pos:pos+l]...)
				for len(b) < p.pad {
					b = append(b, 0)
				}
				row[i] = change.Value{Kind: p.kind, B: d.arena.commit(b)}
			} else {
				row[i] = change.Value{Kind: p.kind, B: data[pos : pos+l : pos+l]}
			}
			pos += l
		case opInt8:
			if left < 1 {
				return pos, d.short(p, 1, left)
			}
			row[i] = change.Value{Kind: change.KindInt, I: int64(int8(data[pos]))}
			pos++
		case opUint8:
			if left < 1 {
				return pos, d.short(p, 1, left)
			}
			row[i] = change.Value{Kind: change.KindUint, I: int64(data[pos])}
			pos++
		case opInt16:
			if left < 2 {
				return pos, d.short(p, 2, left)
			}
			row[i] = change.Value{Kind: change.KindInt, I: int64(int16(binary.LittleEndian.Uint16(data[pos:])))}
			pos += 2
		case opUint16:
			if left < 2 {
				return pos, d.short(p, 2, left)
			}
			row[i] = change.Value{Kind: change.KindUint, I: int64(binary.LittleEndian.Uint16(data[pos:]))}
			pos += 2
		case opInt24, opUint24:
			if left < 3 {
				return pos, d.short(p, 3, left)
			}
			v := uint32(data[pos]) | uint32(data[pos+1])<<8 | uint32(data[pos+2])<<16
			if p.op == opInt24 {
				row[i] = change.Value{Kind: change.KindInt, I: int64(int32(v<<8) >> 8)}
			} else {
				row[i] = change.Value{Kind: change.KindUint, I: int64(v)}
			}
			pos += 3
		case opInt64, opUint64:
			if left < 8 {
				return pos, d.short(p, 8, left)
			}
			kind := change.KindInt
			if p.op == opUint64 {
				kind = change.KindUint
			}
			row[i] = change.Value{Kind: kind, I: int64(binary.LittleEndian.Uint64(data[pos:]))}
			pos += 8
		case opFloat:
			if left < 4 {
				return pos, d.short(p, 4, left)
			}
			f := math.Float32frombits(binary.LittleEndian.Uint32(data[pos:]))
			row[i] = change.Float(f)
			pos += 4
		case opDouble:
			if left < 8 {
				return pos, d.short(p, 8, left)
			}
			row[i] = change.Value{Kind: change.KindDouble, I: int64(binary.LittleEndian.Uint64(data[pos:]))}
			pos += 8
		case opDecimal:
			if left < p.size {
				return pos, d.short(p, p.size, left)
			}
			b := d.arena.tail(p.prec + 3)
			b = appendDecimal(b, data[pos:pos+p.size], p.prec, p.scale)
			row[i] = change.Value{Kind: change.KindDecimal, B: d.arena.commit(b)}
			pos += p.size
		case opYear:
			if left < 1 {
				return pos, d.short(p, 1, left)
			}
			y := int64(data[pos])
			if y != 0 {
				y += 1900
			}
			row[i] = change.Value{Kind: change.KindYear, I: y}
			pos++
		case opDate:
			if left < 3 {
				return pos, d.short(p, 3, left)
			}
			row[i] = change.Value{Kind: change.KindDate, I: decodeDate(data[pos:])}
			pos += 3
		case opTimeOld:
			if left < 3 {
				return pos, d.short(p, 3, left)
			}
			row[i] = change.Value{Kind: change.KindTime, I: decodeTimeOld(data[pos:])}
			pos += 3
		case opTime2:
			k := 3 + fracBytes(p.frac)
			if left < k {
				return pos, d.short(p, k, left)
			}
			row[i] = change.Value{Kind: change.KindTime, Frac: p.frac, I: decodeTime2(data[pos:pos+k], p.frac)}
			pos += k
		case opDateTimeOld:
			if left < 8 {
				return pos, d.short(p, 8, left)
			}
			row[i] = change.Value{Kind: change.KindDateTime, I: decodeDateTimeOld(data[pos:])}
			pos += 8
		case opDateTime2:
			k := 5 + fracBytes(p.frac)
			if left < k {
				return pos, d.short(p, k, left)
			}
			v, err := decodeDateTime2(data[pos:pos+k], p.frac)
			if err != nil {
				return pos, d.cellError(p, err)
			}
			row[i] = change.Value{Kind: change.KindDateTime, Frac: p.frac, I: v}
			pos += k
		case opTimestampOld:
			if left < 4 {
				return pos, d.short(p, 4, left)
			}
			row[i] = change.Value{Kind: change.KindTimestamp, I: int64(binary.LittleEndian.Uint32(data[pos:])) * 1e6}
			pos += 4
		case opTimestamp2:
			k := 4 + fracBytes(p.frac)
			if left < k {
				return pos, d.short(p, k, left)
			}
			row[i] = change.Value{Kind: change.KindTimestamp, Frac: p.frac, I: decodeTimestamp2(data[pos:pos+k], p.frac)}
			pos += k
		case opBit:
			if left < p.size {
				return pos, d.short(p, p.size, left)
			}
			row[i] = change.Value{Kind: change.KindBit, I: int64(beUint(data[pos : pos+p.size]))}
			pos += p.size
		case opEnum:
			if left < p.size {
				return pos, d.short(p, p.size, left)
			}
			idx := int(leUint(data[pos : pos+p.size]))
			v := change.Value{Kind: change.KindEnum, I: int64(idx)}
			if p.elems != nil {
				switch {
				case idx == 0:
					v.B = []byte{}
				case idx <= len(p.elems):
					v.B = p.elems[idx-1]
				default:
					return pos, d.cellError(p, fmt.Errorf("enum index %d, but the column has %d members", idx, len(p.elems)))
				}
			}
			row[i] = v
			pos += p.size
		case opSet:
			if left < p.size {
				return pos, d.short(p, p.size, left)
			}
			bm := leUint(data[pos : pos+p.size])
			v := change.Value{Kind: change.KindSet, I: int64(bm)}
			if p.elems != nil {
				if len(p.elems) < 64 && bm>>uint(len(p.elems)) != 0 {
					return pos, d.cellError(p, fmt.Errorf("set value %#x has bits beyond its %d members", bm, len(p.elems)))
				}
				b := d.arena.tail(64)
				first := true
				for j, m := range p.elems {
					if bm&(1<<uint(j)) == 0 {
						continue
					}
					if !first {
						b = append(b, ',')
					}
					first = false
					b = append(b, m...)
				}
				v.B = d.arena.commit(b)
			}
			row[i] = v
			pos += p.size
		case opJSON:
			k := int(p.prefix)
			if left < k {
				return pos, d.short(p, k, left)
			}
			l := int(leUint(data[pos : pos+k]))
			pos += k
			if l > left-k {
				return pos, d.short(p, l, left-k)
			}
			doc := data[pos : pos+l]
			pos += l
			if partial && pi == nil {
				// Keep the binary before image for the diffs of the after
				// image of a PARTIAL_UPDATE_ROWS.
				d.beforeJSON[i] = doc
			}
			if isPartial {
				v, err := d.partialJSON(e, i, doc, pi)
				if err != nil {
					return pos, d.cellError(p, err)
				}
				row[i] = v
				continue
			}
			b, err := appendJSONText(d.arena.tail(2*len(doc)+16), doc)
			if err != nil {
				return pos, d.cellError(p, err)
			}
			row[i] = change.Value{Kind: change.KindJSON, B: d.arena.commit(b)}
		case opMariaCompressed:
			k := int(p.prefix)
			if left < k {
				return pos, d.short(p, k, left)
			}
			l := int(leUint(data[pos : pos+k]))
			pos += k
			if l > left-k {
				return pos, d.short(p, l, left-k)
			}
			b, err := d.decompressField(data[pos : pos+l])
			if err != nil {
				return pos, d.cellError(p, err)
			}
			row[i] = change.Value{Kind: p.kind, B: b}
			pos += l
		case opTimeHires:
			k := timeHiresBytes[p.frac]
			if left < k {
				return pos, d.short(p, k, left)
			}
			row[i] = change.Value{Kind: change.KindTime, Frac: p.frac, I: decodeTimeHires(data[pos:], p.frac)}
			pos += k
		case opDateTimeHires:
			k := datetimeHiresBytes[p.frac]
			if left < k {
				return pos, d.short(p, k, left)
			}
			row[i] = change.Value{Kind: change.KindDateTime, Frac: p.frac, I: decodeDateTimeHires(data[pos:], p.frac)}
			pos += k
		case opTimestampHires:
			k := 4 + secPartBytes[p.frac]
			if left < k {
				return pos, d.short(p, k, left)
			}
			row[i] = change.Value{Kind: change.KindTimestamp, Frac: p.frac, I: decodeTimestampHires(data[pos:], p.frac)}
			pos += k
		case opNull:
			row[i] = change.Value{Kind: change.KindNull}
		}
	}
	return pos, nil
}

func (d *Decoder) short(p *colPlan, need, left int) error {
	return fmt.Errorf("column %s: value needs %d bytes, %d left: %w", p.name, need, left, errShort)
}

func (d *Decoder) cellError(p *colPlan, err error) error {
	return fmt.Errorf("column %s: %w", p.name, err)
}

// partialJSON applies the diffs of a partial JSON after image to the
// column's before image. Without a before image the value cannot be known:
// it is absent and the diffs are handed to the caller.
func (d *Decoder) partialJSON(e *tableEntry, col int, diffData []byte, pi *partialImage) (change.Value, error) {
	diffs, err := parseJSONDiffs(diffData)
	if err != nil {
		return change.Value{}, err
	}
	before := d.beforeJSON[col]
	if before == nil {
		pi.unapplied = append(pi.unapplied, RowJSONDiffs{Change: pi.change, Column: col, Diffs: diffs})
		return change.Value{}, nil
	}
	b, err := applyJSONDiffs(d.arena.tail(2*len(before)+64), before, diffs)
	if err != nil {
		return change.Value{}, err
	}
	return change.Value{Kind: change.KindJSON, B: d.arena.commit(b)}, nil
}
