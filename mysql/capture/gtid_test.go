package capture

import (
	"bytes"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

func TestMariaDBGTIDList(t *testing.T) {
	l, err := ParseMariaDBGTIDList("1-2-7, 0-1-42")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.String(), "0-1-42,1-2-7"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	l.Update(MariaDBGTID{Domain: 0, Server: 3, Seq: 43})
	l.Update(MariaDBGTID{Domain: 5, Server: 1, Seq: 1})
	if got, want := l.String(), "0-3-43,1-2-7,5-1-1"; got != want {
		t.Fatalf("after Update: %q, want %q", got, want)
	}
	if !l.Contains(MariaDBGTID{0, 1, 40}) || l.Contains(MariaDBGTID{1, 2, 8}) || l.Contains(MariaDBGTID{9, 1, 1}) {
		t.Fatal("Contains is wrong")
	}
	c := l.Clone()
	c.Update(MariaDBGTID{Domain: 0, Server: 3, Seq: 99})
	if l.String() != "0-3-43,1-2-7,5-1-1" {
		t.Fatal("Clone shares memory")
	}
	empty, err := ParseMariaDBGTIDList("")
	if err != nil || empty.String() != "" {
		t.Fatalf("empty list: %v %q", err, empty.String())
	}
	for _, bad := range []string{"0-1", "a-b-c", "0-1-2,0-1-3", "0-1-2,", "0-99999999999-1"} {
		if _, err := ParseMariaDBGTIDList(bad); err == nil {
			t.Errorf("ParseMariaDBGTIDList(%q) accepted bad input", bad)
		}
	}
}

// The MySQL encodings are checked against go-mysql's, which real MySQL
// servers accept: no MySQL server runs here.
func TestMySQLGTIDSetAgainstGoMySQL(t *testing.T) {
	cases := []string{
		"",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
		"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7:9-12,0b8d2a3e-1c3a-11ee-be56-0242ac120002:3",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:tag_a:1-3:Zed:4",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_a:10-20,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5-6:4,\n0b8d2a3e-1c3a-11ee-be56-0242ac120002:1",
	}
	for _, in := range cases {
		ours, err := ParseMySQLGTIDSet(in)
		if err != nil {
			t.Fatalf("ParseMySQLGTIDSet(%q): %v", in, err)
		}
		theirs, err := gomysql.ParseMysqlGTIDSet(in)
		if err != nil {
			t.Fatalf("go-mysql ParseMysqlGTIDSet(%q): %v", in, err)
		}
		if got, want := ours.String(), theirs.String(); got != want {
			t.Errorf("%q: String = %q, go-mysql %q", in, got, want)
		}
		if got, want := ours.Encode(), theirs.Encode(); !bytes.Equal(got, want) {
			t.Errorf("%q: Encode = %x, go-mysql %x", in, got, want)
		}
		back, err := gomysql.DecodeMysqlGTIDSet(ours.Encode())
		if err != nil {
			t.Errorf("%q: go-mysql cannot decode our encoding: %v", in, err)
		} else if back.String() != theirs.String() {
			t.Errorf("%q: decoded %q", in, back.String())
		}
	}
}

func TestMySQLGTIDSetAdd(t *testing.T) {
	u, _ := parseUUID("3e11fa47-71ca-11e1-9e33-c80aa9429562")
	s := &MySQLGTIDSet{}
	oracle := gomysql.NewMysqlGTIDSet()
	uu := [16]byte(u)
	add := func(tag string, gno int64) {
		s.Add(u, tag, gno)
		oracle.AddGTIDWithTag(uu, gomysql.NewTag(tag), gno)
	}
	for _, g := range []int64{1, 2, 3, 7, 5, 6, 4, 10} {
		add("", g)
	}
	add("blue", 3)
	add("blue", 1)
	add("blue", 2)
	if got, want := s.String(), oracle.String(); got != want {
		t.Fatalf("String = %q, go-mysql %q", got, want)
	}
	if got, want := s.String(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7:10:blue:1-3"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	if !s.Contains(u, "", 4) || s.Contains(u, "", 8) || !s.Contains(u, "blue", 2) || s.Contains(u, "red", 1) {
		t.Fatal("Contains is wrong")
	}
	if got := FormatMySQLGTID(u, "blue", 9); got != "3e11fa47-71ca-11e1-9e33-c80aa9429562:blue:9" {
		t.Fatalf("FormatMySQLGTID = %q", got)
	}
	c := s.Clone()
	c.Add(u, "", 8)
	if s.Contains(u, "", 8) {
		t.Fatal("Clone shares memory")
	}
	for _, bad := range []string{"nope:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562", "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-3",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:tag", "3e11fa47-71ca-11e1-9e33-c80aa9429562:a:b:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562:0"} {
		if _, err := ParseMySQLGTIDSet(bad); err == nil {
			t.Errorf("ParseMySQLGTIDSet(%q) accepted bad input", bad)
		}
	}
}
