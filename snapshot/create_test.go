package snapshot

import (
	"math"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
)

const sourceCreate = "CREATE TABLE `items` (\n" +
	"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
	"  `na``me` varchar(40) NOT NULL DEFAULT 'a`b' COMMENT 'the `name`',\n" +
	"  `qty` int(11) NOT NULL,\n" +
	"  `note` text DEFAULT NULL,\n" +
	"  `j` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`j`)),\n" +
	"  PRIMARY KEY (`id`),\n" +
	"  UNIQUE KEY `u_name` (`na``me`),\n" +
	"  KEY `k_qty` (`qty`),\n" +
	"  KEY `k_note` (`note`(10)),\n" +
	"  CONSTRAINT `fk` FOREIGN KEY (`qty`) REFERENCES `other` (`id`)\n" +
	") ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"

func TestRewriteCreateAppliesTheMapping(t *testing.T) {
	src := &change.Table{Columns: []change.Column{{Name: "id"}, {Name: "na`me"}, {Name: "qty"}, {Name: "note"}, {Name: "j"}}}
	target := &change.Table{Columns: []change.Column{{Name: "id"}, {Name: "title"}, {Name: "quantity"}, {Name: "j"}}}
	cols := newColumnMap(src, target, []int{0, 1, 2, 4})
	stmt, dropped, deferred, err := rewriteCreate(sourceCreate, "arch", "goods", cols, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "CREATE TABLE `arch`.`goods` (\n" +
		"  `id` int(11) NOT NULL AUTO_INCREMENT,\n" +
		"  `title` varchar(40) NOT NULL DEFAULT 'a`b' COMMENT 'the `name`',\n" +
		"  `quantity` int(11) NOT NULL,\n" +
		"  `j` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL CHECK (json_valid(`j`)),\n" +
		"  PRIMARY KEY (`id`),\n" +
		"  UNIQUE KEY `u_name` (`title`)\n" +
		") ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
	if stmt != want {
		t.Fatalf("got\n%s\nwant\n%s", stmt, want)
	}
	if len(deferred) != 1 || deferred[0] != "KEY `k_qty` (`quantity`)" {
		t.Fatalf("deferred %q", deferred)
	}
	if len(dropped) != 3 || !strings.Contains(strings.Join(dropped, "|"), "column note") || !strings.Contains(strings.Join(dropped, "|"), "foreign key") {
		t.Fatalf("dropped %q", dropped)
	}
	if indexName(deferred[0]) != "k_qty" {
		t.Fatalf("index name %q", indexName(deferred[0]))
	}
}

func TestCheckTargetNamesTheConflict(t *testing.T) {
	src := []columnInfo{{"id", "int(11)", ""}, {"name", "varchar(40)", "utf8mb4"}, {"qty", "bigint(20)", ""}}
	tgt := []columnInfo{{"id", "int", ""}, {"name", "varchar(40)", "latin1"}, {"extra", "int", ""}}
	def := &change.Table{Columns: []change.Column{{Name: "id"}, {Name: "name"}, {Name: "qty"}}}
	err := checkTarget(src, tgt, newColumnMap(def, def, nil), "s.t", "d.t")
	if err == nil {
		t.Fatal("no conflict reported")
	}
	for _, want := range []string{"d.t", "s.t", "column name is varchar(40) latin1 on the target but varchar(40) utf8mb4 on the source", "column qty (bigint(20) on the source) is missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// Display widths differ between MySQL and MariaDB: not a conflict.
	if err := checkTarget(src[:1], tgt[:1], newColumnMap(def, def, nil), "s.t", "d.t"); err != nil {
		t.Fatal(err)
	}
}

func TestConvertParsesServerText(t *testing.T) {
	cv := &converter{}
	for _, tc := range []struct {
		col  change.Column
		in   string
		want change.Value
	}{
		{change.Column{Type: change.TypeBigInt, Unsigned: true}, "18446744073709551615", change.Uint(1<<64 - 1)},
		{change.Column{Type: change.TypeInt}, "-2147483648", change.Int(-2147483648)},
		{change.Column{Type: change.TypeFloat}, "3.4028235e+38", change.Float(3.4028235e38)},
		{change.Column{Type: change.TypeDouble}, "-0", change.Double(math.Copysign(0, -1))},
		{change.Column{Type: change.TypeTime, Scale: 6}, "-838:59:59.000000", change.Time(-(838*3600+59*60+59)*1e6, 6)},
		{change.Column{Type: change.TypeDateTime, Scale: 3}, "2024-02-00 12:00:00.001", change.DateTime(2024, 2, 0, 12, 0, 0, 1000, 3)},
		{change.Column{Type: change.TypeTimestamp}, "0000-00-00 00:00:00", change.Timestamp(0, 0)},
		{change.Column{Type: change.TypeTimestamp, Scale: 6}, "1970-01-01 00:00:01.5", change.Timestamp(1500000, 6)},
		{change.Column{Type: change.TypeDate}, "0000-00-00", change.Date(0, 0, 0)},
		{change.Column{Type: change.TypeBit}, "\x01\x02", change.Bit(258)},
		{change.Column{Type: change.TypeEnum, Elems: []string{"a", "b"}}, "b", change.Enum(2, []byte("b"))},
		{change.Column{Type: change.TypeSet, Elems: []string{"x", "y", "z"}}, "x,z", change.Set(5, []byte("x,z"))},
		{change.Column{Type: change.TypeVarChar, Charset: "binary"}, "\x00\xff", change.Bytes([]byte("\x00\xff"))},
	} {
		got, err := cv.value(&tc.col, []byte(tc.in), false)
		if err != nil {
			t.Errorf("%v %q: %v", tc.col.Type, tc.in, err)
			continue
		}
		if !got.Equal(tc.want) || got.Frac != tc.want.Frac {
			t.Errorf("%v %q: %v (%v), want %v (%v)", tc.col.Type, tc.in, got, got.Kind, tc.want, tc.want.Kind)
		}
	}
	if _, err := cv.value(&change.Column{Type: change.TypeDate}, []byte("2024-1-1"), false); err == nil {
		t.Error("a malformed date was accepted")
	}
}
