package schema

import (
	_ "embed" // the MariaDB collation table
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/charset"

	"github.com/sluice-db/sluice/change"
)

//go:embed collations_mariadb.tsv
var mariadbCollationsTSV string

// mysqlOnlyCollations are the MySQL 8.0 collation ids MariaDB does not use.
// The two servers agree on every id below 255 that both define (modulo the
// utf8/utf8mb3 spelling), and MariaDB keeps out of 255-323.
var mysqlOnlyCollations = []collationEntry{
	{76, "utf8mb3_tolower_ci", "utf8mb3"},
	{248, "gb18030_chinese_ci", "gb18030"},
	{249, "gb18030_bin", "gb18030"},
	{250, "gb18030_unicode_520_ci", "gb18030"},
	{255, "utf8mb4_0900_ai_ci", "utf8mb4"},
	{256, "utf8mb4_de_pb_0900_ai_ci", "utf8mb4"},
	{257, "utf8mb4_is_0900_ai_ci", "utf8mb4"},
	{258, "utf8mb4_lv_0900_ai_ci", "utf8mb4"},
	{259, "utf8mb4_ro_0900_ai_ci", "utf8mb4"},
	{260, "utf8mb4_sl_0900_ai_ci", "utf8mb4"},
	{261, "utf8mb4_pl_0900_ai_ci", "utf8mb4"},
	{262, "utf8mb4_et_0900_ai_ci", "utf8mb4"},
	{263, "utf8mb4_es_0900_ai_ci", "utf8mb4"},
	{264, "utf8mb4_sv_0900_ai_ci", "utf8mb4"},
	{265, "utf8mb4_tr_0900_ai_ci", "utf8mb4"},
	{266, "utf8mb4_cs_0900_ai_ci", "utf8mb4"},
	{267, "utf8mb4_da_0900_ai_ci", "utf8mb4"},
	{268, "utf8mb4_lt_0900_ai_ci", "utf8mb4"},
	{269, "utf8mb4_sk_0900_ai_ci", "utf8mb4"},
	{270, "utf8mb4_es_trad_0900_ai_ci", "utf8mb4"},
	{271, "utf8mb4_la_0900_ai_ci", "utf8mb4"},
	{273, "utf8mb4_eo_0900_ai_ci", "utf8mb4"},
	{274, "utf8mb4_hu_0900_ai_ci", "utf8mb4"},
	{275, "utf8mb4_hr_0900_ai_ci", "utf8mb4"},
	{277, "utf8mb4_vi_0900_ai_ci", "utf8mb4"},
	{278, "utf8mb4_0900_as_cs", "utf8mb4"},
	{279, "utf8mb4_de_pb_0900_as_cs", "utf8mb4"},
	{280, "utf8mb4_is_0900_as_cs", "utf8mb4"},
	{281, "utf8mb4_lv_0900_as_cs", "utf8mb4"},
	{282, "utf8mb4_ro_0900_as_cs", "utf8mb4"},
	{283, "utf8mb4_sl_0900_as_cs", "utf8mb4"},
	{284, "utf8mb4_pl_0900_as_cs", "utf8mb4"},
	{285, "utf8mb4_et_0900_as_cs", "utf8mb4"},
	{286, "utf8mb4_es_0900_as_cs", "utf8mb4"},
	{287, "utf8mb4_sv_0900_as_cs", "utf8mb4"},
	{288, "utf8mb4_tr_0900_as_cs", "utf8mb4"},
	{289, "utf8mb4_cs_0900_as_cs", "utf8mb4"},
	{290, "utf8mb4_da_0900_as_cs", "utf8mb4"},
	{291, "utf8mb4_lt_0900_as_cs", "utf8mb4"},
	{292, "utf8mb4_sk_0900_as_cs", "utf8mb4"},
	{293, "utf8mb4_es_trad_0900_as_cs", "utf8mb4"},
	{294, "utf8mb4_la_0900_as_cs", "utf8mb4"},
	{296, "utf8mb4_eo_0900_as_cs", "utf8mb4"},
	{297, "utf8mb4_hu_0900_as_cs", "utf8mb4"},
	{298, "utf8mb4_hr_0900_as_cs", "utf8mb4"},
	{300, "utf8mb4_vi_0900_as_cs", "utf8mb4"},
	{303, "utf8mb4_ja_0900_as_cs", "utf8mb4"},
	{304, "utf8mb4_ja_0900_as_cs_ks", "utf8mb4"},
	{305, "utf8mb4_0900_as_ci", "utf8mb4"},
	{306, "utf8mb4_ru_0900_ai_ci", "utf8mb4"},
	{307, "utf8mb4_ru_0900_as_cs", "utf8mb4"},
	{308, "utf8mb4_zh_0900_as_cs", "utf8mb4"},
	{309, "utf8mb4_0900_bin", "utf8mb4"},
	{310, "utf8mb4_nb_0900_ai_ci", "utf8mb4"},
	{311, "utf8mb4_nb_0900_as_cs", "utf8mb4"},
	{312, "utf8mb4_nn_0900_ai_ci", "utf8mb4"},
	{313, "utf8mb4_nn_0900_as_cs", "utf8mb4"},
	{314, "utf8mb4_sr_latn_0900_ai_ci", "utf8mb4"},
	{315, "utf8mb4_sr_latn_0900_as_cs", "utf8mb4"},
	{316, "utf8mb4_bs_0900_ai_ci", "utf8mb4"},
	{317, "utf8mb4_bs_0900_as_cs", "utf8mb4"},
	{318, "utf8mb4_bg_0900_ai_ci", "utf8mb4"},
	{319, "utf8mb4_bg_0900_as_cs", "utf8mb4"},
	{320, "utf8mb4_gl_0900_ai_ci", "utf8mb4"},
	{321, "utf8mb4_gl_0900_as_cs", "utf8mb4"},
	{322, "utf8mb4_mn_cyrl_0900_ai_ci", "utf8mb4"},
	{323, "utf8mb4_mn_cyrl_0900_as_cs", "utf8mb4"},
}

// charsetMaxLen is the most bytes one character takes, per character set
// (information_schema.CHARACTER_SETS.MAXLEN); absent means 1.
var charsetMaxLen = map[string]int{
	"big5": 2, "cp932": 2, "eucjpms": 3, "euckr": 2, "gb2312": 2, "gbk": 2,
	"gb18030": 4, "sjis": 2, "ucs2": 2, "ujis": 3, "utf16": 4, "utf16le": 4,
	"utf32": 4, "utf8mb3": 3, "utf8mb4": 4,
}

type collationEntry struct {
	id      uint16
	name    string
	charset string
}

// collationTable maps collation ids (as TABLE_MAP and QUERY events carry
// them) and names to character sets, and knows each character set's default
// collation for a server flavor. It is built once and never changes, so one
// value serves every History.
type collationTable struct {
	byID      map[uint16]collationEntry
	byName    map[string]collationEntry
	mariaDflt map[string]string // charset -> default collation on MariaDB
	mysqlDflt map[string]string // charset -> default collation on MySQL 8
}

// collations is the process-wide table. It is built at init and only read
// afterwards.
var collations = buildCollations()

func buildCollations() *collationTable {
	c := &collationTable{
		byID:      make(map[uint16]collationEntry, 1400),
		byName:    make(map[string]collationEntry, 1400),
		mariaDflt: make(map[string]string, 48),
		mysqlDflt: make(map[string]string, 48),
	}
	for _, line := range strings.Split(mariadbCollationsTSV, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		id, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil || len(f) < 3 {
			continue // the table is ours and tested; a bad line is skipped, not fatal
		}
		e := collationEntry{uint16(id), f[1], f[2]}
		c.byID[e.id] = e
		c.byName[e.name] = e
		if len(f) > 3 && f[3] == "default" {
			c.mariaDflt[e.charset] = e.name
		}
	}
	for _, e := range mysqlOnlyCollations {
		c.byID[e.id] = e
		c.byName[e.name] = e
	}
	for cs, co := range c.mariaDflt {
		c.mysqlDflt[cs] = co
	}
	c.mysqlDflt["utf8mb4"] = "utf8mb4_0900_ai_ci"
	c.mysqlDflt["gb18030"] = "gb18030_chinese_ci"
	return c
}

// CollationByID returns the character set and collation names of a
// collation id as TABLE_MAP and QUERY events carry it (MySQL 8 and MariaDB
// ids, MariaDB's UCA 14.0 ones included), and ok=false when the id is
// unknown.
func CollationByID(id uint16) (charset, collation string, ok bool) { return collations.ByID(id) }

// ByID returns the character set and collation names of a collation id, and
// ok=false when the id is unknown.
func (c *collationTable) ByID(id uint16) (charset, collation string, ok bool) {
	e, ok := c.byID[id]
	return e.charset, e.name, ok
}

// Charset returns the character set of a collation name ("" when unknown).
// Names are canonical: utf8_* is spelled utf8mb3_*.
func (c *collationTable) Charset(collation string) string {
	return c.byName[canonicalCollation(collation)].charset
}

// Default returns the default collation of a character set on a server
// flavor ("" when the character set is unknown).
func (c *collationTable) Default(flavor change.Flavor, cs string) string {
	cs = canonicalCharset(cs)
	if flavor == change.MySQL {
		return c.mysqlDflt[cs]
	}
	return c.mariaDflt[cs]
}

// Bin returns the _bin collation of a character set, which the BINARY
// attribute of a column selects (CHAR(3) BINARY).
func (c *collationTable) Bin(cs string) string {
	cs = canonicalCharset(cs)
	if cs == "binary" {
		return "binary"
	}
	if _, ok := c.byName[cs+"_bin"]; ok {
		return cs + "_bin"
	}
	return ""
}

// canonicalCharset spells a character set the way current servers report
// it: utf8 is utf8mb3 (MySQL 8.0.30+, MariaDB 10.6+).
func canonicalCharset(cs string) string {
	cs = strings.ToLower(cs)
	if cs == "utf8" {
		return "utf8mb3"
	}
	return cs
}

// canonicalCollation spells utf8_* collations as utf8mb3_*.
func canonicalCollation(co string) string {
	co = strings.ToLower(co)
	if strings.HasPrefix(co, "utf8_") {
		return "utf8mb3_" + co[len("utf8_"):]
	}
	return co
}

// charsetMaxBytes returns the most bytes a character of cs takes.
func charsetMaxBytes(cs string) int {
	if n, ok := charsetMaxLen[canonicalCharset(cs)]; ok {
		return n
	}
	return 1
}

// registerWithParser teaches the TiDB parser every character set and
// collation MySQL and MariaDB know. Its grammar rejects names outside TiDB's
// own short list (latin2, ucs2, utf8mb4_uca1400_ai_ci, ...) at parse time,
// and a DDL the source accepted must parse. It runs once, from init, before
// any parse; the parser's registry is only read afterwards.
func registerWithParser(c *collationTable) {
	tidbName := func(cs string) string {
		if cs == "utf8mb3" {
			return charset.CharsetUTF8 // the parser's name for it
		}
		return cs
	}
	for cs, dflt := range c.mariaDflt {
		if _, err := charset.GetCharsetInfo(tidbName(cs)); err == nil {
			continue
		}
		charset.AddCharset(&charset.Charset{
			Name: cs, DefaultCollation: dflt, Collations: map[string]*charset.Collation{},
			Desc: cs, Maxlen: charsetMaxBytes(cs),
		})
	}
	if _, err := charset.GetCharsetInfo("gb18030"); err != nil {
		charset.AddCharset(&charset.Charset{Name: "gb18030", DefaultCollation: "gb18030_chinese_ci",
			Collations: map[string]*charset.Collation{}, Desc: "gb18030", Maxlen: 4})
	}
	// Ids far above any real one, so that no parser entry is replaced.
	id := 1 << 20
	add := func(name, cs string) {
		if _, err := charset.GetCollationByName(name); err == nil {
			return
		}
		id++
		charset.AddCollation(&charset.Collation{ID: id, CharsetName: tidbName(cs), Name: name, IsDefault: false, Sortlen: 1})
	}
	for name, e := range c.byName {
		add(name, e.charset)
		if strings.HasPrefix(name, "utf8mb3_") {
			add("utf8_"+name[len("utf8mb3_"):], e.charset)
		}
		// MariaDB 11 lets a UCA 14.0 collation be named without its
		// character set (COLLATE uca1400_ai_ci); the column's character
		// set completes it.
		if i := strings.Index(name, "_uca1400_"); i > 0 {
			add(name[i+1:], e.charset)
		}
	}
}

func init() { registerWithParser(collations) }

// qualifyCollation completes a collation named without its character set
// (MariaDB's "uca1400_ai_ci") with the character set in force.
func qualifyCollation(co, cs string) string {
	co = canonicalCollation(co)
	if strings.HasPrefix(co, "uca1400_") && cs != "" {
		return canonicalCharset(cs) + "_" + co
	}
	return co
}
