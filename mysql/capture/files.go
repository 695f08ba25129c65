package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
)

// FileConfig says how to read binlog files offline.
type FileConfig struct {
	// History resolves tables and takes DDL, as for a live capture; nil
	// uses the TABLE_MAP metadata alone.
	History History
	// TableFilter, FragmentRows and MaxPayloadSize are as in Config.
	TableFilter    func(schema, table string) bool
	FragmentRows   int
	MaxPayloadSize int64
	Logger         *slog.Logger
}

// ReadFiles reads binlog files in the order given, as mysqlbinlog does, and
// delivers their transactions as Run does. Positions name each file by its
// base name. A truncated or corrupt file fails with its name and the offset
// of the bad event. The GTIDs of positions are known from the first file's
// GTID_LIST (MariaDB) or PREVIOUS_GTIDS (MySQL) event on.
func ReadFiles(ctx context.Context, paths []string, cfg FileConfig, deliver func(ctx context.Context, txn *change.Txn) error) (Stats, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	frag := cfg.FragmentRows
	if frag == 0 {
		frag = 20000
	} else if frag < 0 {
		frag = 0
	}
	asm := &assembler{
		ctx:          ctx,
		log:          log,
		history:      cfg.History,
		fragmentRows: frag,
		// Offline there is no one to checkpoint for; fold everything.
		coalesceTxns: 1 << 30,
		coalesceWait: 1 << 62,
		now:          func() time.Time { return time.Time{} },
	}
	asm.deliver = func(t *change.Txn) error {
		if t.Changes == nil && t.DDL == nil && !t.More && t.Fragment == 0 {
			return nil // position-only: nothing to report offline
		}
		if err := deliver(ctx, t); err != nil {
			return &deliverError{fmt.Errorf("deliver transaction ending at %s: %w", t.End, err)}
		}
		return nil
	}
	var dec eventDecoder
	for i, path := range paths {
		name := filepath.Base(path)
		asm.file, asm.pos = name, 4
		if i == 0 {
			asm.done = change.Position{File: name, Offset: 4}
			dec = newStreamDecoder(asm, cfg.History, cfg.TableFilter, cfg.MaxPayloadSize)
		}
		if sd, ok := dec.(*skippingDecoder); ok {
			sd.d.SetFile(name)
		}
		if err := readFile(ctx, path, name, dec, asm); err != nil {
			var de *deliverError
			if errors.As(err, &de) {
				return asm.stats, de.err
			}
			return asm.stats, err
		}
	}
	if asm.state != outside {
		log.Warn("the last file ends inside a transaction; it was not delivered", "begin", asm.txn.Begin.String())
	}
	return asm.stats, nil
}

// readFile feeds one file's events to the assembler.
func readFile(ctx context.Context, path, name string, dec eventDecoder, asm *assembler) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open binlog file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open binlog file: %w", err)
	}
	fileSize := uint64(st.Size())
	r := &fileReader{f: f, buf: make([]byte, slabSize)}
	magic, err := r.next(4)
	if err != nil || [4]byte(magic) != binlog.Magic {
		return fmt.Errorf("%s: not a binlog file (no binlog magic at offset 0)", path)
	}
	offset := uint64(4)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		hdr, err := r.peek(binlog.HeaderSize)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: truncated event header at offset %d", path, offset)
		}
		size, _ := binlog.EventSize(hdr)
		if size < binlog.HeaderSize {
			return fmt.Errorf("%s: corrupt event at offset %d: size %d is smaller than an event header", path, offset, size)
		}
		if offset+uint64(size) > fileSize {
			// Checked before reading: a corrupt size must not make us
			// allocate gigabytes.
			return fmt.Errorf("%s: truncated event at offset %d: header says %d bytes, the file ends after %d", path, offset, size, fileSize-offset)
		}
		raw, err := r.next(int(size))
		if err != nil {
			return fmt.Errorf("%s: truncated event at offset %d: header says %d bytes, the file ends first", path, offset, size)
		}
		asm.stats.Bytes += int64(size)
		asm.stats.Events++
		ev, err := dec.Decode(raw, offset)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		end := offset + uint64(size)
		if err := asm.event(ev, end); err != nil {
			var de *deliverError
			if errors.As(err, &de) {
				return err
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		// ROTATE names the next file, but it is the caller's list that
		// says which file comes next; keep positions in this one.
		asm.file = name
		asm.pos = end
		offset = end
	}
}

// fileReader reads a file into slabs that events are carved from, like
// packetReader: an event's bytes are never overwritten.
type fileReader struct {
	f    *os.File
	buf  []byte
	r, w int
	eof  bool
}

// peek returns the next n bytes without consuming them; io.EOF when the
// file ends exactly here.
func (fr *fileReader) peek(n int) ([]byte, error) {
	if err := fr.fill(n); err != nil {
		if fr.w == fr.r && fr.eof {
			return nil, io.EOF
		}
		return nil, err
	}
	return fr.buf[fr.r : fr.r+n], nil
}

func (fr *fileReader) next(n int) ([]byte, error) {
	if err := fr.fill(n); err != nil {
		return nil, err
	}
	b := fr.buf[fr.r : fr.r+n : fr.r+n]
	fr.r += n
	return b, nil
}

func (fr *fileReader) fill(n int) error {
	if fr.w-fr.r >= n {
		return nil
	}
	if len(fr.buf)-fr.r < n {
		size := slabSize
		if n > size {
			size = n
		}
		nb := make([]byte, size)
		fr.w = copy(nb, fr.buf[fr.r:fr.w])
		fr.r = 0
		fr.buf = nb
	}
	for fr.w-fr.r < n {
		if fr.eof {
			return io.ErrUnexpectedEOF
		}
		m, err := fr.f.Read(fr.buf[fr.w:])
		fr.w += m
		if err == io.EOF {
			fr.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// FileFlavor reads the FORMAT_DESCRIPTION at the start of a binlog file to
// tell which kind of server wrote it.
func FileFlavor(path string) (change.Flavor, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open binlog file: %w", err)
	}
	defer f.Close()
	r := &fileReader{f: f, buf: make([]byte, 64<<10)}
	magic, err := r.next(4)
	if err != nil || [4]byte(magic) != binlog.Magic {
		return 0, fmt.Errorf("%s: not a binlog file (no binlog magic at offset 0)", path)
	}
	hdr, err := r.peek(binlog.HeaderSize)
	if err != nil {
		return 0, fmt.Errorf("%s: truncated event header at offset 4", path)
	}
	size, _ := binlog.EventSize(hdr)
	if size < binlog.HeaderSize || size > 1<<20 {
		return 0, fmt.Errorf("%s: corrupt event at offset 4: a FORMAT_DESCRIPTION of %d bytes", path, size)
	}
	raw, err := r.next(int(size))
	if err != nil {
		return 0, fmt.Errorf("%s: truncated event at offset 4", path)
	}
	ev, err := binlog.NewDecoder(binlog.DecoderOptions{File: filepath.Base(path)}).Decode(raw, 4)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	fde, ok := ev.(*binlog.FormatDescriptionEvent)
	if !ok {
		return 0, fmt.Errorf("%s: the first event is %s, not a FORMAT_DESCRIPTION", path, ev.Header().Type)
	}
	return fde.Flavor, nil
}
