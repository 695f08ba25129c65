package snapshot

import (
	"fmt"
	"time"
)

// Method is how a chunk read is placed in the source's binlog.
type Method string

const (
	// MethodAuto picks MethodSnapshot on MariaDB and MethodWatermark on
	// MySQL.
	MethodAuto Method = "auto"
	// MethodSnapshot reads each chunk in a consistent-snapshot transaction
	// and asks MariaDB for the exact binlog position of that snapshot
	// (binlog_snapshot_file/position): no writes on the source. MariaDB only.
	MethodSnapshot Method = "snapshot"
	// MethodWatermark writes a low and a high watermark row around each
	// chunk read into a table on the source (DBLog). It needs INSERT and
	// UPDATE on the source's state schema, and CREATE the first time.
	MethodWatermark Method = "watermark"
)

// Options tune the copy. The zero value is usable: Fill gives defaults.
type Options struct {
	// Workers is how many chunks are read at once; default 4.
	Workers int `yaml:"workers,omitempty"`
	// ChunkRows is the first chunk's size; later chunks grow or shrink
	// toward ChunkTime. Default 10000.
	ChunkRows int `yaml:"chunk_rows,omitempty"`
	// MaxChunkRows caps a chunk; default 50000.
	MaxChunkRows int `yaml:"max_chunk_rows,omitempty"`
	// ChunkTime is the time one chunk read should take; default 250ms.
	ChunkTime time.Duration `yaml:"chunk_time,omitempty"`
	// MaxRowsPerSecond limits the rows read per second; 0 is no limit.
	MaxRowsPerSecond int `yaml:"max_rows_per_second,omitempty"`
	// MaxLag pauses chunk reads while the pipeline's lag is above it, so
	// that the copy never starves the stream; default 30s, negative: never.
	MaxLag time.Duration `yaml:"max_lag,omitempty"`
	// MaxPendingRows bounds the rows read but not yet handed to the
	// applier; default 200000.
	MaxPendingRows int `yaml:"max_pending_rows,omitempty"`
	// KeepIndexes creates missing target tables with all their secondary
	// indexes. By default plain secondary indexes are added once a table
	// is copied, which makes the copy much faster.
	KeepIndexes bool `yaml:"keep_indexes,omitempty"`
	// Method places chunk reads in the binlog; default auto.
	Method Method `yaml:"method,omitempty"`
}

// Fill sets defaults and checks the values.
func (o *Options) Fill() error {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Workers < 1 || o.Workers > 64 {
		return fmt.Errorf("copy.workers: %d must be between 1 and 64", o.Workers)
	}
	if o.ChunkRows == 0 {
		o.ChunkRows = 10000
	}
	if o.MaxChunkRows == 0 {
		o.MaxChunkRows = 50000
	}
	if o.ChunkRows < 1 || o.MaxChunkRows < 1 {
		return fmt.Errorf("copy.chunk_rows and copy.max_chunk_rows must be positive")
	}
	if o.ChunkRows > o.MaxChunkRows {
		o.MaxChunkRows = o.ChunkRows
	}
	if o.ChunkTime == 0 {
		o.ChunkTime = 250 * time.Millisecond
	}
	if o.ChunkTime < 0 {
		return fmt.Errorf("copy.chunk_time must be positive")
	}
	if o.MaxRowsPerSecond < 0 {
		return fmt.Errorf("copy.max_rows_per_second must be positive (0: no limit)")
	}
	if o.MaxRowsPerSecond > 0 {
		// A chunk is at most a quarter second of the limit, so that the
		// limit holds over short spans too.
		o.MaxChunkRows = min(o.MaxChunkRows, max(100, o.MaxRowsPerSecond/4))
		o.ChunkRows = min(o.ChunkRows, o.MaxChunkRows)
	}
	if o.MaxLag == 0 {
		o.MaxLag = 30 * time.Second
	}
	if o.MaxPendingRows == 0 {
		o.MaxPendingRows = 200000
	}
	if o.MaxPendingRows < 1 {
		return fmt.Errorf("copy.max_pending_rows must be positive")
	}
	switch o.Method {
	case "":
		o.Method = MethodAuto
	case MethodAuto, MethodSnapshot, MethodWatermark:
	default:
		return fmt.Errorf("copy.method: %q must be auto, snapshot or watermark", o.Method)
	}
	return nil
}
