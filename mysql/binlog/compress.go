package binlog

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Compressed events: MySQL's TRANSACTION_PAYLOAD (zstd) and MariaDB's
// compressed QUERY and rows events (zlib). Both decompress into a new buffer
// that the decoded values then point into. The decompressed size is bounded
// by DecoderOptions.MaxPayloadSize so that a corrupt or hostile size field
// gives an error instead of exhausting memory.

// decompressZstd decompresses a TRANSACTION_PAYLOAD body. size is the
// uncompressed size the event announces (0 when absent).
func (d *Decoder) decompressZstd(payload []byte, size uint64) ([]byte, error) {
	limit := uint64(d.opts.MaxPayloadSize)
	if size > limit {
		return nil, fmt.Errorf("transaction payload of %d bytes: %w (%d)", size, ErrPayloadTooLarge, limit)
	}
	if d.zstd == nil {
		z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(limit))
		if err != nil {
			return nil, fmt.Errorf("create zstd decoder: %w", err)
		}
		d.zstd = z
	}
	// Allocate what the event announces, within reason: a corrupt size
	// field must not allocate the whole bound up front.
	out, err := d.zstd.DecodeAll(payload, make([]byte, 0, min(size, 64<<20)))
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("decompress transaction payload: %w (%d)", ErrPayloadTooLarge, limit)
		}
		return nil, fmt.Errorf("decompress transaction payload: %w", err)
	}
	if size != 0 && uint64(len(out)) != size {
		return nil, fmt.Errorf("transaction payload decompressed to %d bytes, event says %d", len(out), size)
	}
	return out, nil
}

// decompressMaria decompresses MariaDB's compressed format: a header byte
// (0x80 | algorithm<<4 | length-of-length), the uncompressed length in that
// many big-endian bytes, then a zlib stream.
func (d *Decoder) decompressMaria(b []byte) ([]byte, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("compressed data header: %w", errShort)
	}
	h := b[0]
	if h&0x80 == 0 {
		return nil, fmt.Errorf("compressed data header %#x lacks the compressed flag", h)
	}
	if alg := h >> 4 & 7; alg != 0 {
		return nil, fmt.Errorf("compression algorithm %d is not supported (only zlib)", alg)
	}
	lenlen := int(h & 7)
	if lenlen < 1 || lenlen > 4 || len(b) < 1+lenlen {
		return nil, fmt.Errorf("compressed length of %d bytes: %w", lenlen, errShort)
	}
	n := beUint(b[1 : 1+lenlen])
	if n > uint64(d.opts.MaxPayloadSize) {
		return nil, fmt.Errorf("compressed event of %d bytes: %w (%d)", n, ErrPayloadTooLarge, d.opts.MaxPayloadSize)
	}
	if err := checkDeflateRatio(n, len(b)); err != nil {
		return nil, err
	}
	src := bytes.NewReader(b[1+lenlen:])
	if d.zlib == nil {
		z, err := zlib.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("zlib header: %w", err)
		}
		d.zlib = z
	} else if err := d.zlib.(zlib.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("zlib header: %w", err)
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(d.zlib, out); err != nil {
		return nil, fmt.Errorf("zlib data: %w", err)
	}
	return out, nil
}

// decompressField reads a MariaDB compressed column (COMPRESSED attribute):
// a header byte whose high nibble is the method (0 stored as is, 8 zlib),
// then for zlib the original length in (header&7) big-endian bytes and a
// zlib stream, raw deflate when header&8 is set.
func (d *Decoder) decompressField(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return b, nil
	}
	h := b[0]
	switch h >> 4 {
	case 0:
		return b[1:len(b):len(b)], nil
	case 8:
	default:
		return nil, fmt.Errorf("column compression method %d is not supported", h>>4)
	}
	lenlen := int(h & 7)
	if len(b) < 1+lenlen {
		return nil, fmt.Errorf("compressed column length: %w", errShort)
	}
	n := beUint(b[1 : 1+lenlen])
	if n > uint64(d.opts.MaxPayloadSize) {
		return nil, fmt.Errorf("compressed column of %d bytes: %w", n, ErrPayloadTooLarge)
	}
	if err := checkDeflateRatio(n, len(b)); err != nil {
		return nil, err
	}
	src := bytes.NewReader(b[1+lenlen:])
	var rd io.Reader
	if h&8 != 0 {
		rd = flate.NewReader(src)
	} else {
		z, err := zlib.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("compressed column: %w", err)
		}
		rd = z
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(rd, out); err != nil {
		return nil, fmt.Errorf("compressed column: %w", err)
	}
	return out, nil
}

// checkDeflateRatio rejects a zlib payload whose announced size it cannot
// have: deflate expands at most 1032 times, so a larger claim is a corrupt
// length, and allocating it would waste memory for nothing.
func checkDeflateRatio(n uint64, compressed int) error {
	if n > uint64(compressed)*1032+64 {
		return fmt.Errorf("compressed data of %d bytes claims %d bytes uncompressed, more than deflate allows", compressed, n)
	}
	return nil
}
