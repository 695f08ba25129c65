package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/capture"
	"github.com/sluice-db/sluice/mysql/source"
)

// benchCapture reads workload W's binlog live from a MariaDB server twice
// per round, in alternating order: raw, with go-mysql's BinlogSyncer in raw
// mode (events read and framed, not decoded), and with sluice capture, which
// decodes every row into typed values and assembles change.Txn (delivered
// to a consumer that only counts them). Both stop at the server's end of
// binlog. It checks that both read the same events and prints both times
// and the ratio (target: capture at most 1.25x the raw read's time).
func benchCapture(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	rounds := fs.Int("rounds", 5, "rounds; each reads all of W raw and with capture, in alternating order")
	regenerate := fs.Bool("regenerate", false, "generate workload W again instead of using the cache")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the capture runs to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	w, err := LoadWorkload(ctx, *regenerate, logf)
	if err != nil {
		return err
	}
	srv, err := w.StartServer(ctx, testdb.Options{BufferPool: "256M"})
	if err != nil {
		return err
	}
	defer srv.Close()
	src, err := source.Parse(srv.URL())
	if err != nil {
		return err
	}
	status, err := srv.SourceStatus(ctx)
	if err != nil {
		return err
	}
	end := change.Position{File: status.File, Offset: status.Pos}
	logf("capture: server %s with W's binlog, %d files, %d MB, end %s", srv.Addr(), len(w.Files), w.Bytes>>20, end)

	var prof *os.File
	if *cpuProfile != "" {
		if prof, err = os.Create(*cpuProfile); err != nil {
			return err
		}
		defer prof.Close()
	}

	type result struct {
		events, rows int64
		dur          time.Duration
	}
	var raws, caps, owns []result
	runRaw := func() error {
		runtime.GC()
		start := time.Now()
		ev, rowsEvents, err := captureReadRaw(ctx, srv, w.Files[0], end)
		if err != nil {
			return err
		}
		raws = append(raws, result{events: ev, rows: rowsEvents, dur: time.Since(start)})
		return nil
	}
	runOwn := func() error {
		runtime.GC()
		start := time.Now()
		ev, err := captureReadOwnRaw(ctx, srv, w.Files[0], end)
		if err != nil {
			return fmt.Errorf("own raw read: %w", err)
		}
		owns = append(owns, result{events: ev, dur: time.Since(start)})
		return nil
	}
	runCapture := func() error {
		runtime.GC()
		start := time.Now()
		st, rows, err := captureReadSluice(ctx, src)
		if err != nil {
			return err
		}
		caps = append(caps, result{events: st.Events, rows: rows, dur: time.Since(start)})
		return nil
	}
	// Warm the server's page cache and the connection paths once.
	if err := runRaw(); err != nil {
		return err
	}
	raws = raws[:0]
	if prof != nil {
		// The profile covers the rounds, both readers.
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for r := 0; r < *rounds; r++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		order := []func() error{runRaw, runCapture, runOwn}
		if r%2 == 1 {
			order = []func() error{runOwn, runCapture, runRaw}
		}
		for _, run := range order {
			if err := run(); err != nil {
				return err
			}
		}
		rw, cp, ow := raws[len(raws)-1], caps[len(caps)-1], owns[len(owns)-1]
		if rw.events != cp.events || ow.events != cp.events {
			return fmt.Errorf("round %d: the raw reads saw %d and %d events, capture %d", r+1, rw.events, ow.events, cp.events)
		}
		logf("round %d: %d events, %d row changes; raw %v, capture %v (%.2fx), own raw loop %v", r+1, cp.events, cp.rows,
			rw.dur.Round(time.Millisecond), cp.dur.Round(time.Millisecond), cp.dur.Seconds()/rw.dur.Seconds(), ow.dur.Round(time.Millisecond))
	}
	// The live stream must hold what the files hold.
	fileStats, fileRows, err := captureReadFiles(ctx, w.BinlogFiles())
	if err != nil {
		return err
	}
	if fileRows != caps[0].rows {
		return fmt.Errorf("capture delivered %d row changes, the files hold %d", caps[0].rows, fileRows)
	}
	median := func(rs []result) result {
		s := append([]result(nil), rs...)
		sort.Slice(s, func(i, j int) bool { return s[i].dur < s[j].dur })
		return s[len(s)/2]
	}
	rw, cp, ow := median(raws), median(caps), median(owns)
	ratio := cp.dur.Seconds() / rw.dur.Seconds()
	verdict := "target met"
	if ratio > 1.25 {
		verdict = "TARGET MISSED"
	}
	fmt.Printf("capture: workload W live from MariaDB, %d MB of binlog, %d events (%d in the files), %d row changes (%d rows events)\n",
		w.Bytes>>20, cp.events, fileStats.Events, cp.rows, rw.rows)
	fmt.Printf("  raw read (go-mysql BinlogSyncer, raw mode) %v  (median of %d; %.0f MB/s)\n", rw.dur.Round(time.Millisecond), len(raws), float64(w.Bytes>>20)/rw.dur.Seconds())
	fmt.Printf("  sluice capture (decode + txns)             %v  (median of %d; %.0f row changes/s)\n", cp.dur.Round(time.Millisecond), len(caps), float64(cp.rows)/cp.dur.Seconds())
	fmt.Printf("  own raw loop (one reused buffer, no decode) %v  (median of %d)\n", ow.dur.Round(time.Millisecond), len(owns))
	fmt.Printf("  ratio    %.2fx the raw read's time (target <= 1.25x): %s; %.2fx the own raw loop's\n", ratio, verdict, cp.dur.Seconds()/ow.dur.Seconds())
	return nil
}

// captureReadRaw reads the stream from file:4 to end with go-mysql in raw
// mode and counts the events (without the artificial ones that start a
// stream and the heartbeats) and the rows events.
func captureReadRaw(ctx context.Context, srv *testdb.Server, file string, end change.Position) (events, rowsEvents int64, err error) {
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:        uint32(4000000000 - os.Getpid()%1000),
		Flavor:          gomysql.MariaDBFlavor,
		Host:            srv.Host,
		Port:            uint16(srv.Port),
		User:            srv.User,
		Password:        srv.Password,
		RawModeEnabled:  true,
		Logger:          slog.New(slog.DiscardHandler),
		EventCacheCount: 10240,
	})
	defer syncer.Close()
	streamer, err := syncer.StartSync(gomysql.Position{Name: file, Pos: 4})
	if err != nil {
		return 0, 0, fmt.Errorf("raw read: %w", err)
	}
	cur := file
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return events, rowsEvents, fmt.Errorf("raw read: %w", err)
		}
		h := ev.Header
		if r, ok := ev.Event.(*replication.RotateEvent); ok {
			cur = string(r.NextLogName)
		}
		if h.Flags&0x20 != 0 || h.EventType == replication.HEARTBEAT_EVENT {
			continue
		}
		events++
		switch h.EventType {
		case replication.WRITE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv1,
			replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2:
			rowsEvents++
		}
		pos := change.Position{File: cur, Offset: uint64(h.LogPos)}
		if h.LogPos != 0 && pos.Compare(end) >= 0 {
			return events, rowsEvents, nil
		}
	}
}

// captureReadSluice runs capture from the oldest binlog to the end and
// counts the row changes delivered.
func captureReadSluice(ctx context.Context, src source.Config) (capture.Stats, int64, error) {
	c, err := capture.New(capture.Config{
		Source:    src,
		Name:      "bench-capture-" + strconv.Itoa(os.Getpid()),
		From:      capture.Start{Kind: capture.StartOldest},
		StopAtEnd: true,
	})
	if err != nil {
		return capture.Stats{}, 0, err
	}
	var rows int64
	err = c.Run(ctx, func(_ context.Context, t *change.Txn) error {
		rows += int64(len(t.Changes))
		return nil
	})
	if err != nil {
		return c.Stats(), rows, fmt.Errorf("capture: %w", err)
	}
	if rows == 0 {
		return c.Stats(), 0, errors.New("capture delivered no rows")
	}
	return c.Stats(), rows, nil
}

// captureReadFiles decodes W's files offline with the same assembler, for
// the row count the live stream must match.
func captureReadFiles(ctx context.Context, files []string) (capture.Stats, int64, error) {
	var rows int64
	st, err := capture.ReadFiles(ctx, files, capture.FileConfig{}, func(_ context.Context, t *change.Txn) error {
		rows += int64(len(t.Changes))
		return nil
	})
	return st, rows, err
}

// captureReadOwnRaw is the leanest raw read: go-mysql's client for the
// connection, the dump commands written by hand, and each packet read into
// one reused buffer; an event's header is looked at, nothing else. It is
// the floor under any reader of this stream in Go, reported next to the
// BinlogSyncer peer.
func captureReadOwnRaw(ctx context.Context, srv *testdb.Server, file string, end change.Position) (events int64, err error) {
	conn, err := client.ConnectWithContext(ctx, srv.Addr(), srv.User, srv.Password, "", 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	for _, q := range []string{"SET @master_binlog_checksum = @@global.binlog_checksum", "SET @mariadb_slave_capability = 4"} {
		if _, err := conn.Execute(q); err != nil {
			return 0, err
		}
	}
	serverID := uint32(3000000000 - os.Getpid()%1000)
	reg := make([]byte, 4, 32)
	reg = append(reg, 0x15)
	reg = binary.LittleEndian.AppendUint32(reg, serverID)
	reg = append(reg, 0, 0, 0) // host, user, password: empty
	reg = binary.LittleEndian.AppendUint16(reg, 0)
	reg = binary.LittleEndian.AppendUint32(reg, 0)
	reg = binary.LittleEndian.AppendUint32(reg, 0)
	conn.ResetSequence()
	if err := conn.WritePacket(reg); err != nil {
		return 0, err
	}
	if _, err := conn.ReadOKPacket(); err != nil {
		return 0, err
	}
	dump := make([]byte, 4, 64)
	dump = append(dump, 0x12)
	dump = binary.LittleEndian.AppendUint32(dump, 4)
	dump = binary.LittleEndian.AppendUint16(dump, 0)
	dump = binary.LittleEndian.AppendUint32(dump, serverID)
	dump = append(dump, file...)
	conn.ResetSequence()
	if err := conn.WritePacket(dump); err != nil {
		return 0, err
	}
	cur := file
	buf := make([]byte, 0, 1<<20)
	for {
		buf, err = conn.ReadPacketReuseMem(buf[:0])
		if err != nil {
			return events, err
		}
		if len(buf) < 20 || buf[0] != 0 {
			return events, fmt.Errorf("own raw read: unexpected packet starting %x", buf[:min(len(buf), 16)])
		}
		ev := buf[1:]
		typ, flags := ev[4], binary.LittleEndian.Uint16(ev[17:])
		logPos := binary.LittleEndian.Uint32(ev[13:])
		if typ == 4 && len(ev) > 19+8+4 { // ROTATE: position, then the name, then the CRC32
			cur = string(ev[27 : len(ev)-4])
		}
		if flags&0x20 != 0 || typ == 27 {
			continue
		}
		events++
		if logPos != 0 && cur == end.File && uint64(logPos) >= end.Offset {
			return events, nil
		}
	}
}
