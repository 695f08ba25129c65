// Package binlog reads MySQL and MariaDB binary logs: event framing and
// checksums, every event type a row-based binlog carries, and rows decoded
// into change.RowChange values without an allocation per cell. It owns the
// binlog format and nothing else: where events come from (a file, a replica
// connection) and what the tables look like (the schema history) are the
// callers' business.
//
// # Use
//
// A Reader frames the events of a file; a Decoder turns each raw event into a
// typed Event. The Decoder needs a TableResolver to give rows events their
// table definition; without one it uses TableFromMap.
//
//	r, _ := binlog.OpenFile(path)
//	d := binlog.NewDecoder(binlog.DecoderOptions{File: path, Resolver: history})
//	for {
//		raw, off, err := r.Next()
//		...
//		ev, err := d.Decode(raw, off)
//		switch ev := ev.(type) {
//		case *binlog.RowsEvent:
//			for _, c := range ev.Changes { ... }
//		}
//	}
//
// # Who owns which bytes
//
// Decoding copies as little as it can, so decoded events point into memory
// they do not own:
//   - Byte values (strings, blobs, geometry, vectors) and names in events
//     point into the raw event buffer passed to Decode. The caller must not
//     reuse or modify that buffer while it keeps the event or any value from
//     it. The Reader never reuses its buffers, so its events are safe.
//   - Text the decoder makes (DECIMAL, SET, JSON) and values of compressed
//     events live in buffers the decoder allocates and never reuses.
//   - Rows events, their Changes and the Values of a Row are carved from
//     chunks shared with other events; appending to a Row or Changes slice
//     allocates (their capacity is their length), and they must not be
//     modified in place by one consumer if another may read them.
//   - TableMap and the change.Table of an event are shared by every event of
//     that table and must be treated as read-only.
//
// Use change.Value.Clone to keep a value beyond the life of its event.
//
// # Errors
//
// Every error from Decode or Reader.Next is an *Error naming the binlog file,
// the offset, the event type and, for rows events, the table. Bad input
// never panics: every length is checked before it is used.
package binlog
