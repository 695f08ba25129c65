package binlog

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

// TestTableMapCache: an identical TABLE_MAP (one per statement) reuses the
// resolved table; a QUERY event with DDL or ResetTables makes the next rows
// event ask the resolver again; SkipTable skips decoding.
func TestTableMapCache(t *testing.T) {
	b := newEventBuilder()
	fde := b.formatDescription()
	tm := b.tableMap(tableMapSpec{id: 3, schema: "s", table: "t", types: []byte{TypeLong}, nullable: []bool{false}})
	row := b.rows(WriteRowsV2, 3, 1, []byte{0, 1, 0, 0, 0})
	query := func(q string) []byte {
		var body []byte
		body = binary.LittleEndian.AppendUint32(body, 1) // thread id
		body = binary.LittleEndian.AppendUint32(body, 0) // exec time
		body = append(body, 1)                           // schema length
		body = binary.LittleEndian.AppendUint16(body, 0) // error code
		body = binary.LittleEndian.AppendUint16(body, 0) // status vars length
		body = append(body, 's', 0)
		return b.event(QueryEventType, append(body, q...))
	}
	calls := 0
	var tables []*change.Table
	res := resolverFunc(func(tm *TableMap, pos change.Position) (*change.Table, error) {
		calls++
		return TableFromMap(tm), nil
	})
	d := NewDecoder(DecoderOptions{Resolver: res})
	step := func(raw []byte) Event {
		t.Helper()
		ev, err := d.Decode(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := ev.(*RowsEvent); ok {
			tables = append(tables, r.Table)
		}
		return ev
	}
	step(fde)
	var maps []*TableMap
	for i := 0; i < 3; i++ {
		maps = append(maps, step(tm).(*TableMapEvent).Map)
		step(row)
	}
	if calls != 1 || maps[0] != maps[2] || tables[0] != tables[2] {
		t.Errorf("3 identical statements: %d resolutions, maps shared %v", calls, maps[0] == maps[2])
	}
	step(query("BEGIN"))
	step(tm)
	step(row)
	if calls != 1 {
		t.Errorf("BEGIN made the decoder resolve again (%d)", calls)
	}
	step(query("ALTER TABLE t ADD COLUMN c INT"))
	step(tm)
	step(row)
	if calls != 2 {
		t.Errorf("after DDL: %d resolutions, want 2", calls)
	}
	d.ResetTables()
	step(row)
	if calls != 3 {
		t.Errorf("after ResetTables: %d resolutions, want 3", calls)
	}

	skip := NewDecoder(DecoderOptions{SkipTable: func(tm *TableMap) bool { return tm.Table == "t" }})
	for _, raw := range [][]byte{fde, tm} {
		if _, err := skip.Decode(raw, 0); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := skip.Decode(row, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := ev.(*RowsEvent); !r.Skipped || len(r.Changes) != 0 {
		t.Errorf("skipped table: skipped %v, %d changes", r.Skipped, len(r.Changes))
	}
}

// TestControlEvents decodes MySQL control events that the fixtures and the
// MariaDB server do not produce.
func TestControlEvents(t *testing.T) {
	b := newEventBuilder()
	d := NewDecoder(DecoderOptions{File: "binlog.000001"})
	decode := func(raw []byte) Event {
		t.Helper()
		ev, err := d.Decode(raw, 4)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	decode(b.formatDescription())

	hb := decode(b.event(HeartbeatEventType, []byte("binlog.000007"))).(*HeartbeatEvent)
	if hb.Version != 1 || hb.File != "binlog.000007" {
		t.Errorf("heartbeat %+v", hb)
	}
	var v2 []byte
	v2 = append(v2, heartbeatFile, 13)
	v2 = append(v2, "binlog.000008"...)
	v2 = append(v2, heartbeatPosition, 3, 0xfc, 0x10, 0x27) // packed 10000
	v2 = append(v2, heartbeatEnd)
	hb = decode(b.event(HeartbeatV2EventType, v2)).(*HeartbeatEvent)
	if hb.Version != 2 || hb.File != "binlog.000008" || hb.Position != 10000 {
		t.Errorf("heartbeat v2 %+v", hb)
	}

	var xa []byte
	xa = append(xa, 0)
	xa = binary.LittleEndian.AppendUint32(xa, 1)
	xa = binary.LittleEndian.AppendUint32(xa, 3)
	xa = binary.LittleEndian.AppendUint32(xa, 2)
	xa = append(xa, "gtrbq"...)
	x := decode(b.event(XAPrepareEventType, xa)).(*XAPrepareEvent)
	if x.OnePhase || x.FormatID != 1 || string(x.GTRID) != "gtr" || string(x.BQUAL) != "bq" {
		t.Errorf("xa prepare %+v", x)
	}

	inc := decode(b.event(IncidentEventType, append([]byte{1, 0, 4}, "lost"...))).(*IncidentEvent)
	if inc.Incident != 1 || inc.Message != "lost" {
		t.Errorf("incident %+v", inc)
	}

	rq := decode(b.event(RowsQueryEventType, append([]byte{5}, "q(1)"...))).(*RowsQueryEvent)
	if string(rq.Query) != "q(1)" {
		t.Errorf("rows query %q", rq.Query)
	}

	// A rows event for the dummy table id ends a statement that wrote no
	// rows; it needs no table map.
	r := decode(b.rows(WriteRowsV2, dummyTableID, 0, nil)).(*RowsEvent)
	if len(r.Changes) != 0 || !r.StmtEnd() {
		t.Errorf("dummy rows event %+v", r)
	}

	rot := decode(b.event(RotateEventType, append(binary.LittleEndian.AppendUint64(nil, 4), "binlog.000002"...))).(*RotateEvent)
	if rot.NextFile != "binlog.000002" || rot.Position != 4 || d.File() != "binlog.000002" {
		t.Errorf("rotate %+v, decoder file %s", rot, d.File())
	}
}

// TestArtificialRotateBeforeFormatDescription: a stream starts with a
// ROTATE before any FORMAT_DESCRIPTION; whether it has a checksum is
// recognised from the trailer.
func TestArtificialRotateBeforeFormatDescription(t *testing.T) {
	for _, sum := range []bool{true, false} {
		b := newEventBuilder()
		b.checksum = sum
		raw := b.event(RotateEventType, append(binary.LittleEndian.AppendUint64(nil, 4), "mysql-bin.000003"...))
		ev, err := NewDecoder(DecoderOptions{}).Decode(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r := ev.(*RotateEvent); r.NextFile != "mysql-bin.000003" {
			t.Errorf("checksum %v: next file %q", sum, r.NextFile)
		}
	}
}

// TestMariaDBStatementEvents decodes what MariaDB writes for
// statement-based and XA transactions: INTVAR, RAND and USER_VAR events,
// QUERY status variables, GTIDs with their flags and XA ids, GTID lists and
// binlog checkpoints.
func TestMariaDBStatementEvents(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{GTIDDomainID: 3})
	srv.Exec(t,
		"CREATE DATABASE st",
		"CREATE TABLE st.t (id INT AUTO_INCREMENT PRIMARY KEY, v DOUBLE, s VARCHAR(20))",
		"SET SESSION binlog_format = 'STATEMENT', time_zone = '+02:00', sql_mode = 'STRICT_ALL_TABLES'",
		"SET @x = 'hello'",
		"INSERT INTO st.t (v, s) VALUES (RAND(), @x)",
		"INSERT INTO st.t (v, s) VALUES (UNIX_TIMESTAMP('2020-01-01 00:00:00'), CONCAT('id', LAST_INSERT_ID()))",
		"SET SESSION binlog_format = 'ROW'",
		"XA START 'xa1'", "INSERT INTO st.t (v) VALUES (1)", "XA END 'xa1'", "XA PREPARE 'xa1'", "XA COMMIT 'xa1'",
	)
	files := binlogFiles(t, srv)
	events := readServerBinlogs(t, srv.BinlogDir(), files, DecoderOptions{})
	seen := map[EventType]int{}
	var uv *UserVarEvent
	var tzQuery *QueryEvent
	var xaGTID *MariaGTIDEvent
	var list *MariaGTIDListEvent
	var xp *XAPrepareEvent
	for _, ev := range events {
		seen[ev.Header().Type]++
		switch e := ev.(type) {
		case *UserVarEvent:
			uv = e
		case *QueryEvent:
			if strings.Contains(e.Query, "UNIX_TIMESTAMP") {
				tzQuery = e
			}
		case *MariaGTIDEvent:
			if e.Flags&MariaFlagPreparedXA != 0 {
				xaGTID = e
			}
			if e.Domain != 3 || e.ServerID != srv.ServerID {
				t.Errorf("gtid %s: domain %d server %d", e.GTID(), e.Domain, e.ServerID)
			}
		case *MariaGTIDListEvent:
			if len(e.GTIDs) > 0 {
				list = e
			}
		case *XAPrepareEvent:
			xp = e
		}
	}
	if xp == nil || string(xp.GTRID) != "xa1" || xp.OnePhase {
		t.Errorf("xa prepare %+v", xp)
	}
	for _, typ := range []EventType{IntVarEventType, RandEventType, UserVarEventType, MariaBinlogCheckpointType, MariaGTIDListEventType, MariaAnnotateRowsType} {
		if seen[typ] == 0 {
			t.Errorf("no %s event (seen %v)", typ, seen)
		}
	}
	if uv == nil || uv.Name != "x" || string(uv.Value) != "hello" || uv.IsNull {
		t.Errorf("user var %+v", uv)
	}
	if tzQuery == nil || tzQuery.TimeZone != "+02:00" || !tzQuery.HasSQLMode || tzQuery.SQLMode == 0 || tzQuery.Schema != "" && tzQuery.Schema != "st" {
		t.Errorf("query status vars %+v", tzQuery)
	}
	if xaGTID == nil || string(xaGTID.XAGTRID) != "xa1" {
		t.Errorf("xa gtid %+v", xaGTID)
	}
	if list == nil || list.GTIDs[0].Domain != 3 || !strings.HasPrefix(list.GTIDList(), "3-") {
		t.Errorf("gtid list %+v", list)
	}
	for _, f := range files {
		path := srv.BinlogDir() + "/" + f
		compareWithOracle(t, ourEvents(t, path, DecoderOptions{}), oracleEvents(t, path), oracleQuirks{})
	}
}

// TestCollation maps collation ids of both servers to character sets.
func TestCollation(t *testing.T) {
	for id, want := range map[uint16]string{
		8: "latin1", 28: "gbk", 33: "utf8mb3", 45: "utf8mb4", 46: "utf8mb4", 63: "binary",
		255: "utf8mb4", 309: "utf8mb4", 248: "gb18030", 76: "utf8mb3",
		2304: "utf8mb4", 2048: "utf8mb3", 3072: "utf32", 1057: "utf8mb3",
	} {
		if got := CharsetName(id); got != want {
			t.Errorf("collation %d: charset %q, want %q", id, got, want)
		}
	}
	if _, ok := Collation(4000); ok {
		t.Errorf("collation 4000 is known")
	}
}
