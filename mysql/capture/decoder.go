package capture

import (
	"github.com/sluice-db/sluice/mysql/binlog"
)

// eventDecoder is what capture needs of mysql/binlog's Decoder.
type eventDecoder interface {
	Decode(raw []byte, offset uint64) (binlog.Event, error)
}

// newDecoder makes the decoder for one stream: CRC32 verified whenever the
// FORMAT_DESCRIPTION says events carry one, tables resolved by the schema
// history, rows of filtered tables not decoded.
func (c *Capture) newDecoder(asm *assembler) eventDecoder {
	return newStreamDecoder(asm, c.cfg.History, c.cfg.TableFilter, c.cfg.MaxPayloadSize)
}

func newStreamDecoder(asm *assembler, history History, filter func(schema, table string) bool, maxPayload int64) eventDecoder {
	opts := binlog.DecoderOptions{File: asm.file, MaxPayloadSize: maxPayload}
	if history != nil {
		opts.Resolver = history
	}
	if filter != nil {
		opts.SkipTable = func(tm *binlog.TableMap) bool { return !filter(tm.Schema, tm.Table) }
	}
	return &skippingDecoder{d: binlog.NewDecoder(opts), asm: asm}
}

// skippingDecoder leaves the rows events of a transaction the assembler will
// not deliver (one before the start) undecoded. The decoder's own table
// filter cannot do it: it decides once per table, not per transaction.
type skippingDecoder struct {
	d   *binlog.Decoder
	asm *assembler
}

func (s *skippingDecoder) Decode(raw []byte, offset uint64) (binlog.Event, error) {
	if s.asm.txnSkipping && len(raw) > 4 && binlog.EventType(raw[4]).IsRows() {
		h, err := binlog.ParseHeader(raw)
		if err == nil {
			h.Offset = offset
			return &binlog.RowsEvent{EventHeader: h, Skipped: true}, nil
		}
	}
	return s.d.Decode(raw, offset)
}
