package schema

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/sluice-db/sluice/change"
)

// columnEnv is what turning a column definition into a change.Column needs
// besides the definition: the server flavor and the table's defaults.
type columnEnv struct {
	flavor         change.Flavor
	charset        string // table default
	collation      string
	utf8mb4Default string // MySQL's default_collation_for_utf8mb4 when the event set it
	tsNotNull      bool   // explicit_defaults_for_timestamp=OFF: TIMESTAMP is NOT NULL unless NULL is said
}

// columnResult is a column and the key attributes written on it.
type columnResult struct {
	col      change.Column
	primary  bool // PRIMARY KEY on the column
	unique   bool // UNIQUE on the column
	rowStart bool // MariaDB GENERATED ALWAYS AS ROW START
	rowEnd   bool
	hidden   bool // an implicit system-versioning column
}

// defaultCollation is the collation a character set gets when none is named.
func (e *columnEnv) defaultCollation(cs string) string {
	cs = canonicalCharset(cs)
	if cs == "utf8mb4" && e.utf8mb4Default != "" {
		return e.utf8mb4Default
	}
	return collations.Default(e.flavor, cs)
}

// resolveCharset applies MySQL's rules to a string column's CHARACTER SET,
// COLLATE and BINARY attribute: an explicit collation wins and implies its
// character set; an explicit character set brings its default collation
// (its _bin one with BINARY); neither means the table's.
func (e *columnEnv) resolveCharset(cs, co string, binaryAttr bool) (string, string) {
	cs, co = canonicalCharset(cs), canonicalCollation(co)
	switch {
	case cs == "" && co == "":
		cs, co = e.charset, e.collation
		if binaryAttr {
			co = collations.Bin(cs)
		}
	case cs == "":
		co = qualifyCollation(co, e.charset)
		cs = collations.Charset(co)
	case co == "":
		if binaryAttr {
			co = collations.Bin(cs)
		} else {
			co = e.defaultCollation(cs)
		}
	default:
		co = qualifyCollation(co, cs)
	}
	if cs == "binary" {
		co = "binary"
	}
	return cs, co
}

// column converts one column definition.
func (e *columnEnv) column(cd *ast.ColumnDef) (columnResult, error) {
	var r columnResult
	c := &r.col
	c.Name = cd.Name.Name.O
	c.Nullable = true
	ft := cd.Tp
	if ft == nil {
		return r, fmt.Errorf("column %s has no type", c.Name)
	}
	var marker columnMarker
	var explicitCollation string
	nullSaid := false
	var defaultExpr ast.ExprNode
	hasDefault := false
	autoInc := false
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.Nullable, nullSaid = false, true
		case ast.ColumnOptionNull:
			c.Nullable, nullSaid = true, true
		case ast.ColumnOptionPrimaryKey:
			r.primary = true
		case ast.ColumnOptionUniqKey:
			r.unique = true
		case ast.ColumnOptionAutoIncrement:
			autoInc = true
		case ast.ColumnOptionDefaultValue:
			defaultExpr, hasDefault = o.Expr, true
		case ast.ColumnOptionGenerated:
			c.Generated = true
		case ast.ColumnOptionCollate:
			explicitCollation = o.StrValue
		case ast.ColumnOptionComment:
			if v, ok := o.Expr.(ast.ValueExpr); ok {
				if m, ok := parseMarker(v.GetString()); ok {
					marker = m
				}
			}
		}
	}
	c.Invisible = marker.invisible
	if marker.rowStart || marker.rowEnd {
		r.rowStart, r.rowEnd, r.hidden = marker.rowStart, marker.rowEnd, marker.hidden
		c.Generated, c.Nullable = true, false
	}

	tp := ft.GetType()
	flag := ft.GetFlag()
	c.Unsigned = flag&mysql.UnsignedFlag != 0
	zerofill := flag&mysql.ZerofillFlag != 0
	flen, dec := ft.GetFlen(), ft.GetDecimal()
	cs, co := ft.GetCharset(), ft.GetCollate()
	if explicitCollation != "" {
		co = explicitCollation
	}
	binaryAttr := flag&mysql.BinaryFlag != 0 && cs != "binary"

	switch tp {
	case mysql.TypeTiny:
		c.Type = change.TypeTinyInt
	case mysql.TypeShort:
		c.Type = change.TypeSmallInt
	case mysql.TypeInt24:
		c.Type = change.TypeMediumInt
	case mysql.TypeLong:
		c.Type = change.TypeInt
	case mysql.TypeLonglong:
		c.Type = change.TypeBigInt
	case mysql.TypeNewDecimal:
		c.Type = change.TypeDecimal
		c.Precision, c.Scale = flen, dec
		if c.Precision <= 0 {
			c.Precision = 10
		}
		if c.Scale < 0 {
			c.Scale = 0
		}
	case mysql.TypeFloat:
		c.Type = change.TypeFloat
	case mysql.TypeDouble:
		c.Type = change.TypeDouble
	case mysql.TypeBit:
		c.Type = change.TypeBit
		c.Length = max(flen, 1)
	case mysql.TypeYear:
		c.Type = change.TypeYear
	case mysql.TypeDate:
		c.Type = change.TypeDate
	case mysql.TypeDuration:
		c.Type, c.Scale = change.TypeTime, max(dec, 0)
	case mysql.TypeDatetime:
		c.Type, c.Scale = change.TypeDateTime, max(dec, 0)
	case mysql.TypeTimestamp:
		c.Type, c.Scale = change.TypeTimestamp, max(dec, 0)
		if !nullSaid && e.tsNotNull {
			c.Nullable = false
		}
	case mysql.TypeJSON:
		if e.flavor == change.MariaDB {
			// MariaDB's JSON is an alias: LONGTEXT utf8mb4_bin with a check.
			c.Type, c.Charset, c.Collation = change.TypeText, "utf8mb4", "utf8mb4_bin"
			c.SQLType = "longtext"
		} else {
			c.Type = change.TypeJSON
		}
	case mysql.TypeGeometry:
		c.Type = change.TypeGeometry
	case mysql.TypeTiDBVectorFloat32:
		c.Type, c.Length = change.TypeVector, flen
	case mysql.TypeString, mysql.TypeVarchar, mysql.TypeVarString,
		mysql.TypeTinyBlob, mysql.TypeBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob,
		mysql.TypeEnum, mysql.TypeSet:
		c.Charset, c.Collation = e.resolveCharset(cs, co, binaryAttr)
		bin := c.Charset == "binary"
		switch tp {
		case mysql.TypeString:
			c.Type, c.Length = pick(bin, change.TypeBinary, change.TypeChar), flen
			if c.Length < 0 {
				c.Length = 1
			}
		case mysql.TypeVarchar, mysql.TypeVarString:
			c.Type, c.Length = pick(bin, change.TypeVarBinary, change.TypeVarChar), flen
		case mysql.TypeEnum:
			c.Type, c.Elems = change.TypeEnum, append([]string(nil), ft.GetElems()...)
		case mysql.TypeSet:
			c.Type, c.Elems = change.TypeSet, append([]string(nil), ft.GetElems()...)
		default:
			c.Type = pick(bin, change.TypeBlob, change.TypeText)
			c.SQLType = textSQLType(tp, flen, c.Charset, bin)
		}
	default:
		return r, fmt.Errorf("column %s has a type sluice does not know (%s)", c.Name, ft.String())
	}
	switch marker.sqlType {
	case "":
	case "uuid", "inet6", "inet4":
		// Stored as fixed binary strings; the binlog carries their bytes.
		c.Type, c.Charset, c.Collation = change.TypeBinary, "binary", "binary"
		c.Length = pick(marker.sqlType == "inet4", 4, 16)
		c.SQLType = marker.sqlType
	default: // the geometry family
		c.Type, c.Charset, c.Collation = change.TypeGeometry, "", ""
		c.SQLType = marker.sqlType
	}
	if !c.Type.IsString() && c.Type != change.TypeBinary && c.Type != change.TypeVarBinary &&
		c.Type != change.TypeBlob && c.Type != change.TypeText {
		c.Charset, c.Collation = "", ""
	}
	if c.SQLType == "" {
		c.SQLType = e.sqlType(c, flen, dec, zerofill)
	}
	if marker.compressed {
		c.SQLType += " /*M!100301 COMPRESSED*/"
	}
	if r.primary {
		c.Nullable = false
	}

	switch {
	case marker.hasDefault:
		d := marker.defaultSQL
		c.Default = &d
	case hasDefault:
		d, err := renderDefault(defaultExpr, c)
		if err != nil {
			return r, fmt.Errorf("column %s default: %w", c.Name, err)
		}
		c.Default = d
	case c.Nullable && !autoInc:
		// MariaDB reports a nullable column without DEFAULT as DEFAULT NULL.
		d := "NULL"
		c.Default = &d
	}
	if autoInc {
		c.Default = nil
	}
	return r, nil
}

func pick[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// textSQLType names a TEXT or BLOB type. TEXT(n) and BLOB(n) become the
// smallest type that holds n characters (bytes for BLOB).
func textSQLType(tp byte, flen int, cs string, bin bool) string {
	kind := map[byte]string{mysql.TypeTinyBlob: "tiny", mysql.TypeBlob: "", mysql.TypeMediumBlob: "medium", mysql.TypeLongBlob: "long"}[tp]
	if tp == mysql.TypeBlob && flen > 0 {
		kind = textKindFor(int64(flen) * int64(pick(bin, 1, charsetMaxBytes(cs))))
	}
	return kind + pick(bin, "blob", "text")
}

// textKindFor returns the prefix of the smallest TEXT/BLOB type that holds
// n bytes.
func textKindFor(n int64) string {
	switch {
	case n <= 255:
		return "tiny"
	case n <= 65535:
		return ""
	case n <= 16777215:
		return "medium"
	}
	return "long"
}

// textCapacity is the byte capacity of a TEXT/BLOB type named by sqlType.
func textCapacity(sqlType string) int64 {
	switch {
	case strings.HasPrefix(sqlType, "tiny"):
		return 255
	case strings.HasPrefix(sqlType, "medium"):
		return 16777215
	case strings.HasPrefix(sqlType, "long"):
		return 4294967295
	}
	return 65535
}

// intWidths are MariaDB's default display widths, signed and unsigned.
var intWidths = map[change.ColumnType][2]int{
	change.TypeTinyInt: {4, 3}, change.TypeSmallInt: {6, 5}, change.TypeMediumInt: {9, 8},
	change.TypeInt: {11, 10}, change.TypeBigInt: {20, 20},
}

// sqlType renders a column's type as the source server's SHOW CREATE TABLE
// prints it (MariaDB keeps integer display widths; MySQL 8 drops them).
func (e *columnEnv) sqlType(c *change.Column, flen, dec int, zerofill bool) string {
	var b strings.Builder
	b.WriteString(c.Type.String())
	sign := func() {
		if c.Unsigned {
			b.WriteString(" unsigned")
		}
		if zerofill {
			b.WriteString(" zerofill")
		}
	}
	switch c.Type {
	case change.TypeTinyInt, change.TypeSmallInt, change.TypeMediumInt, change.TypeInt, change.TypeBigInt:
		w := flen
		if w <= 0 {
			w = intWidths[c.Type][pick(c.Unsigned, 1, 0)]
		}
		if e.flavor != change.MySQL || zerofill || (c.Type == change.TypeTinyInt && w == 1) {
			fmt.Fprintf(&b, "(%d)", w)
		}
		sign()
	case change.TypeDecimal:
		fmt.Fprintf(&b, "(%d,%d)", c.Precision, c.Scale)
		sign()
	case change.TypeFloat, change.TypeDouble:
		if flen > 0 && dec >= 0 {
			fmt.Fprintf(&b, "(%d,%d)", flen, dec)
		}
		sign()
	case change.TypeBit, change.TypeChar, change.TypeVarChar, change.TypeBinary, change.TypeVarBinary, change.TypeVector:
		fmt.Fprintf(&b, "(%d)", c.Length)
	case change.TypeYear:
		if e.flavor != change.MySQL {
			b.WriteString("(4)")
		}
	case change.TypeTime, change.TypeDateTime, change.TypeTimestamp:
		if c.Scale > 0 {
			fmt.Fprintf(&b, "(%d)", c.Scale)
		}
	case change.TypeEnum, change.TypeSet:
		b.WriteByte('(')
		for i, v := range c.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteString(v))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// quoteString quotes s as a SQL string literal the way the server prints it.
func quoteString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// renderDefault renders a DEFAULT value the way MariaDB's
// information_schema.COLUMNS.COLUMN_DEFAULT does: NULL, numbers bare,
// strings quoted, functions as current_timestamp(n).
func renderDefault(expr ast.ExprNode, c *change.Column) (*string, error) {
	s, err := defaultText(expr, c)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func defaultText(expr ast.ExprNode, c *change.Column) (string, error) {
	switch x := expr.(type) {
	case *test_driver.ValueExpr:
		return literalDefault(x.GetValue(), c), nil
	case *ast.UnaryOperationExpr:
		if v, ok := x.V.(*test_driver.ValueExpr); ok && x.Op == opcode.Minus {
			s := literalDefault(v.GetValue(), c)
			if strings.HasPrefix(s, "'") {
				return "'-" + s[1:], nil
			}
			return "-" + s, nil
		}
	case *ast.FuncCallExpr:
		name := x.FnName.L
		switch name {
		case "current_timestamp", "now", "localtime", "localtimestamp":
			if len(x.Args) == 1 {
				if v, ok := x.Args[0].(*test_driver.ValueExpr); ok {
					return fmt.Sprintf("current_timestamp(%v)", v.GetValue()), nil
				}
			}
			return "current_timestamp()", nil
		}
	}
	var b strings.Builder
	if err := expr.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &b)); err != nil {
		return "", err
	}
	return b.String(), nil
}

func literalDefault(v any, c *change.Column) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case test_driver.BinaryLiteral:
		if c.Type == change.TypeBit {
			n := new(big.Int).SetBytes(x)
			return "b'" + n.Text(2) + "'"
		}
		if isNumeric(c.Type) {
			return new(big.Int).SetBytes(x).String()
		}
		return quoteString(string(x))
	case string:
		if isNumeric(c.Type) {
			return numericDefault(strings.TrimSpace(x), c)
		}
		return quoteString(x)
	case []byte:
		return quoteString(string(x))
	case int64:
		return numericOrQuoted(strconv.FormatInt(x, 10), c)
	case uint64:
		return numericOrQuoted(strconv.FormatUint(x, 10), c)
	case float64:
		return numericOrQuoted(strconv.FormatFloat(x, 'g', -1, 64), c)
	case *test_driver.MyDecimal:
		return numericOrQuoted(x.String(), c)
	}
	return quoteString(fmt.Sprint(v))
}

func isNumeric(t change.ColumnType) bool {
	switch t {
	case change.TypeTinyInt, change.TypeSmallInt, change.TypeMediumInt, change.TypeInt, change.TypeBigInt,
		change.TypeDecimal, change.TypeFloat, change.TypeDouble, change.TypeYear:
		return true
	}
	return false
}

func numericOrQuoted(s string, c *change.Column) string {
	if isNumeric(c.Type) || c.Type == change.TypeBit {
		return numericDefault(s, c)
	}
	return quoteString(s)
}

// numericDefault formats a number for a numeric column: DECIMAL with its
// scale, FLOAT/DOUBLE in shortest form, integers as written.
func numericDefault(s string, c *change.Column) string {
	switch c.Type {
	case change.TypeDecimal:
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return s
		}
		return r.FloatString(c.Scale)
	case change.TypeFloat, change.TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return s
}
