package binlog

// CollationInfo names a collation and its character set (Collation is
// empty for MySQL 8 and MariaDB UCA 14 ids, whose set is known by range).
type CollationInfo struct {
	Charset   string
	Collation string
}

// binaryCollation is the id of the "binary" collation: a string column with it
// holds bytes, not text.
const binaryCollation = 63

// Collation returns the character set and collation names of a collation id
// as a TABLE_MAP or QUERY event carries it. ok is false for ids it does not
// know; the caller then has no charset for the column.
func Collation(id uint16) (info CollationInfo, ok bool) {
	if c, ok := mariaCollations[id]; ok {
		return c, true
	}
	switch {
	case id == 76:
		return CollationInfo{"utf8mb3", "utf8mb3_tolower_ci"}, true
	case id == 248:
		return CollationInfo{"gb18030", "gb18030_chinese_ci"}, true
	case id == 249:
		return CollationInfo{"gb18030", "gb18030_bin"}, true
	case id == 250:
		return CollationInfo{"gb18030", "gb18030_unicode_520_ci"}, true
	case id >= 255 && id <= 323:
		// MySQL 8.0 added its UCA 9.0.0 collations (utf8mb4_0900_*) here.
		return CollationInfo{"utf8mb4", ""}, true
	case id >= 2048 && id < 3328:
		// MariaDB 10.10+ UCA 14.0 collations: the high byte names the
		// character set.
		cs := [...]string{"utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"}[id/256-8]
		return CollationInfo{cs, ""}, true
	}
	return CollationInfo{}, false
}

// CharsetName returns the character set of a collation id, or "" when the id
// is unknown.
func CharsetName(id uint16) string {
	c, _ := Collation(id)
	return c.Charset
}

// charsetMaxLen is the most bytes one character takes in a character set.
func charsetMaxLen(cs string) int {
	switch cs {
	case "utf8mb4", "utf16", "utf16le", "utf32", "gb18030":
		return 4
	case "utf8mb3", "utf8", "ujis", "eucjpms":
		return 3
	case "big5", "cp932", "euckr", "gb2312", "gbk", "sjis", "ucs2":
		return 2
	}
	return 1
}
