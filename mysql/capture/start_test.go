package capture

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-db/sluice/change"
)

func TestParseStart(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	u := "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	cases := []struct {
		in   string
		want Start
	}{
		{"now", Start{Kind: StartNow}},
		{"", Start{Kind: StartNow}},
		{"start", Start{Kind: StartOldest}},
		{"OLDEST", Start{Kind: StartOldest}},
		{"binlog.000042:1234", Start{Kind: StartPosition, Position: change.Position{File: "binlog.000042", Offset: 1234}}},
		{"mysql-bin.000001:4", Start{Kind: StartPosition, Position: change.Position{File: "mysql-bin.000001", Offset: 4}}},
		{"0-1-500, 1-2-7", Start{Kind: StartPosition, Position: change.Position{GTID: "0-1-500,1-2-7"}}},
		{"2024-01-02", Start{Kind: StartPosition, Position: change.Position{GTID: "2024-1-2"}}},
		{u + ":1-500", Start{Kind: StartPosition, Position: change.Position{GTID: u + ":1-500"}}},
		{u + ":7", Start{Kind: StartPosition, Position: change.Position{GTID: u + ":7"}}},
		{"2024-05-06 07:08:09", Start{Kind: StartTime, Time: time.Date(2024, 5, 6, 7, 8, 9, 0, loc)}},
		{"2024-05-06T07:08:09.5Z", Start{Kind: StartTime, Time: time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.UTC)}},
	}
	for _, tc := range cases {
		got, err := ParseStart(tc.in, loc)
		if err != nil {
			t.Errorf("ParseStart(%q): %v", tc.in, err)
			continue
		}
		if got.Kind != tc.want.Kind || got.Position != tc.want.Position || !got.Time.Equal(tc.want.Time) {
			t.Errorf("ParseStart(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "binlog.000001:", u + ":0", "0-1", "2024-13-45 25:00:00"} {
		if _, err := ParseStart(bad, loc); err == nil {
			t.Errorf("ParseStart(%q) accepted it", bad)
		}
	}
	if gtidFlavor("0-1-2") != change.MariaDB || gtidFlavor(u+":1") != change.MySQL {
		t.Error("gtidFlavor")
	}
}

// The dump commands, field by field, as MySQL's replica writes them
// (rpl_replica.cc request_dump) and go-mysql sends them.
func TestDumpPackets(t *testing.T) {
	p := fileDumpPacket(1234567, "binlog.000042", 98765)
	body := p[4:]
	if body[0] != 0x12 || binary.LittleEndian.Uint32(body[1:]) != 98765 || binary.LittleEndian.Uint16(body[5:]) != 0 ||
		binary.LittleEndian.Uint32(body[7:]) != 1234567 || string(body[11:]) != "binlog.000042" {
		t.Errorf("COM_BINLOG_DUMP = %x", body)
	}

	text := "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:tag_a:3"
	set, err := ParseMySQLGTIDSet(text)
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := gomysql.ParseMysqlGTIDSet(text)
	p = mysqlGTIDDumpPacket(42, set)
	body = p[4:]
	if body[0] != 0x1e || binary.LittleEndian.Uint16(body[1:]) != 0 || binary.LittleEndian.Uint32(body[3:]) != 42 ||
		binary.LittleEndian.Uint32(body[7:]) != 0 || binary.LittleEndian.Uint64(body[11:]) != 4 {
		t.Fatalf("COM_BINLOG_DUMP_GTID header = %x", body[:19])
	}
	n := binary.LittleEndian.Uint32(body[19:])
	if int(n) != len(body)-23 || !bytes.Equal(body[23:], theirs.Encode()) {
		t.Errorf("COM_BINLOG_DUMP_GTID set = %x, go-mysql encodes %x", body[23:], theirs.Encode())
	}

	u := replicaUUID(77)
	if !looksLikeUUID(u) || u != replicaUUID(77) || u == replicaUUID(78) {
		t.Errorf("replicaUUID = %s", u)
	}
}

func TestBackoff(t *testing.T) {
	max := 2 * time.Second
	prev := time.Duration(0)
	for n := 1; n <= 12; n++ {
		d := backoff(n, max)
		if d <= 0 || d > max+max/4 {
			t.Errorf("backoff(%d) = %v", n, d)
		}
		if n <= 4 && d < prev/2 {
			t.Errorf("backoff(%d) = %v shrank from %v", n, d, prev)
		}
		prev = d
	}
}
