package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// slabSize is the size of the buffers the stream is read into. Events are
// slices of a slab and are never overwritten, so decoded values may point
// into them for as long as a consumer keeps them; a slab is garbage once
// nothing points into it.
const slabSize = 1 << 20

// maxBatchBytes bounds the events handed to the decoder at once.
const maxBatchBytes = 1 << 20

// maxPacket is the payload length that says another packet continues it.
const maxPacket = 1<<24 - 1

// maxEvent bounds an event joined from several packets: a server sends none
// larger than max_allowed_packet, at most 1 GiB.
const maxEvent = 1<<30 + 1<<20

// errStreamEnd is returned when the source sends EOF in place of an event:
// it ended the dump (a server shutting down does).
var errStreamEnd = errors.New("the source ended the binlog stream")

// packetReader reads the dump stream's packets straight from the socket
// into slabs, without the copies a general-purpose client makes.
type packetReader struct {
	conn    net.Conn
	timeout time.Duration
	buf     []byte
	r, w    int // unread data is buf[r:w]
	seq     uint8
	// bytesRead counts the bytes read from the socket.
	bytesRead int64
}

func newPacketReader(conn net.Conn, timeout time.Duration) *packetReader {
	// The dump command was packet 0; the stream's first packet is 1.
	return &packetReader{conn: conn, timeout: timeout, buf: make([]byte, slabSize), seq: 1}
}

// buffered reports whether a whole packet is already in the buffer, so
// that the next readPacket will not block.
func (p *packetReader) buffered() bool {
	if p.w-p.r < 4 {
		return false
	}
	n := int(p.buf[p.r]) | int(p.buf[p.r+1])<<8 | int(p.buf[p.r+2])<<16
	return p.w-p.r >= 4+n
}

// fill makes at least n unread bytes available in p.buf[p.r:].
func (p *packetReader) fill(n int) error {
	if p.w-p.r >= n {
		return nil
	}
	if len(p.buf)-p.r < n {
		// Move the unread tail to a new slab; the old one stays intact
		// under the events already handed out.
		size := slabSize
		if n > size {
			size = n
		}
		nb := make([]byte, size)
		p.w = copy(nb, p.buf[p.r:p.w])
		p.r = 0
		p.buf = nb
	}
	for p.w-p.r < n {
		if p.timeout > 0 {
			if err := p.conn.SetReadDeadline(time.Now().Add(p.timeout)); err != nil {
				return err
			}
		}
		m, err := p.conn.Read(p.buf[p.w:])
		p.w += m
		p.bytesRead += int64(m)
		if err != nil {
			if p.w-p.r >= n {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readPacket returns the next payload, joining a payload split over
// several packets.
func (p *packetReader) readPacket() ([]byte, error) {
	payload, full, err := p.readOne()
	if err != nil || !full {
		return payload, err
	}
	joined := append([]byte(nil), payload...)
	for full {
		payload, full, err = p.readOne()
		if err != nil {
			return nil, err
		}
		if len(joined)+len(payload) > maxEvent {
			return nil, fmt.Errorf("binlog event of more than %d bytes", maxEvent)
		}
		joined = append(joined, payload...)
	}
	return joined, nil
}

func (p *packetReader) readOne() (payload []byte, full bool, err error) {
	if err := p.fill(4); err != nil {
		return nil, false, err
	}
	h := p.buf[p.r : p.r+4]
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if h[3] != p.seq {
		return nil, false, fmt.Errorf("packet out of order: sequence %d, want %d", h[3], p.seq)
	}
	p.seq++
	if err := p.fill(4 + n); err != nil {
		return nil, false, err
	}
	payload = p.buf[p.r+4 : p.r+4+n : p.r+4+n]
	p.r += 4 + n
	return payload, n == maxPacket, nil
}

// readEvent returns the next event's bytes (header, body and checksum).
func (p *packetReader) readEvent() ([]byte, error) {
	pkt, err := p.readPacket()
	if err != nil {
		return nil, err
	}
	if len(pkt) == 0 {
		return nil, errors.New("empty packet in binlog stream")
	}
	switch pkt[0] {
	case 0x00:
		return pkt[1:], nil
	case 0xff:
		return nil, parseErrorPacket(pkt)
	case 0xfe:
		if len(pkt) < 9 {
			return nil, errStreamEnd
		}
	}
	return nil, fmt.Errorf("unexpected packet 0x%02x in binlog stream", pkt[0])
}

// eventBatch is what the network goroutine hands the decoding goroutine:
// the events one socket read completed, or the error that ended the
// stream.
type eventBatch struct {
	events [][]byte
	err    error
}

// streamEvents reads events on its own goroutine so that reading the
// network overlaps decoding. The channel holds at most a few batches, so
// memory stays bounded when the decoder or the consumer is slower than the
// source. The last batch carries the error that ended the stream; the
// channel is closed after it. Cancelling ctx or closing the connection
// stops it.
func streamEvents(ctx context.Context, pr *packetReader, depth int) (<-chan eventBatch, func(*eventBatch)) {
	out := make(chan eventBatch, depth)
	free := make(chan [][]byte, depth+2)
	recycle := func(b *eventBatch) {
		if b.events != nil {
			clear(b.events)
			select {
			case free <- b.events[:0]:
			default:
			}
		}
	}
	go func() {
		defer close(out)
		for {
			var events [][]byte
			select {
			case events = <-free:
			default:
				events = make([][]byte, 0, 256)
			}
			var err error
			size := 0
			for {
				var ev []byte
				ev, err = pr.readEvent()
				if err != nil {
					break
				}
				events = append(events, ev)
				size += len(ev)
				// Hand over what one read brought in before the next read
				// blocks, so that a quiet stream is not held back. A batch
				// is also bounded in bytes, so that the read-ahead stays
				// small when events are large (8 KiB rows events).
				if !pr.buffered() || len(events) >= 4096 || size >= maxBatchBytes {
					break
				}
			}
			b := eventBatch{events: events, err: err}
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out, recycle
}
