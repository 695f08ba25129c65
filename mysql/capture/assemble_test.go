package capture

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/binlog"
	"github.com/sluice-db/sluice/mysql/schema"
)

// script feeds synthetic events to an assembler, laying them out one after
// another in a binlog file, and records what it delivers.
type script struct {
	t     *testing.T
	a     *assembler
	clock time.Time
	got   []change.Txn
	ddl   []string
}

type recordingHistory struct{ s *script }

func (h recordingHistory) ApplyDDL(_ context.Context, q schema.DDL) (schema.Applied, error) {
	h.s.ddl = append(h.s.ddl, fmt.Sprintf("%s|%s|%s|%d|%d", q.Schema, q.SQL, q.Pos, q.CollationServer, q.SQLMode))
	return schema.Applied{}, nil
}

func newScript(t *testing.T, flavor change.Flavor, gtid string) *script {
	s := &script{t: t, clock: time.Unix(1700000000, 0)}
	s.a = &assembler{
		log:          slog.New(slog.DiscardHandler),
		fragmentRows: 0,
		coalesceTxns: defaultCoalesceTxns,
		coalesceWait: defaultCoalesceWait,
		now:          func() time.Time { return s.clock },
		file:         "binlog.000001",
		pos:          4,
	}
	s.a.history = recordingHistory{s}
	s.a.deliver = func(txn *change.Txn) error {
		s.got = append(s.got, *txn)
		return nil
	}
	s.a.flavor = flavor
	s.a.done = change.Position{File: "binlog.000001", Offset: 4, GTID: gtid}
	if gtid != "-" {
		if err := s.a.setGTIDState(flavor, gtid); err != nil {
			t.Fatal(err)
		}
	} else {
		s.a.done.GTID = ""
	}
	return s
}

// feed adds an event of size bytes at the current position.
func (s *script) feed(ev binlog.Event, size uint32) {
	s.t.Helper()
	if err := s.try(ev, size); err != nil {
		s.t.Fatalf("event %T: %v", ev, err)
	}
}

func (s *script) try(ev binlog.Event, size uint32) error {
	h := ev.Header()
	h.Offset = s.a.pos
	h.EventSize = size
	if h.Timestamp == 0 {
		h.Timestamp = uint32(s.clock.Unix())
	}
	if h.ServerID == 0 {
		h.ServerID = 7
	}
	end := s.a.pos + uint64(size)
	h.LogPos = uint32(end)
	return s.a.event(ev, end)
}

func mariaGTID(seq uint64, flags uint8) *binlog.MariaGTIDEvent {
	return &binlog.MariaGTIDEvent{EventHeader: binlog.EventHeader{Type: binlog.MariaGTIDEventType, ServerID: 7}, Domain: 0, Sequence: seq, Flags: flags}
}

func query(stmt string) *binlog.QueryEvent {
	return &binlog.QueryEvent{EventHeader: binlog.EventHeader{Type: binlog.QueryEventType}, Schema: "shop", Query: stmt}
}

func xid() *binlog.XIDEvent {
	return &binlog.XIDEvent{EventHeader: binlog.EventHeader{Type: binlog.XIDEventType}, XID: 1}
}

var testTable = &change.Table{Schema: "shop", Name: "t", Columns: []change.Column{{Name: "id", Type: change.TypeInt}}}

func tableMap() *binlog.TableMapEvent {
	return &binlog.TableMapEvent{EventHeader: binlog.EventHeader{Type: binlog.TableMapEventType},
		Map: &binlog.TableMap{TableID: 1, Schema: "shop", Table: "t"}}
}

// rows makes a WRITE_ROWS event inserting ids first..first+n-1.
func rows(first, n int) *binlog.RowsEvent {
	e := &binlog.RowsEvent{EventHeader: binlog.EventHeader{Type: binlog.WriteRowsV1}, TableID: 1, Op: change.Insert, Table: testTable}
	for i := 0; i < n; i++ {
		e.Changes = append(e.Changes, change.RowChange{Table: testTable, Op: change.Insert, After: change.Row{change.Int(int64(first + i))}})
	}
	return e
}

func skippedRows() *binlog.RowsEvent {
	return &binlog.RowsEvent{EventHeader: binlog.EventHeader{Type: binlog.WriteRowsV1}, TableID: 1, Skipped: true}
}

func ids(txn change.Txn) string {
	var b strings.Builder
	for i, c := range txn.Changes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.After[0].String())
	}
	return b.String()
}

func TestAssembleMariaDBTransactionAndDDL(t *testing.T) {
	s := newScript(t, change.MariaDB, "0-7-10")
	s.feed(mariaGTID(11, binlog.MariaFlagTransactional), 40) // 4..44
	s.feed(tableMap(), 50)                                   // ..94
	s.feed(rows(1, 2), 60)                                   // ..154
	s.feed(xid(), 31)                                        // ..185
	s.feed(mariaGTID(12, binlog.MariaFlagStandalone|binlog.MariaFlagDDL), 40)
	alter := query("ALTER TABLE t ADD c INT")
	alter.ServerCollation, alter.SQLMode, alter.HasSQLMode = 45, 0x200000, true
	s.feed(alter, 80) // ..305

	if len(s.got) != 2 {
		t.Fatalf("got %d txns, want 2: %+v", len(s.got), s.got)
	}
	tx := s.got[0]
	if tx.GTID != "0-7-11" || tx.ServerID != 7 || ids(tx) != "1,2" || tx.DDL != nil {
		t.Errorf("txn = %+v", tx)
	}
	if got := tx.Begin.String(); got != "binlog.000001:4 gtid=0-7-10" {
		t.Errorf("Begin = %s", got)
	}
	if got := tx.End.String(); got != "binlog.000001:185 gtid=0-7-11" {
		t.Errorf("End = %s", got)
	}
	if tx.Size != 181 || tx.More || tx.Fragment != 0 {
		t.Errorf("Size %d More %v Fragment %d", tx.Size, tx.More, tx.Fragment)
	}
	ddl := s.got[1]
	if ddl.DDL == nil || ddl.DDL.Statement != "ALTER TABLE t ADD c INT" || ddl.DDL.Schema != "shop" || ddl.GTID != "0-7-12" {
		t.Errorf("ddl txn = %+v", ddl)
	}
	if got := ddl.End.String(); got != "binlog.000001:305 gtid=0-7-12" {
		t.Errorf("DDL End = %s", got)
	}
	if len(s.ddl) != 1 || s.ddl[0] != "shop|ALTER TABLE t ADD c INT|binlog.000001:305 gtid=0-7-12|45|2097152" {
		t.Errorf("history got %q", s.ddl)
	}
	if s.a.done != ddl.End {
		t.Errorf("resume position %s, want %s", s.a.done, ddl.End)
	}
}

func TestAssembleMySQLTransactions(t *testing.T) {
	u := "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	s := newScript(t, change.MySQL, u+":1-5")
	sid, _ := parseUUID(u)
	commit := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	g := &binlog.GTIDEvent{EventHeader: binlog.EventHeader{Type: binlog.GTIDEventType, ServerID: 42}, SID: sid, GNO: 6,
		OriginalCommitTimestamp: uint64(commit.UnixMicro()), ImmediateCommitTimestamp: uint64(commit.UnixMicro()) + 5}
	s.feed(g, 79)
	s.feed(query("BEGIN"), 70)
	s.feed(tableMap(), 50)
	s.feed(rows(1, 1), 40)
	s.feed(xid(), 31)
	// A non-transactional statement, committed with a QUERY COMMIT, under
	// an anonymous GTID.
	s.feed(&binlog.GTIDEvent{EventHeader: binlog.EventHeader{Type: binlog.AnonymousGTIDEventType}, Anonymous: true}, 79)
	s.feed(query("BEGIN"), 70)
	s.feed(tableMap(), 50)
	s.feed(rows(2, 1), 40)
	s.feed(query("COMMIT"), 70)

	if len(s.got) != 2 {
		t.Fatalf("got %d txns: %+v", len(s.got), s.got)
	}
	tx := s.got[0]
	if tx.GTID != u+":6" || tx.ServerID != 42 || !tx.Timestamp.Equal(commit) || ids(tx) != "1" {
		t.Errorf("txn = %+v (time %s)", tx, tx.Timestamp.UTC())
	}
	if tx.End.GTID != u+":1-6" || tx.End.Offset != 4+79+70+50+40+31 {
		t.Errorf("End = %s", tx.End)
	}
	my := s.got[1]
	if my.GTID != "" || ids(my) != "2" || my.End.GTID != u+":1-6" {
		t.Errorf("non-transactional txn = %+v", my)
	}
}

func TestAssembleTransactionPayload(t *testing.T) {
	u := "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	s := newScript(t, change.MySQL, "")
	sid, _ := parseUUID(u)
	s.feed(&binlog.GTIDEvent{EventHeader: binlog.EventHeader{Type: binlog.GTIDEventType}, SID: sid, GNO: 1}, 79)
	inner := []binlog.Event{query("BEGIN"), tableMap(), rows(1, 3), xid()}
	for _, e := range inner {
		e.Header().LogPos = 0
	}
	s.feed(&binlog.TransactionPayloadEvent{EventHeader: binlog.EventHeader{Type: binlog.TransactionPayloadType}, Events: inner}, 200)
	if len(s.got) != 1 {
		t.Fatalf("got %d txns", len(s.got))
	}
	if tx := s.got[0]; ids(tx) != "1,2,3" || tx.End.Offset != 4+79+200 || tx.End.GTID != u+":1" || tx.Begin.Offset != 4 {
		t.Errorf("txn = %+v", tx)
	}
}

func TestAssembleXA(t *testing.T) {
	u := "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	s := newScript(t, change.MySQL, "")
	sid, _ := parseUUID(u)
	s.feed(&binlog.GTIDEvent{EventHeader: binlog.EventHeader{Type: binlog.GTIDEventType}, SID: sid, GNO: 1}, 79)
	s.feed(query("XA START X'31',X'',1"), 90)
	s.feed(tableMap(), 50)
	s.feed(rows(1, 1), 40)
	s.feed(query("XA END X'31',X'',1"), 90)
	s.feed(&binlog.XAPrepareEvent{EventHeader: binlog.EventHeader{Type: binlog.XAPrepareEventType}}, 40)
	s.feed(&binlog.GTIDEvent{EventHeader: binlog.EventHeader{Type: binlog.GTIDEventType}, SID: sid, GNO: 2}, 79)
	s.feed(query("XA COMMIT X'31',X'',1"), 90)
	if len(s.got) != 1 || ids(s.got[0]) != "1" || s.got[0].GTID != u+":1" {
		t.Fatalf("after prepare and commit: %+v", s.got)
	}
	// The XA COMMIT carries nothing; it is folded into a position-only Txn.
	if err := s.a.flushPending(); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 2 {
		t.Fatalf("got %d txns after flush", len(s.got))
	}
	p := s.got[1]
	if p.Changes != nil || p.DDL != nil || p.GTID != "" || p.End.GTID != u+":1-2" || p.Begin != s.got[0].End {
		t.Errorf("position-only txn = %+v", p)
	}
	if len(s.ddl) != 0 {
		t.Errorf("XA statements reached the schema history: %q", s.ddl)
	}
}

func TestAssembleFragmentsAndResume(t *testing.T) {
	s := newScript(t, change.MariaDB, "")
	s.a.fragmentRows = 5
	events := func() {
		s.feed(mariaGTID(1, 0), 40)
		s.feed(tableMap(), 50)
		for i := 0; i < 5; i++ {
			s.feed(rows(1+3*i, 3), 60)
		}
		s.feed(xid(), 31)
	}
	events()
	want := []string{"1,2,3,4,5,6", "7,8,9,10,11,12", "13,14,15"}
	if len(s.got) != 3 {
		t.Fatalf("got %d fragments, want 3", len(s.got))
	}
	for i, f := range s.got {
		if ids(f) != want[i] || f.Fragment != i || f.More != (i < 2) || f.GTID != "0-7-1" || f.Begin.Offset != 4 {
			t.Errorf("fragment %d = %+v", i, f)
		}
	}
	if s.got[2].End.GTID != "0-7-1" {
		t.Errorf("last fragment End = %s", s.got[2].End)
	}

	// The connection drops after the first two fragments of the same
	// transaction were delivered: the re-read delivers only the rest.
	s2 := newScript(t, change.MariaDB, "")
	s2.a.fragmentRows = 5
	s2.a.deliver = func(txn *change.Txn) error {
		s2.got = append(s2.got, *txn)
		return nil
	}
	s2.feed(mariaGTID(1, 0), 40)
	s2.feed(tableMap(), 50)
	for i := 0; i < 4; i++ {
		s2.feed(rows(1+3*i, 3), 60)
	}
	if len(s2.got) != 2 {
		t.Fatalf("before the drop: %d fragments", len(s2.got))
	}
	s2.a.beginResume()
	if s2.a.file != "binlog.000001" || s2.a.pos != 4 {
		t.Fatalf("resume at %s:%d", s2.a.file, s2.a.pos)
	}
	// The source sends the transaction again from its start.
	s = s2
	events()
	if len(s2.got) != 3 || ids(s2.got[2]) != "13,14,15" || s2.got[2].Fragment != 2 || s2.got[2].More {
		t.Fatalf("after resume: %+v", s2.got)
	}
}

func TestAssembleCoalescesFilteredTransactions(t *testing.T) {
	s := newScript(t, change.MariaDB, "")
	s.a.coalesceTxns = 3
	for seq := uint64(1); seq <= 4; seq++ {
		s.feed(mariaGTID(seq, 0), 40)
		s.feed(tableMap(), 50)
		s.feed(skippedRows(), 60)
		s.feed(xid(), 31)
	}
	if len(s.got) != 1 {
		t.Fatalf("got %d txns after 4 filtered transactions with coalesceTxns=3", len(s.got))
	}
	p := s.got[0]
	if p.Changes != nil || p.GTID != "" || p.Begin.Offset != 4 || p.End.Offset != 4+3*181 || p.End.GTID != "0-7-3" {
		t.Errorf("position-only txn = %+v", p)
	}
	// A delivered transaction supersedes the pending position.
	s.feed(mariaGTID(5, 0), 40)
	s.feed(tableMap(), 50)
	s.feed(rows(1, 1), 60)
	s.feed(xid(), 31)
	if len(s.got) != 2 || ids(s.got[1]) != "1" || s.a.pending != nil {
		t.Fatalf("got %+v, pending %+v", s.got, s.a.pending)
	}
	// Time also flushes.
	s.feed(mariaGTID(6, 0), 40)
	s.feed(xid(), 31)
	s.clock = s.clock.Add(time.Second)
	s.feed(mariaGTID(7, 0), 40)
	s.feed(xid(), 31)
	if len(s.got) != 3 || s.got[2].End.GTID != "0-7-7" {
		t.Fatalf("after the wait: %+v", s.got)
	}
}

func TestAssembleRotateMovesResumePoint(t *testing.T) {
	s := newScript(t, change.MariaDB, "0-7-1")
	s.feed(&binlog.RotateEvent{EventHeader: binlog.EventHeader{Type: binlog.RotateEventType}, NextFile: "binlog.000002", Position: 4}, 44)
	if s.a.done.String() != "binlog.000002:4 gtid=0-7-1" {
		t.Fatalf("done = %s", s.a.done)
	}
	if err := s.a.flushPending(); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 1 || s.got[0].End != s.a.done || s.got[0].Begin.File != "binlog.000001" {
		t.Fatalf("got %+v", s.got)
	}
	// The artificial rotate at the start of a stream at the same position
	// changes nothing.
	s.a.pos = 4
	ev := &binlog.RotateEvent{EventHeader: binlog.EventHeader{Type: binlog.RotateEventType, Flags: binlog.FlagArtificial}, NextFile: "binlog.000002", Position: 4}
	if err := s.a.event(ev, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.a.flushPending(); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 1 {
		t.Fatalf("artificial rotate delivered %+v", s.got[1:])
	}
}

func TestAssembleStartByTime(t *testing.T) {
	s := newScript(t, change.MariaDB, "")
	s.a.notBefore = s.clock.Add(10 * time.Second)
	old := mariaGTID(1, 0)
	s.feed(old, 40)
	s.feed(tableMap(), 50)
	s.feed(rows(1, 1), 60)
	s.feed(xid(), 31)
	if len(s.got) != 0 || s.a.pending != nil {
		t.Fatalf("a transaction before the start time reached the consumer: %+v %+v", s.got, s.a.pending)
	}
	s.clock = s.clock.Add(10 * time.Second)
	s.feed(mariaGTID(2, 0), 40)
	s.feed(tableMap(), 50)
	s.feed(rows(2, 1), 60)
	s.feed(xid(), 31)
	if len(s.got) != 1 || ids(s.got[0]) != "2" || s.got[0].Begin.GTID != "0-7-1" {
		t.Fatalf("got %+v", s.got)
	}
}

func TestAssembleRollbackKeepsNonTransactionalRows(t *testing.T) {
	s := newScript(t, change.MariaDB, "")
	s.feed(mariaGTID(1, 0), 40)
	s.feed(tableMap(), 50)
	s.feed(rows(1, 1), 60)
	s.feed(query("ROLLBACK"), 70)
	if len(s.got) != 1 || ids(s.got[0]) != "1" {
		t.Fatalf("got %+v", s.got)
	}
}

func TestAssembleErrors(t *testing.T) {
	s := newScript(t, change.MariaDB, "")
	err := s.try(rows(1, 1), 60)
	if err == nil || !strings.Contains(err.Error(), "binlog.000001:4") || !strings.Contains(err.Error(), "not a transaction boundary") {
		t.Errorf("rows outside a transaction: %v", err)
	}
	err = s.try(&binlog.IncidentEvent{EventHeader: binlog.EventHeader{Type: binlog.IncidentEventType}, Incident: 1, Message: "lost events"}, 40)
	if err == nil || !strings.Contains(err.Error(), "lost events") || !strings.Contains(err.Error(), "binlog.000001:") {
		t.Errorf("incident: %v", err)
	}
}

func TestAssembleLearnsGTIDsFromFileStart(t *testing.T) {
	s := newScript(t, change.MariaDB, "-")
	s.feed(&binlog.MariaGTIDListEvent{EventHeader: binlog.EventHeader{Type: binlog.MariaGTIDListEventType},
		GTIDs: []binlog.MariaGTID{{Domain: 0, ServerID: 1, Sequence: 9}, {Domain: 0, ServerID: 7, Sequence: 10}, {Domain: 1, ServerID: 3, Sequence: 2}}}, 60)
	if s.a.done.GTID != "0-7-10,1-3-2" {
		t.Fatalf("done = %s", s.a.done)
	}
	s.feed(mariaGTID(11, 0), 40)
	s.feed(xid(), 31)
	if err := s.a.flushPending(); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 1 || s.got[0].End.GTID != "0-7-11,1-3-2" {
		t.Fatalf("got %+v", s.got)
	}
}

func TestClassifyQuery(t *testing.T) {
	cases := map[string]queryKind{
		"BEGIN": qBegin, "begin": qBegin, "COMMIT": qCommit, "ROLLBACK": qRollback,
		"ROLLBACK TO `sp1`": qSavepoint, "SAVEPOINT `sp1`": qSavepoint,
		"XA START X'31',X'',1": qXAStart, "XA END X'31'": qXAEnd, "XA PREPARE X'31'": qXAPrepare,
		"XA COMMIT X'31'": qXACommit, "XA ROLLBACK X'31'": qXARollback,
		"BEGINNING": qOther, "CREATE TABLE t (a int)": qOther, "COMMITTED_TABLE": qOther,
		"# Dummy event replacing event type 160": qDummy,
	}
	for q, want := range cases {
		if got := classifyQuery(q); got != want {
			t.Errorf("classifyQuery(%q) = %d, want %d", q, got, want)
		}
	}
}
