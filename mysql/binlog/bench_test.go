package binlog

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// A generated stream shaped like sysbench oltp_write_only on MariaDB: four
// tables sbtestN(id INT, k INT, c CHAR(120), pad CHAR(60)) with full row
// metadata, and transactions of an index update, a non-index update, a
// delete and an insert, each a TABLE_MAP and a one-row rows event.

type sysbenchStream struct {
	events [][]byte
	rows   int // row images
}

func sbText(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		if i%12 == 11 {
			b[i] = '-'
		} else {
			b[i] = byte('0' + r.Intn(10))
		}
	}
	return b
}

func sbRow(r *rand.Rand, id, k int32) []byte {
	row := []byte{0} // null bitmap
	row = binary.LittleEndian.AppendUint32(row, uint32(id))
	row = binary.LittleEndian.AppendUint32(row, uint32(k))
	c := sbText(r, 119)
	row = binary.LittleEndian.AppendUint16(row, uint16(len(c))) // CHAR(120) utf8mb4: 480 bytes max, 2-byte length
	row = append(row, c...)
	pad := sbText(r, 59)
	row = append(row, byte(len(pad))) // CHAR(60) utf8mb4: 240 bytes max, 1-byte length
	return append(row, pad...)
}

func genSysbenchStream(txns int) sysbenchStream {
	r := rand.New(rand.NewSource(1))
	b := newEventBuilder()
	b.flavor = "mariadb"
	s := sysbenchStream{}
	add := func(ev []byte) { s.events = append(s.events, ev) }
	add(b.formatDescription())
	var opt []byte
	opt = optField(opt, metaSignedness, []byte{0})
	opt = optField(opt, metaDefaultCharset, []byte{45})
	opt = optField(opt, metaColumnName, []byte("\x02id\x01k\x01c\x03pad"))
	opt = optField(opt, metaSimplePrimaryKey, []byte{0})
	maps := make([][]byte, 4)
	for i := range maps {
		maps[i] = b.tableMap(tableMapSpec{
			id: uint64(20 + i), schema: "sbtest", table: fmt.Sprintf("sbtest%d", i+1),
			types:    []byte{TypeLong, TypeLong, TypeString, TypeString},
			meta:     []byte{0xee, 0xe0, 0xfe, 0xf0}, // CHAR(480 bytes), CHAR(240 bytes)
			nullable: []bool{false, false, false, false}, optional: opt,
		})
	}
	gtid := make([]byte, 19)
	for n := 0; n < txns; n++ {
		binary.LittleEndian.PutUint64(gtid, uint64(n+1))
		add(b.event(MariaGTIDEventType, gtid))
		for op := 0; op < 4; op++ {
			tbl := r.Intn(4)
			id := int32(r.Intn(250000) + 1)
			add(b.event(TableMapEventType, maps[tbl][HeaderSize:len(maps[tbl])-ChecksumSize]))
			var ev []byte
			switch op {
			case 0, 1:
				before := sbRow(r, id, int32(r.Intn(250000)))
				after := sbRow(r, id, int32(r.Intn(250000)))
				ev = b.rowsV1(UpdateRowsV1, uint64(20+tbl), 4, append(before, after...))
				s.rows += 2
			case 2:
				ev = b.rowsV1(DeleteRowsV1, uint64(20+tbl), 4, sbRow(r, id, int32(r.Intn(250000))))
				s.rows++
			case 3:
				ev = b.rowsV1(WriteRowsV1, uint64(20+tbl), 4, sbRow(r, id, int32(r.Intn(250000))))
				s.rows++
			}
			add(ev)
		}
		add(b.event(XIDEventType, binary.LittleEndian.AppendUint64(nil, uint64(n))))
	}
	return s
}

// rowsV1 builds a v1 rows event (as MariaDB writes them).
func (b *eventBuilder) rowsV1(t EventType, id uint64, ncols int, rowData []byte) []byte {
	var body []byte
	body = appendTableID(body, id)
	body = binary.LittleEndian.AppendUint16(body, RowsFlagStmtEnd)
	body = appendPacked(body, uint64(ncols))
	all := make([]byte, (ncols+7)/8)
	for i := 0; i < ncols; i++ {
		all[i/8] |= 1 << (i % 8)
	}
	body = append(body, all...)
	if t == UpdateRowsV1 {
		body = append(body, all...)
	}
	body = append(body, rowData...)
	return b.event(t, body)
}

func decodeStream(d *Decoder, s sysbenchStream) (rows int, err error) {
	for i, raw := range s.events {
		ev, err := d.Decode(raw, uint64(i))
		if err != nil {
			return rows, err
		}
		if r, ok := ev.(*RowsEvent); ok {
			for _, c := range r.Changes {
				if c.Before != nil {
					rows++
				}
				if c.After != nil {
					rows++
				}
			}
		}
	}
	return rows, nil
}

// BenchmarkDecodeSysbench decodes the generated stream (with CRC32
// verification) and reports row images per second and allocations per row.
func BenchmarkDecodeSysbench(b *testing.B) {
	s := genSysbenchStream(2000)
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		n, err := decodeStream(NewDecoder(DecoderOptions{}), s)
		if err != nil {
			b.Fatal(err)
		}
		if n != s.rows {
			b.Fatalf("decoded %d row images, want %d", n, s.rows)
		}
		total += n
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDecodeSysbenchNoChecksum is the same without CRC32 verification,
// to show what checksums cost.
func BenchmarkDecodeSysbenchNoChecksum(b *testing.B) {
	s := genSysbenchStream(2000)
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		n, err := decodeStream(NewDecoder(DecoderOptions{NoChecksum: true}), s)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// TestDecodeAllocations: decoding rows costs well under one allocation per
// rows event once the decoder is warm (slabs and arena amortise).
func TestDecodeAllocations(t *testing.T) {
	s := genSysbenchStream(500)
	d := NewDecoder(DecoderOptions{})
	if _, err := decodeStream(d, s); err != nil {
		t.Fatal(err)
	}
	body := sysbenchStream{events: s.events[1:], rows: s.rows}
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := decodeStream(d, body); err != nil {
			t.Fatal(err)
		}
	})
	perRow := allocs / float64(s.rows)
	t.Logf("%.0f allocations for %d row images: %.4f per row", allocs, s.rows, perRow)
	if perRow > 0.1 {
		t.Errorf("%.3f allocations per row image, want at most 0.1", perRow)
	}
}

// BenchmarkGoMySQLSysbench decodes the same stream with go-mysql's parser,
// the peer of the decode benchmark, for comparison.
func BenchmarkGoMySQLSysbench(b *testing.B) {
	s := genSysbenchStream(2000)
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		p := replication.NewBinlogParser()
		for _, raw := range s.events {
			ev, err := p.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			if r, ok := ev.Event.(*replication.RowsEvent); ok {
				total += len(r.Rows)
			}
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}
