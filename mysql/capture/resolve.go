package capture

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-db/sluice/change"
)

// PositionUnavailableError says that the source no longer has (or never
// had) the binlog a start or resume position needs.
type PositionUnavailableError struct {
	Source string
	// Asked is the position capture asked for.
	Asked change.Position
	// Oldest is the start of the oldest binlog the source still has, with
	// its GTIDs when known; zero when the source has no binlog at all.
	Oldest change.Position
	// Err is the source's own message, when it sent one.
	Err error
}

func (e *PositionUnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "binlog position %s is not available on %s", e.Asked, e.Source)
	if e.Oldest.IsZero() {
		b.WriteString(": it has no binlog")
	} else {
		fmt.Fprintf(&b, ": the oldest binlog it has starts at %s", e.Oldest)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (source said: %v)", e.Err)
	}
	return b.String()
}

func (e *PositionUnavailableError) Unwrap() error { return e.Err }

// binlogFile is one row of SHOW BINARY LOGS.
type binlogFile struct {
	Name string
	Size uint64
}

// binaryLogs lists the source's binlog files, oldest first.
func (sc *sourceConn) binaryLogs() ([]binlogFile, error) {
	cols, rows, err := sc.queryRows("SHOW BINARY LOGS")
	if err != nil {
		if strings.Contains(err.Error(), "not using binary logging") {
			return nil, fmt.Errorf("%s has binary logging off: start it with log_bin (and binlog_format=ROW)", sc.src)
		}
		return nil, err
	}
	name, size := colIndex(cols, "Log_name"), colIndex(cols, "File_size")
	if name < 0 {
		return nil, fmt.Errorf("SHOW BINARY LOGS on %s: no Log_name column", sc.src)
	}
	files := make([]binlogFile, 0, len(rows))
	for _, r := range rows {
		f := binlogFile{Name: r[name]}
		if size >= 0 {
			f.Size, _ = strconv.ParseUint(r[size], 10, 64)
		}
		files = append(files, f)
	}
	return files, nil
}

func colIndex(cols []string, name string) int {
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i
		}
	}
	return -1
}

// binlogEnd returns the source's current end of binlog: file, offset and
// executed GTIDs (MySQL: the GTID set; MariaDB: the GTID list there).
func (sc *sourceConn) binlogEnd() (change.Position, error) {
	q := "SHOW MASTER STATUS"
	if sc.flavor == change.MySQL && sc.versionAtLeast(8, 2, 0) {
		// MySQL 8.4 removed SHOW MASTER STATUS.
		q = "SHOW BINARY LOG STATUS"
	}
	cols, rows, err := sc.queryRows(q)
	if err != nil {
		return change.Position{}, err
	}
	if len(rows) == 0 {
		return change.Position{}, fmt.Errorf("%s has binary logging off: start it with log_bin (and binlog_format=ROW)", sc.src)
	}
	fi, pi := colIndex(cols, "File"), colIndex(cols, "Position")
	if fi < 0 || pi < 0 {
		return change.Position{}, fmt.Errorf("%s on %s: no File/Position columns", q, sc.src)
	}
	p := change.Position{File: rows[0][fi]}
	p.Offset, err = strconv.ParseUint(rows[0][pi], 10, 64)
	if err != nil {
		return change.Position{}, fmt.Errorf("%s on %s: bad position %q", q, sc.src, rows[0][pi])
	}
	switch sc.flavor {
	case change.MySQL:
		if gi := colIndex(cols, "Executed_Gtid_Set"); gi >= 0 {
			set, err := ParseMySQLGTIDSet(rows[0][gi])
			if err != nil {
				return change.Position{}, fmt.Errorf("executed gtid set on %s: %w", sc.src, err)
			}
			p.GTID = set.String()
		}
	case change.MariaDB:
		g, ok, err := sc.mariaGTIDAt(p.File, p.Offset)
		if err != nil {
			return change.Position{}, err
		}
		if !ok {
			return change.Position{}, fmt.Errorf("gtid position at %s:%d on %s: BINLOG_GTID_POS returned NULL", p.File, p.Offset, sc.src)
		}
		p.GTID = g
	}
	return p, nil
}

// mariaGTIDAt asks MariaDB for the GTID list at a file position; ok is false
// when the source does not have that position.
func (sc *sourceConn) mariaGTIDAt(file string, pos uint64) (string, bool, error) {
	v, ok, err := sc.queryValue("SELECT BINLOG_GTID_POS(?, ?)", file, pos)
	if err != nil {
		return "", false, fmt.Errorf("gtid position at %s:%d: %w", file, pos, err)
	}
	if !ok {
		return "", false, nil
	}
	l, err := ParseMariaDBGTIDList(v)
	if err != nil {
		return "", false, fmt.Errorf("gtid position at %s:%d on %s: %w", file, pos, sc.src, err)
	}
	return l.String(), true, nil
}

// oldestPosition is the start of the oldest binlog, with its GTIDs where
// the source can say (MariaDB).
func (sc *sourceConn) oldestPosition() (change.Position, error) {
	files, err := sc.binaryLogs()
	if err != nil {
		return change.Position{}, err
	}
	if len(files) == 0 {
		return change.Position{}, nil
	}
	p := change.Position{File: files[0].Name, Offset: 4}
	if sc.flavor == change.MariaDB {
		if g, ok, err := sc.mariaGTIDAt(p.File, 4); err == nil && ok {
			p.GTID = g
		}
	}
	return p, nil
}

// startPlan is a start resolved against the source: where the first dump
// begins and what the assembler starts from.
type startPlan struct {
	file string
	pos  uint64
	// gtid is the executed GTIDs at the start; gtidKnown is false when the
	// assembler must learn them from the first file's GTID_LIST or
	// PREVIOUS_GTIDS event.
	gtid      string
	gtidKnown bool
	// byGTID dumps (and resumes) by GTID rather than file position.
	byGTID bool
	// done is the resume position the first transaction follows.
	done change.Position
	// notBefore and skipThrough: see assembler.
	notBefore   time.Time
	skipThrough change.Position
	// bootstrap asks the schema history to load the live schema at done.
	bootstrap bool
}

// resolveStart turns the configured start into a plan, checking that the
// source still has the position.
func (c *Capture) resolveStart(ctx context.Context, sc *sourceConn) (startPlan, error) {
	from := c.cfg.From
	var plan startPlan
	switch from.Kind {
	case StartNow:
		end, err := sc.binlogEnd()
		if err != nil {
			return plan, err
		}
		plan = startPlan{file: end.File, pos: end.Offset, gtid: end.GTID, gtidKnown: true, done: end, bootstrap: true}
	case StartOldest:
		old, err := sc.oldestPosition()
		if err != nil {
			return plan, err
		}
		if old.IsZero() {
			return plan, fmt.Errorf("%s has no binlog files", sc.src)
		}
		plan = startPlan{file: old.File, pos: 4, done: old}
		if sc.flavor == change.MariaDB {
			plan.gtid, plan.gtidKnown = old.GTID, true
		}
	case StartPosition:
		p := from.Position
		if p.File != "" {
			if p.Offset < 4 {
				p.Offset = 4
			}
			if err := c.checkFileAvailable(sc, p); err != nil {
				return plan, err
			}
			plan = startPlan{file: p.File, pos: p.Offset, done: p}
			switch {
			case sc.flavor == change.MariaDB:
				g, ok, err := sc.mariaGTIDAt(p.File, p.Offset)
				if err != nil {
					return plan, err
				}
				if !ok {
					old, _ := sc.oldestPosition()
					return plan, &PositionUnavailableError{Source: sc.src.String(), Asked: p, Oldest: old,
						Err: errors.New("BINLOG_GTID_POS found no such position (past the end of the file, or not an event boundary)")}
				}
				plan.gtid, plan.gtidKnown = g, true
				plan.done.GTID = g
			case p.Offset > 4:
				// MySQL cannot say which GTIDs precede a file position:
				// read the file from its start, learning them from its
				// PREVIOUS_GTIDS and GTID events, and deliver from p on.
				plan.pos = 4
				plan.skipThrough = p
				plan.done.Offset = 4
			}
			break
		}
		if gtidFlavor(p.GTID) != sc.flavor && p.GTID != "" {
			return plan, fmt.Errorf("start gtid %q is in %s form but %s is %s", p.GTID, gtidFlavor(p.GTID), sc.src, sc.flavor)
		}
		plan = startPlan{gtid: p.GTID, gtidKnown: true, byGTID: true, done: change.Position{GTID: p.GTID}}
	case StartTime:
		file, err := c.findFileByTime(ctx, sc, from.Time)
		if err != nil {
			return plan, err
		}
		plan = startPlan{file: file, pos: 4, done: change.Position{File: file, Offset: 4}, notBefore: from.Time}
		if sc.flavor == change.MariaDB {
			if g, ok, err := sc.mariaGTIDAt(file, 4); err == nil && ok {
				plan.gtid, plan.gtidKnown = g, true
				plan.done.GTID = g
			}
		}
	default:
		return plan, fmt.Errorf("unknown start kind %d", from.Kind)
	}
	return plan, nil
}

// checkFileAvailable fails with a PositionUnavailableError when the source
// no longer lists the file of p.
func (c *Capture) checkFileAvailable(sc *sourceConn, p change.Position) error {
	files, err := sc.binaryLogs()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(files, func(f binlogFile) bool { return f.Name == p.File }) {
		return nil
	}
	old, _ := sc.oldestPosition()
	return &PositionUnavailableError{Source: sc.src.String(), Asked: p, Oldest: old,
		Err: errors.New("no such binlog file (purged, or never written)")}
}

// unavailableFromServer turns the source's refusal of a dump position
// (error 1236) into a PositionUnavailableError naming the oldest binlog.
func (c *Capture) unavailableFromServer(ctx context.Context, asked change.Position, serverErr error) error {
	e := &PositionUnavailableError{Source: c.cfg.Source.String(), Asked: asked, Err: serverErr}
	sc, err := dialSource(ctx, c.cfg.Source)
	if err == nil {
		defer sc.Close()
		e.Oldest, _ = sc.oldestPosition()
	}
	return e
}

// findFileByTime returns the binlog file the first transaction at or after
// t is in, or one before it: the last file that started before t. Files
// start when the previous one ends, so no transaction at or after t is in
// an earlier file. (A file that started at t itself may follow
// transactions of that same second: times have whole seconds.)
func (c *Capture) findFileByTime(ctx context.Context, sc *sourceConn, t time.Time) (string, error) {
	files, err := sc.binaryLogs()
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s has no binlog files", sc.src)
	}
	// Binary search for the last file whose start is at or before t.
	lo, hi := 0, len(files)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		st, err := c.fileStartTime(ctx, files[mid].Name)
		if err != nil {
			return "", err
		}
		if !st.Before(t) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	if lo == 0 {
		st, err := c.fileStartTime(ctx, files[0].Name)
		if err != nil {
			return "", err
		}
		if st.After(t) {
			c.log.Warn("the oldest binlog starts after the start time; transactions before it were purged",
				"start_time", t.Format(time.RFC3339), "oldest_file", files[0].Name, "oldest_start", st.Format(time.RFC3339))
		}
	}
	c.log.Info("binlog file for start time", "start_time", t.Format(time.RFC3339), "file", files[lo].Name)
	return files[lo].Name, nil
}

// fileStartTime is the time in the FORMAT_DESCRIPTION event that starts a
// binlog file: when the server created it. It opens a short dump of its
// own, since SHOW BINLOG EVENTS does not show times.
func (c *Capture) fileStartTime(ctx context.Context, file string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sc, err := dialSource(ctx, c.cfg.Source)
	if err != nil {
		return time.Time{}, err
	}
	defer sc.Close()
	if err := sc.startDump(dumpRequest{serverID: c.serverID, file: file, pos: 4, hostname: localHostname()}); err != nil {
		return time.Time{}, err
	}
	pr := newPacketReader(sc.netConn, c.readTimeout())
	for i := 0; i < 4; i++ {
		raw, err := pr.readEvent()
		if err != nil {
			return time.Time{}, fmt.Errorf("read the start of %s on %s: %w", file, sc.src, err)
		}
		if len(raw) >= 19 && raw[4] == 15 { // FORMAT_DESCRIPTION
			ts := uint32(raw[0]) | uint32(raw[1])<<8 | uint32(raw[2])<<16 | uint32(raw[3])<<24
			return time.Unix(int64(ts), 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("read the start of %s on %s: no FORMAT_DESCRIPTION event", file, sc.src)
}

// chooseServerID picks the server id capture registers with: the
// configured one, or one derived from the pipeline name (stable across
// restarts) that neither the source nor another replica uses.
func (c *Capture) chooseServerID(sc *sourceConn) (uint32, error) {
	srcIDText, _, err := sc.queryValue("SELECT @@server_id")
	if err != nil {
		return 0, err
	}
	srcID, _ := strconv.ParseUint(srcIDText, 10, 32)
	used := map[uint32]bool{uint32(srcID): true}
	q := "SHOW SLAVE HOSTS"
	if sc.flavor == change.MySQL && sc.versionAtLeast(8, 0, 22) {
		q = "SHOW REPLICAS"
	}
	if cols, rows, err := sc.queryRows(q); err != nil {
		// Needs a privilege the capture does not otherwise need; the check
		// is a courtesy.
		c.log.Debug("cannot list the source's replicas; not checking the server id against them", "error", err)
	} else if i := colIndex(cols, "Server_id"); i >= 0 {
		for _, r := range rows {
			if n, err := strconv.ParseUint(r[i], 10, 32); err == nil {
				used[uint32(n)] = true
			}
		}
	}
	if id := c.cfg.ServerID; id != 0 {
		if id == uint32(srcID) {
			return 0, fmt.Errorf("server id %d is the source's own server_id; choose another", id)
		}
		if used[id] {
			c.log.Warn("another replica of the source is registered with this server id; the source will disconnect one of us",
				"server_id", id)
		}
		return id, nil
	}
	var id uint32
	if c.cfg.Name != "" {
		h := fnv.New32a()
		h.Write([]byte(c.cfg.Name))
		id = h.Sum32()
	} else {
		id = rand.Uint32()
	}
	// Keep clear of the small ids people give their servers.
	id = 1<<30 | id&(1<<30-1)
	for used[id] || id == 0 {
		id++
	}
	return id, nil
}
