package schema

import (
	"context"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

// TestCollationsMatchServer checks the embedded collation table against a
// live MariaDB: every id, name, character set and default.
func TestCollationsMatchServer(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{NoBinlog: true})
	rows, err := srv.DB(t, "").QueryContext(context.Background(),
		"SELECT ID, FULL_COLLATION_NAME, CHARACTER_SET_NAME, IS_DEFAULT FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id uint16
		var name, cs, dflt string
		if err := rows.Scan(&id, &name, &cs, &dflt); err != nil {
			t.Fatal(err)
		}
		n++
		gcs, gco, ok := collations.ByID(id)
		if !ok || gcs != cs || gco != name {
			t.Errorf("id %d: %s/%s %v, server %s/%s", id, gcs, gco, ok, cs, name)
		}
		if got := collations.Charset(name); got != cs {
			t.Errorf("collation %s: charset %q, server %s", name, got, cs)
		}
		if dflt == "Yes" && collations.Default(change.MariaDB, cs) != name {
			t.Errorf("default of %s: %s, server %s", cs, collations.Default(change.MariaDB, cs), name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Fatalf("the server listed %d collations", n)
	}
}

func TestCollationIDs(t *testing.T) {
	for id, want := range map[uint16]string{
		8: "latin1/latin1_swedish_ci", 33: "utf8mb3/utf8mb3_general_ci", 45: "utf8mb4/utf8mb4_general_ci",
		46: "utf8mb4/utf8mb4_bin", 63: "binary/binary", 28: "gbk/gbk_chinese_ci", 87: "gbk/gbk_bin",
		11: "ascii/ascii_general_ci", 65: "ascii/ascii_bin", 224: "utf8mb4/utf8mb4_unicode_ci",
		255: "utf8mb4/utf8mb4_0900_ai_ci", 309: "utf8mb4/utf8mb4_0900_bin", 323: "utf8mb4/utf8mb4_mn_cyrl_0900_as_cs",
		76: "utf8mb3/utf8mb3_tolower_ci", 248: "gb18030/gb18030_chinese_ci", 2304: "utf8mb4/utf8mb4_uca1400_ai_ci",
		1069: "utf8mb4/utf8mb4_general_nopad_ci",
	} {
		cs, co, ok := collations.ByID(id)
		if !ok || cs+"/"+co != want {
			t.Errorf("id %d: %s/%s %v, want %s", id, cs, co, ok, want)
		}
	}
	if _, _, ok := collations.ByID(5000); ok {
		t.Error("id 5000 is known")
	}
	if collations.Default(change.MySQL, "utf8mb4") != "utf8mb4_0900_ai_ci" || collations.Default(change.MariaDB, "utf8mb4") != "utf8mb4_general_ci" ||
		collations.Default(change.MariaDB, "utf8") != "utf8mb3_general_ci" {
		t.Error("default collations by flavor")
	}
}
