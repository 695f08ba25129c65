package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluice-db/sluice/mysql/binlog"
)

// benchDecode decodes workload W's binlog files with sluice's Reader and
// Decoder and with go-mysql's BinlogParser.ParseFile, alternating, for a few
// rounds, checks that both counted the same row images, and prints rows/s
// for each and the ratio (target: sluice at least 2.0x).
//
// Fairness: go-mysql runs with its defaults: no CRC32 verification
// (sluice verifies every event), temporal values as strings, DECIMAL as
// strings, JSON not rendered as MySQL text. sluice decodes rows with the
// table definitions TableFromMap builds from the FULL row metadata (the
// schema history resolver's cost is a map lookup per table map and is not
// what this measures).
func benchDecode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	rounds := fs.Int("rounds", 3, "rounds; each decodes all of W with both decoders, in alternating order")
	regenerate := fs.Bool("regenerate", false, "generate workload W again instead of using the cache")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	w, err := LoadWorkload(ctx, *regenerate, logf)
	if err != nil {
		return err
	}
	files := w.BinlogFiles()
	// Read the files once so that the first round does not pay for the
	// page cache.
	for _, f := range files {
		if err := decodeWarmFile(f); err != nil {
			return err
		}
	}
	type result struct {
		rows   int64
		dur    time.Duration
		allocs uint64
	}
	var ours, peer []result
	for r := 0; r < *rounds; r++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		runOurs := func() error {
			runtime.GC()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			n, err := decodeSluice(files)
			d := time.Since(start)
			runtime.ReadMemStats(&ms1)
			if err != nil {
				return err
			}
			ours = append(ours, result{n, d, ms1.Mallocs - ms0.Mallocs})
			return nil
		}
		runPeer := func() error {
			runtime.GC()
			start := time.Now()
			n, err := decodeGoMySQL(files)
			if err != nil {
				return err
			}
			peer = append(peer, result{rows: n, dur: time.Since(start)})
			return nil
		}
		first, second := runOurs, runPeer
		if r%2 == 1 {
			first, second = runPeer, runOurs
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		o, p := ours[len(ours)-1], peer[len(peer)-1]
		if o.rows != p.rows {
			return fmt.Errorf("round %d: sluice decoded %d row images, go-mysql %d", r+1, o.rows, p.rows)
		}
		logf("round %d: %d row images; sluice %v (%.0f rows/s), go-mysql %v (%.0f rows/s)",
			r+1, o.rows, o.dur.Round(time.Millisecond), rate(o.rows, o.dur), p.dur.Round(time.Millisecond), rate(p.rows, p.dur))
	}
	median := func(rs []result) result {
		s := append([]result(nil), rs...)
		sort.Slice(s, func(i, j int) bool { return s[i].dur < s[j].dur })
		return s[len(s)/2]
	}
	o, p := median(ours), median(peer)
	fmt.Printf("decode: workload W, %d binlog files, %d MB, %d row images\n", len(files), w.Bytes>>20, o.rows)
	fmt.Printf("  sluice   %8.0f rows/s  (%v, median of %d; %.3f allocations per row)\n",
		rate(o.rows, o.dur), o.dur.Round(time.Millisecond), len(ours), float64(o.allocs)/float64(o.rows))
	fmt.Printf("  go-mysql %8.0f rows/s  (%v, median of %d)\n", rate(p.rows, p.dur), p.dur.Round(time.Millisecond), len(peer))
	ratio := rate(o.rows, o.dur) / rate(p.rows, p.dur)
	verdict := "target met"
	if ratio < 2.0 {
		verdict = "TARGET MISSED"
	}
	fmt.Printf("  ratio    %.2fx (target >= 2.0x): %s\n", ratio, verdict)
	return nil
}

func rate(rows int64, d time.Duration) float64 { return float64(rows) / d.Seconds() }

func decodeWarmFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// decodeSluice decodes the files with one Decoder, as a stream, and counts
// row images (an update is two).
func decodeSluice(files []string) (int64, error) {
	d := binlog.NewDecoder(binlog.DecoderOptions{})
	var rows int64
	for _, f := range files {
		err := binlog.ReadFile(f, d, func(ev binlog.Event) error {
			if r, ok := ev.(*binlog.RowsEvent); ok {
				for i := range r.Changes {
					if r.Changes[i].Before != nil {
						rows++
					}
					if r.Changes[i].After != nil {
						rows++
					}
				}
			}
			return nil
		})
		if err != nil {
			return rows, fmt.Errorf("sluice: %w", err)
		}
	}
	return rows, nil
}

// decodeGoMySQL decodes the files with go-mysql's parser and counts row
// images the same way.
func decodeGoMySQL(files []string) (int64, error) {
	p := replication.NewBinlogParser()
	var rows int64
	for _, f := range files {
		err := p.ParseFile(f, 0, func(e *replication.BinlogEvent) error {
			if r, ok := e.Event.(*replication.RowsEvent); ok {
				rows += int64(len(r.Rows))
			}
			return nil
		})
		if err != nil {
			return rows, fmt.Errorf("go-mysql: %w", err)
		}
	}
	if rows == 0 {
		return 0, errors.New("go-mysql decoded no rows")
	}
	return rows, nil
}
