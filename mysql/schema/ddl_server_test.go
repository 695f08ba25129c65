package schema

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

// ddlScenarios are DDL forms run on a real MariaDB and applied to a history
// side by side; after every statement the history must describe the
// scenario's database exactly as the server does. Each scenario has its
// own database, named after it.
var ddlScenarios = []struct {
	name  string
	stmts []string
}{
	{"types", []string{
		"CREATE TABLE t (a tinyint, b tinyint unsigned, c smallint(3), d mediumint unsigned zerofill, e int, f int(5) unsigned, " +
			"g bigint, h bigint unsigned, i decimal, j decimal(12,4) unsigned, k float, l float(7,3), m double, n double(10,2), " +
			"o real, p bit, q bit(12), r year, s date, u time, v time(3), w datetime, x datetime(6), y timestamp NULL, z timestamp(2) NULL, " +
			"aa char, ab char(20), ac varchar(300), ad binary, ae binary(8), af varbinary(40), ag tinytext, ah text, ai mediumtext, " +
			"aj longtext, ak tinyblob, al blob, am mediumblob, an longblob, ao enum('x','y''s','z'), ap set('a','b','c'), aq json, " +
			"ar bool, as1 serial, at numeric(5), au float(30), av text(100), aw blob(70000), ax national char(3), ay nvarchar(4), " +
			"az long varchar)",
	}},
	{"charsets", []string{
		"CREATE TABLE t (a varchar(10), b varchar(10) CHARACTER SET latin1, c varchar(10) COLLATE latin1_german2_ci, " +
			"d varchar(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, e char(4) BINARY, f varchar(4) CHARACTER SET ascii BINARY, " +
			"g char(3) CHARACTER SET binary, h varchar(3) CHARACTER SET binary, i text CHARACTER SET binary, " +
			"j enum('a','b') CHARACTER SET binary, k varchar(5) CHARACTER SET ucs2, l varchar(5) CHARACTER SET utf8mb3, " +
			"m varchar(5) CHARACTER SET utf8 COLLATE utf8_unicode_ci, n varchar(5) COLLATE utf8mb4_uca1400_ai_ci, " +
			"o varchar(5) CHARACTER SET latin2, p set('x') CHARACTER SET latin1, q text CHARACTER SET gbk, r varchar(3) CHARACTER SET big5) " +
			"DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
		"CREATE TABLE t2 (a varchar(3), b text) CHARACTER SET latin1",
		"CREATE TABLE t3 (a varchar(3)) COLLATE latin1_bin",
		"CREATE TABLE t4 (a varchar(3), b char(2) CHARACTER SET utf8mb4)",
		"ALTER TABLE t4 DEFAULT CHARSET latin1",
		"ALTER TABLE t4 ADD COLUMN c varchar(4)",
		"ALTER TABLE t4 CONVERT TO CHARACTER SET utf8mb3 COLLATE utf8mb3_bin",
		"CREATE TABLE t5 (a tinytext, b text, c mediumtext, d varchar(10), e char(3), f enum('x')) CHARACTER SET latin1",
		"ALTER TABLE t5 CONVERT TO CHARACTER SET utf8mb4",
		"CREATE TABLE t6 (a text, b varchar(3)) CHARACTER SET latin1",
		"ALTER TABLE t6 CONVERT TO CHARACTER SET binary",
		"ALTER TABLE t2 CHARACTER SET = utf8mb4 COLLATE utf8mb4_bin, ADD d varchar(2)",
	}},
	{"dbcharset", []string{
		"CREATE DATABASE dbcharset_x CHARACTER SET latin2",
		"CREATE TABLE dbcharset_x.t (a varchar(3))",
		"CREATE TABLE t (a varchar(3))",
		"ALTER DATABASE dbcharset CHARACTER SET ucs2 COLLATE ucs2_bin",
		"CREATE TABLE t2 (a varchar(3), b char(1) COLLATE ucs2_general_ci)",
		"ALTER DATABASE CHARACTER SET latin1",
		"CREATE TABLE t3 (a varchar(3))",
		"DROP DATABASE dbcharset_x",
	}},
	{"keys", []string{
		"CREATE TABLE t (id int PRIMARY KEY, a int UNIQUE, b int UNIQUE KEY, c varchar(20), d int NOT NULL, e int, " +
			"UNIQUE KEY (c(10)), UNIQUE (d, e), UNIQUE KEY named (e), KEY (a), KEY k2 (b, c), INDEX (a), FULLTEXT KEY ft (c))",
		"CREATE TABLE t2 (a int NOT NULL, b int NOT NULL, c int, PRIMARY KEY (b, a), UNIQUE (c))",
		"CREATE TABLE t3 (x int, y int, CONSTRAINT fk FOREIGN KEY (x) REFERENCES t (id), FOREIGN KEY (y) REFERENCES t (id), " +
			"CONSTRAINT chk CHECK (x > 0))",
		"CREATE TABLE t4 (id serial, g point NOT NULL, SPATIAL KEY (g), a int, KEY (a) USING HASH)",
		"CREATE TABLE t5 (a int NOT NULL, b int, UNIQUE KEY (b), UNIQUE KEY (a))",
	}},
	{"alter", []string{
		"CREATE TABLE t (id int NOT NULL, a int, b varchar(10), c int)",
		"ALTER TABLE t ADD COLUMN d int FIRST",
		"ALTER TABLE t ADD COLUMN e int AFTER a, ADD f int, ADD COLUMN (g int, h varchar(3))",
		"ALTER TABLE t DROP COLUMN c, DROP b",
		"ALTER TABLE t MODIFY a bigint unsigned NOT NULL DEFAULT 5",
		"ALTER TABLE t MODIFY COLUMN e int AFTER g",
		"ALTER TABLE t CHANGE f ff varchar(20) CHARACTER SET latin1 FIRST",
		"ALTER TABLE t RENAME COLUMN ff TO f2",
		"ALTER TABLE t ALTER COLUMN g SET DEFAULT 7, ALTER h SET DEFAULT 'x'",
		"ALTER TABLE t ALTER COLUMN a DROP DEFAULT",
		"ALTER TABLE t ADD PRIMARY KEY (id)",
		"ALTER TABLE t ADD UNIQUE KEY u1 (g), ADD UNIQUE (h), ADD KEY k (e)",
		"ALTER TABLE t RENAME INDEX u1 TO u2, RENAME KEY k TO k2",
		"ALTER TABLE t DROP INDEX h",
		"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, a)",
		"ALTER TABLE t DROP PRIMARY KEY, DROP COLUMN a, ADD PRIMARY KEY (id)",
		"ALTER TABLE t ENGINE=InnoDB",
		"ALTER TABLE t ADD COLUMN z1 int, ALGORITHM=INSTANT",
		"ALTER TABLE t ADD COLUMN i int, ALGORITHM=NOCOPY, LOCK=NONE",
		"ALTER TABLE t ADD COLUMN IF NOT EXISTS i int, ADD COLUMN IF NOT EXISTS j int",
		"ALTER TABLE t DROP COLUMN IF EXISTS zz, DROP COLUMN IF EXISTS j",
		"ALTER TABLE t MODIFY COLUMN IF EXISTS zz int, CHANGE COLUMN IF EXISTS i i2 smallint",
		"ALTER TABLE t ADD INDEX IF NOT EXISTS k2 (g), ADD INDEX IF NOT EXISTS k3 (g), DROP INDEX IF EXISTS nope",
		"ALTER ONLINE TABLE t ADD COLUMN k int",
		"ALTER TABLE t WAIT 5 ADD COLUMN l int",
		"ALTER TABLE t NOWAIT DROP COLUMN l",
		"ALTER TABLE t FORCE",
		"/*!40000 ALTER TABLE `t` DISABLE KEYS */",
		"ALTER TABLE t ADD m int /*!100301 COMMENT 'm' */",
		"SET STATEMENT max_statement_time=60 FOR ALTER TABLE t ADD COLUMN n datetime(3) DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3)",
		"ALTER TABLE t RENAME TO t_renamed",
		"CREATE DATABASE alter_x",
		"ALTER TABLE t_renamed RENAME AS alter_x.t",
	}},
	{"create", []string{
		"CREATE TABLE t (id int PRIMARY KEY, a varchar(3))",
		"CREATE TABLE IF NOT EXISTS t (x int)",
		"CREATE TABLE t_like LIKE t",
		"CREATE TABLE t_like2 (LIKE t)",
		"CREATE OR REPLACE TABLE t (id bigint, b int) ENGINE=InnoDB",
		"CREATE TABLE IF NOT EXISTS `create`.`t q` (`a``b` int, `c d` int)",
		"CREATE TABLE t2 (a int) ENGINE=InnoDB DEFAULT CHARSET=latin1 ROW_FORMAT=DYNAMIC COMMENT='x' /*!50100 PARTITION BY HASH (a) PARTITIONS 4 */",
		"CREATE TABLE t3 (a int, b date) PARTITION BY RANGE (a) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE)",
		"CREATE TABLE t4 (a int) ENGINE=InnoDB PAGE_COMPRESSED=1",
		"CREATE TABLE t5 (a int) ENGINE=Aria TRANSACTIONAL=1 PAGE_CHECKSUM=1",
		"CREATE TABLE t6 (a int, b int) SELECT 1 AS a, 2 AS b",
		"CREATE TEMPORARY TABLE tmp (a int)",
		"DROP TEMPORARY TABLE tmp",
	}},
	{"mariadb", []string{
		"CREATE TABLE t (a int, b int INVISIBLE, c int AS (a + 1) PERSISTENT, d int AS (a * 2) VIRTUAL, " +
			"e varchar(10) COMPRESSED, f blob COMPRESSED, g uuid, h inet6, i inet4, j geometry, k point, l polygon, " +
			"m int DEFAULT (1 + 1), n datetime DEFAULT (current_timestamp() + interval 1 day), o varchar(10) DEFAULT concat('a','b'), " +
			"p int GENERATED ALWAYS AS (a + 3) STORED)",
		"ALTER TABLE t ADD COLUMN q int INVISIBLE AFTER a",
		"ALTER TABLE t MODIFY b int",
		"ALTER TABLE t ADD COLUMN r int, ADD KEY kr (r) IGNORED",
		"CREATE TABLE t2 (id int PRIMARY KEY, x int INVISIBLE NOT NULL DEFAULT 3, KEY (x))",
	}},
	{"versioning", []string{
		"CREATE TABLE t (x int) WITH SYSTEM VERSIONING",
		"CREATE TABLE t2 (x int, rs timestamp(6) GENERATED ALWAYS AS ROW START INVISIBLE, re timestamp(6) GENERATED ALWAYS AS ROW END INVISIBLE, " +
			"PERIOD FOR SYSTEM_TIME(rs, re)) WITH SYSTEM VERSIONING",
		"CREATE TABLE t3 (x int, y int WITHOUT SYSTEM VERSIONING) WITH SYSTEM VERSIONING",
		"CREATE TABLE t4 (x int)",
		"ALTER TABLE t4 ADD SYSTEM VERSIONING",
		"SET SESSION system_versioning_alter_history = KEEP",
		"ALTER TABLE t4 ADD COLUMN y int",
		"ALTER TABLE t4 ADD COLUMN z int FIRST",
		"ALTER TABLE t4 DROP SYSTEM VERSIONING",
		"ALTER TABLE t2 DROP SYSTEM VERSIONING, DROP COLUMN rs, DROP COLUMN re",
		"CREATE TABLE t5 (x int)",
		"ALTER TABLE t5 ADD COLUMN s timestamp(6) GENERATED ALWAYS AS ROW START, ADD COLUMN e timestamp(6) GENERATED ALWAYS AS ROW END, " +
			"ADD PERIOD FOR SYSTEM_TIME(s, e), ADD SYSTEM VERSIONING",
	}},
	{"rename", []string{
		"CREATE DATABASE rename_other",
		"CREATE TABLE a (x int)",
		"CREATE TABLE b (y int)",
		"CREATE TABLE c (z int)",
		"RENAME TABLE a TO tmp, b TO a, tmp TO b",
		"RENAME TABLE c TO rename_other.c2, rename_other.c2 TO rename_other.c3",
		"RENAME TABLE rename_other.c3 TO c",
		"DROP DATABASE rename_other",
	}},
	{"drop", []string{
		"CREATE TABLE a (x int)",
		"CREATE TABLE b (x int)",
		"CREATE TABLE c (x int)",
		"CREATE TABLE d (x int)",
		"DROP TABLE a, b",
		"TRUNCATE TABLE `drop`.c",
		"DROP TABLE IF EXISTS c, nope",
		"DROP TABLE IF EXISTS `drop`.`d` /* generated by server */",
	}},
	{"index", []string{
		"CREATE TABLE t (a int NOT NULL, b varchar(10), c text)",
		"CREATE UNIQUE INDEX ua ON t (a)",
		"CREATE INDEX ib ON t (b(5)) USING BTREE",
		"CREATE FULLTEXT INDEX fc ON t (c)",
		"CREATE INDEX IF NOT EXISTS ib ON t (b)",
		"DROP INDEX ib ON t",
		"DROP INDEX IF EXISTS nope ON t",
		"CREATE UNIQUE INDEX ub ON t (b) ALGORITHM=INPLACE LOCK=NONE",
	}},
	{"sequence", []string{
		"CREATE SEQUENCE s1",
		"CREATE SEQUENCE s2 START WITH 10 INCREMENT BY 5",
		"DROP SEQUENCE s1",
	}},
	{"ignored", []string{
		"CREATE TABLE t (a int)",
		"CREATE VIEW v AS SELECT a FROM t",
		"CREATE OR REPLACE VIEW v AS SELECT a + 1 AS b FROM t",
		"CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN SELECT 1; END",
		"CREATE FUNCTION f() RETURNS int DETERMINISTIC RETURN 1",
		"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = NEW.a + 1",
		"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
		"CREATE USER 'u'@'%' IDENTIFIED BY 'x'",
		"GRANT SELECT ON ignored.* TO 'u'@'%'",
		"ANALYZE TABLE t",
		"OPTIMIZE TABLE t",
		"FLUSH PRIVILEGES",
		"DROP TRIGGER tr",
		"DROP PROCEDURE p",
		"DROP FUNCTION f",
		"DROP EVENT e",
		"DROP VIEW v",
		"DROP USER 'u'@'%'",
	}},
}

func TestDDLMatchesServer(t *testing.T) {
	srv := testdb.Start(t, testdb.Options{})
	ctx := context.Background()
	db := srv.DB(t, "")
	db.SetMaxOpenConns(1) // USE db must stick to the connection the statements run on
	h, err := New(Options{Name: "ddl", Flavor: change.MariaDB, ServerCharset: "utf8mb4", ServerCollation: "utf8mb4_general_ci"})
	if err != nil {
		t.Fatal(err)
	}
	offset := uint64(4)
	for _, sc := range ddlScenarios {
		t.Run(sc.name, func(t *testing.T) {
			stmts := append([]string{"CREATE DATABASE `" + sc.name + "`"}, sc.stmts...)
			for i, q := range stmts {
				if i > 0 {
					if _, err := db.ExecContext(ctx, "USE `"+sc.name+"`"); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("server rejected %q: %v", q, err)
				}
				offset += 100
				pos := change.Position{File: "binlog.000001", Offset: offset}
				if _, err := h.ApplyDDL(ctx, DDL{Schema: sc.name, SQL: q, Pos: pos}); err != nil {
					t.Fatalf("history: %v", err)
				}
				step := fmt.Sprintf("after %d %q", i, abbreviate(q))
				assertMatchesServer(t, ctx, h, db, sc.name, step)
				for _, other := range []string{sc.name + "_x", sc.name + "_other"} {
					assertMatchesServer(t, ctx, h, db, other, step)
				}
			}
		})
	}
	if t.Failed() {
		return
	}
	// Every database side by side once more, and a bootstrap from the server
	// gives the same catalog as the DDL did.
	b, err := New(Options{Name: "boot", Flavor: change.MariaDB})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Bootstrap(ctx, db, change.Position{File: "binlog.000001", Offset: offset}, BootstrapOptions{}); err != nil {
		t.Fatal(err)
	}
	hTables, bTables := h.Tables(), b.Tables()
	if len(hTables) != len(bTables) {
		t.Fatalf("bootstrap has %d tables, the DDL history %d", len(bTables), len(hTables))
	}
	for i := range hTables {
		if hTables[i].QualifiedName() != bTables[i].QualifiedName() {
			t.Fatalf("table %d: bootstrap %s, DDL %s", i, bTables[i].QualifiedName(), hTables[i].QualifiedName())
		}
		hd := h.current(tableKey{hTables[i].Schema, hTables[i].Name})
		bd := b.current(tableKey{bTables[i].Schema, bTables[i].Name})
		for _, d := range diffDefs(hd, bd) {
			t.Errorf("%s: DDL vs bootstrap: %s", hTables[i].QualifiedName(), d)
		}
	}
	if !strings.EqualFold(b.opts.ServerCollation, "utf8mb4_general_ci") {
		t.Errorf("bootstrap read collation_server %q", b.opts.ServerCollation)
	}
}
