package schema

import (
	"context"
	"testing"

	"github.com/sluice-db/sluice/change"
)

// TestMySQL8Statements applies MySQL 8 DDL forms (functional and
// multi-valued indexes, GIPK, INSTANT, partition maintenance, SET
// INVISIBLE) to a MySQL history.
func TestMySQL8Statements(t *testing.T) {
	h, _ := newTestHistory(t, Options{Flavor: change.MySQL})
	for i, q := range []string{
		"CREATE DATABASE d /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci */ /*!80016 DEFAULT ENCRYPTION='N' */",
		"CREATE TABLE t (id int NOT NULL AUTO_INCREMENT, a int, b int, j json, PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci",
		"ALTER TABLE t ADD COLUMN c int, ALGORITHM=INSTANT",
		"CREATE TABLE t2 (a int, b int GENERATED ALWAYS AS (a+1) VIRTUAL, INDEX ((a+b)), UNIQUE KEY u ((a*2)))",
		"CREATE TABLE t3 (j json, INDEX mv ((CAST(j->'$.x' AS UNSIGNED ARRAY))))",
		"ALTER TABLE t RENAME COLUMN a TO a2",
		"CREATE TABLE t4 (my_row_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT /*!80023 INVISIBLE */, a int, PRIMARY KEY (my_row_id))",
		"CREATE TABLE t5 (a int) ENGINE=InnoDB /*!80016 DEFAULT ENCRYPTION='N' */",
		"ALTER TABLE t ADD INDEX i (b), ALTER INDEX i INVISIBLE",
		"CREATE TABLE t6 (a varchar(10) COLLATE utf8mb4_ja_0900_as_cs)",
		"CREATE TABLE t7 (v VECTOR(3))",
		"ALTER TABLE t ADD CONSTRAINT ck CHECK (b > 0) NOT ENFORCED",
		"CREATE TABLE t8 (a int) TABLESPACE ts STORAGE DISK",
		"CREATE TABLE t9 (a int) SECONDARY_ENGINE=RAPID",
		"ALTER TABLE t ADD COLUMN d int DEFAULT (rand())",
		"CREATE TABLE t10 (a DATETIME DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, b TIMESTAMP(6) DEFAULT NOW(6))",
		"CREATE TABLE t11 (a int) AUTOEXTEND_SIZE=4M",
		"CREATE TABLE t12 LIKE t",
		"ALTER TABLE t DROP CONSTRAINT ck",
		"CREATE TABLE t13 (a int, b varchar(3) CHARACTER SET utf8mb3) DEFAULT CHARSET=utf8mb3",
		"CREATE TABLE `t14` (`id` int NOT NULL, `s` set('a','b') CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci DEFAULT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci",
		"CREATE TABLE t15 (a int) START TRANSACTION",
		"ALTER TABLE t ADD COLUMN e int FIRST, ADD COLUMN f int AFTER e, DROP COLUMN c, RENAME INDEX i TO i2, RENAME TO t_new",
		"CREATE TABLE t16 (a int) PARTITION BY LIST (a) (PARTITION p0 VALUES IN (1,2))",
		"ALTER TABLE t16 ADD PARTITION (PARTITION p1 VALUES IN (3))",
		"ALTER TABLE t16 EXCHANGE PARTITION p0 WITH TABLE t5",
		"ALTER TABLE t16 REORGANIZE PARTITION p0, p1 INTO (PARTITION p2 VALUES IN (1,2,3))",
		"ALTER TABLE t16 REMOVE PARTITIONING",
		"ALTER TABLE t16 ALTER COLUMN a SET INVISIBLE",
	} {
		_, err := h.ApplyDDL(context.Background(), DDL{Schema: "d", SQL: q, Pos: pos(uint64(10 * (i + 1)))})
		if err != nil {
			t.Errorf("%v", err)
		}
	}
	for name, want := range map[string]string{
		"t4":    "my_row_id bigint bigint unsigned invisible; a int int null pk=[0]",
		"t_new": "e int int null; f int int null; id int int; a2 int int null; b int int null; j json json null; d int int null default=(rand()) pk=[2]",
		"t12":   "id int int; a2 int int null; b int int null; j json json null; c int int null; d int int null default=(rand()) pk=[0]",
		"t2":    "a int int null; b int int null generated",
		"t16":   "a int int null invisible",
		"t6":    "a varchar varchar(10) null utf8mb4/utf8mb4_ja_0900_as_cs",
		"t13":   "a int int null; b varchar varchar(3) null utf8mb3/utf8mb3_general_ci",
	} {
		if got := tableSummary(mustTable(t, h, "d", name)); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
	if _, ok := h.Table("d", "t"); ok {
		t.Error("d.t still exists after RENAME TO t_new")
	}
}
