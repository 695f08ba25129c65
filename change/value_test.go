package change

import (
	"hash/maphash"
	"math"
	"testing"
)

func TestValueText(t *testing.T) {
	cases := []struct {
		name string
		v    Value
		want string
	}{
		{"int", Int(-42), "-42"},
		{"uint max", Uint(math.MaxUint64), "18446744073709551615"},
		{"float", Float(1.1), "1.1"},
		{"double", Double(-2.5e-300), "-2.5e-300"},
		{"decimal", Decimal([]byte("-0.0100")), "-0.0100"},
		{"year zero", Year(0), "0000"},
		{"year", Year(2155), "2155"},
		{"date", Date(2024, 2, 29), "2024-02-29"},
		{"zero date", Date(0, 0, 0), "0000-00-00"},
		{"partial date", Date(2020, 0, 0), "2020-00-00"},
		{"datetime", DateTime(9999, 12, 31, 23, 59, 59, 999999, 6), "9999-12-31 23:59:59.999999"},
		{"datetime frac3", DateTime(2001, 1, 2, 3, 4, 5, 120000, 3), "2001-01-02 03:04:05.120"},
		{"datetime no frac", DateTime(1000, 1, 1, 0, 0, 0, 0, 0), "1000-01-01 00:00:00"},
		{"time negative", Time(-(838*3600+59*60+59)*1e6, 0), "-838:59:59"},
		{"time frac", Time(-(1*1e6 + 500000), 1), "-00:00:01.5"},
		{"time small", Time(3723*1e6+5, 6), "01:02:03.000005"},
		{"timestamp", Timestamp(1700000000123456, 6), "2023-11-14 22:13:20.123456"},
		{"timestamp zero", Timestamp(0, 2), "0000-00-00 00:00:00.00"},
		{"bit", Bit(5), "5"},
		{"string", String([]byte("héllo")), "héllo"},
		{"enum", Enum(2, []byte("b")), "b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(c.v.AppendText(nil)); got != c.want {
				t.Fatalf("AppendText = %q, want %q", got, c.want)
			}
		})
	}
}

func TestPackRoundTrip(t *testing.T) {
	for _, d := range [][7]int{{0, 0, 0, 0, 0, 0, 0}, {1000, 1, 1, 0, 0, 0, 0}, {9999, 12, 31, 23, 59, 59, 999999}, {2020, 0, 15, 12, 30, 1, 7}} {
		p := PackDateTime(d[0], d[1], d[2], d[3], d[4], d[5], d[6])
		y, mo, dd, h, mi, s, us := UnpackDateTime(p)
		if got := [7]int{y, mo, dd, h, mi, s, us}; got != d {
			t.Errorf("round trip %v = %v", d, got)
		}
	}
	if PackDate(2020, 1, 31) >= PackDate(2020, 2, 1) {
		t.Error("packed dates must order like dates")
	}
}

func TestValueJSON(t *testing.T) {
	cases := []struct {
		v       Value
		charset string
		want    string
	}{
		{Null(), "", "null"},
		{Int(7), "", "7"},
		{Decimal([]byte("1.50")), "", `"1.50"`},
		{String([]byte("a\"b\\c\n\x01")), "utf8mb4", `"a\"b\\c\n\u0001"`},
		{String([]byte{0xe9}), "latin1", `"é"`},
		{String([]byte{0xc4, 0xe3}), "gbk", `"你"`},
		{Bytes([]byte{0, 1, 2}), "", `"AAEC"`},
		{JSON([]byte(`{"a":1}`)), "", `{"a":1}`},
		{DateTime(2020, 1, 2, 3, 4, 5, 0, 0), "", `"2020-01-02 03:04:05"`},
		{String([]byte{0xff, 'a'}), "utf8mb4", `"` + "\ufffd" + `a"`},
	}
	for _, c := range cases {
		if got := string(c.v.AppendJSON(nil, c.charset)); got != c.want {
			t.Errorf("AppendJSON(%v, %s) = %s, want %s", c.v, c.charset, got, c.want)
		}
	}
}

func TestEqualAndHash(t *testing.T) {
	seed := maphash.MakeSeed()
	hash := func(v Value) uint64 {
		var h maphash.Hash
		h.SetSeed(seed)
		v.Hash(&h)
		return h.Sum64()
	}
	a, b := String([]byte("x")), String([]byte("x"))
	if !a.Equal(b) || hash(a) != hash(b) {
		t.Fatal("equal strings must be Equal and hash alike")
	}
	if a.Equal(Bytes([]byte("x"))) {
		t.Fatal("values of different kinds must differ")
	}
	if Null().Equal(Absent()) {
		t.Fatal("NULL is not absent")
	}
	if Double(0).Equal(Double(math.Copysign(0, -1))) {
		t.Fatal("0 and -0 have different bits")
	}
}

func TestParseFilePos(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want Position
	}{
		{"binlog.000003:1234", true, Position{File: "binlog.000003", Offset: 1234}},
		{"mysql-bin.000001:4", true, Position{File: "mysql-bin.000001", Offset: 4}},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:23", false, Position{}},
		{"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", false, Position{}},
		{"0-1-100", false, Position{}},
		{"file:", false, Position{}},
	}
	for _, c := range cases {
		got, ok := ParseFilePos(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseFilePos(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if (Position{File: "b.000009", Offset: 5}).Compare(Position{File: "b.000010", Offset: 4}) >= 0 {
		t.Error("b.000009 must come before b.000010")
	}
	if (Position{File: "b.999999", Offset: 5}).Compare(Position{File: "b.1000000", Offset: 4}) >= 0 {
		t.Error("b.999999 must come before b.1000000")
	}
}
