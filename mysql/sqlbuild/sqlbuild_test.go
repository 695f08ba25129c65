package sqlbuild

import "testing"

func TestQuoteIdent(t *testing.T) {
	cases := map[string]string{"t": "`t`", "a`b": "`a``b`", "": "``", "日本": "`日本`", "x` OR 1=1 --": "`x`` OR 1=1 --`"}
	for in, want := range cases {
		if got := QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
	if got := QuoteTable("s", "t"); got != "`s`.`t`" {
		t.Errorf("QuoteTable = %s", got)
	}
}

func TestStatements(t *testing.T) {
	cols := []Column{{Name: "id"}, {Name: "doc", JSON: true}, {Name: "n"}}
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"insert", AppendInsert(nil, "s", "t", cols, 2, false, false, []int{0}),
			"INSERT INTO `s`.`t` (`id`,`doc`,`n`) VALUES (?,CONVERT(? USING utf8mb4),?),(?,CONVERT(? USING utf8mb4),?)"},
		{"upsert values", AppendInsert(nil, "s", "t", cols, 1, true, false, []int{0}),
			"INSERT INTO `s`.`t` (`id`,`doc`,`n`) VALUES (?,CONVERT(? USING utf8mb4),?) ON DUPLICATE KEY UPDATE `doc`=VALUES(`doc`),`n`=VALUES(`n`)"},
		{"upsert alias", AppendInsert(nil, "s", "t", cols, 1, true, true, []int{0}),
			"INSERT INTO `s`.`t` (`id`,`doc`,`n`) VALUES (?,CONVERT(? USING utf8mb4),?) AS `new` ON DUPLICATE KEY UPDATE `doc`=`new`.`doc`,`n`=`new`.`n`"},
		{"upsert all key", AppendInsert(nil, "s", "t", cols[:1], 1, true, false, []int{0}),
			"INSERT INTO `s`.`t` (`id`) VALUES (?) ON DUPLICATE KEY UPDATE `id`=`id`"},
		{"delete one col", AppendDeleteByKey(nil, "s", "t", cols[:1], 3),
			"DELETE FROM `s`.`t` WHERE `id` IN (?,?,?)"},
		{"delete two cols", AppendDeleteByKey(nil, "s", "t", []Column{{Name: "a"}, {Name: "b"}}, 2),
			"DELETE FROM `s`.`t` WHERE (`a`,`b`) IN ((?,?),(?,?))"},
		{"delete rows", AppendDeleteRows(nil, "s", "t", []Column{{Name: "a"}, {Name: "b"}}, 2),
			"DELETE FROM `s`.`t` WHERE `a`=? AND `b`=?;DELETE FROM `s`.`t` WHERE `a`=? AND `b`=?"},
		{"match", AppendMatch(nil, cols[:2]), "`id` <=> ? AND `doc` <=> CONVERT(? USING utf8mb4)"},
		{"set", AppendSet(nil, cols[2:]), "`n`=?"},
	}
	for _, c := range cases {
		if string(c.got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
	if Placeholders(3) != "?,?,?" || Placeholders(0) != "" {
		t.Error("Placeholders")
	}
	if MaxRowsPerStatement(1000, 500) != 65 || MaxRowsPerStatement(4, 500) != 500 {
		t.Error("MaxRowsPerStatement")
	}
}
