package binlog

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/internal/testdb"
)

// The type matrix: a table with a column of every type MariaDB 10.11 has,
// rows with edge values inserted, updated and deleted on a real server, and
// every decoded value of every row image checked against what the server
// returns for that row from SELECT.

// matrixCol is one column of the matrix table.
type matrixCol struct {
	name string
	def  string
	// ins is the placeholder expression of the INSERT/UPDATE ("?" when empty).
	ins string
	// vals are the values rows cycle through; nil is NULL.
	vals []any
	// checks are SELECT expressions ("%s" is the column) and how each is
	// compared with the decoded value.
	checks []check
}

type checkMode int

const (
	checkText    checkMode = iota // AppendText equals the SELECT text
	checkHex                      // hex of the bytes equals HEX()
	checkIndex                    // I (ENUM index, SET bitmap) equals the number
	checkFloat32                  // the FLOAT's value equals the number, to float32
	checkFloat64                  // the DOUBLE's value equals the number
)

type check struct {
	expr string
	mode checkMode
}

func textCheck() []check { return []check{{"%s", checkText}} }
func hexCheck() []check  { return []check{{"HEX(%s)", checkHex}} }

// utf8 4-byte characters, latin1 and gbk text, zero dates, negative times
// with fractions and integer limits are the point of these values.
var matrixCols = []matrixCol{
	{name: "ti", def: "TINYINT", vals: []any{"-128", "127", "0", nil}},
	{name: "tiu", def: "TINYINT UNSIGNED", vals: []any{"0", "255", "1"}},
	{name: "si", def: "SMALLINT", vals: []any{"-32768", "32767"}},
	{name: "siu", def: "SMALLINT UNSIGNED", vals: []any{"65535", "0"}},
	{name: "mi", def: "MEDIUMINT", vals: []any{"-8388608", "8388607", "-1"}},
	{name: "miu", def: "MEDIUMINT UNSIGNED", vals: []any{"16777215", "0"}},
	{name: "i", def: "INT", vals: []any{"-2147483648", "2147483647"}},
	// YEAR before an unsigned column: the signedness bitmap has no bit for
	// YEAR, and a reader that gives it one misreads iu.
	{name: "y", def: "YEAR", vals: []any{"1901", "2155", int64(0), nil}},
	{name: "iu", def: "INT UNSIGNED", vals: []any{"4294967295", "0", "2147483648"}},
	{name: "bi", def: "BIGINT", vals: []any{"-9223372036854775808", "9223372036854775807"}},
	{name: "biu", def: "BIGINT UNSIGNED", vals: []any{"18446744073709551615", "0", "9223372036854775808"}},
	{name: "d1", def: "DECIMAL(65,30)", vals: []any{"12345678901234567890123456789012345.123456789012345678901234567890", "-0.000000000000000000000000000001", "0", "-99999999999999999999999999999999999.999999999999999999999999999999"}},
	{name: "d2", def: "DECIMAL(10,2)", vals: []any{"-12345678.90", "0.05", "99999999.99", "-0.10"}},
	{name: "d3", def: "DECIMAL(5,0)", vals: []any{"-99999", "7", "0"}},
	{name: "d4", def: "DECIMAL(18,9)", vals: []any{"-123456789.123456789", "0.000000001", "100000000.0"}},
	{name: "d5", def: "DECIMAL(20,10) UNSIGNED", vals: []any{"1234567890.0123456789", "0.5"}},
	{name: "d6", def: "DECIMAL(1,1)", vals: []any{"-0.9", "0.1"}},
	{name: "f", def: "FLOAT", vals: []any{"3.5", "-1.25e10", "1.17549435e-38", "3.40282e38", "0", "0.1"}, checks: []check{{"%s", checkFloat32}}},
	{name: "dbl", def: "DOUBLE", vals: []any{"3.141592653589793", "-2.2250738585072014e-308", "1.7976931348623157e308", "0.1", "-0"}, checks: []check{{"%s", checkFloat64}}},
	{name: "b1", def: "BIT(1)", vals: []any{int64(1), int64(0)}, checks: []check{{"%s+0", checkText}}},
	{name: "b10", def: "BIT(10)", vals: []any{int64(1023), int64(5)}, checks: []check{{"%s+0", checkText}}},
	{name: "b64", def: "BIT(64)", ins: "CAST(? AS UNSIGNED)", vals: []any{"18446744073709551615", "1", "9223372036854775808"}, checks: []check{{"%s+0", checkText}}},
	{name: "dt", def: "DATE", vals: []any{"2020-02-29", "0000-00-00", "9999-12-31", "1000-01-01", "2021-00-00", nil}},
	{name: "tm", def: "TIME", vals: []any{"-838:59:59", "838:59:59", "00:00:00", "-00:00:01"}},
	{name: "tm1", def: "TIME(1)", vals: []any{"-00:00:00.1", "-01:00:00.9", "23:59:59.9"}},
	{name: "tm3", def: "TIME(3)", vals: []any{"-12:34:56.789", "-00:00:00.001", "100:00:00.5"}},
	{name: "tm6", def: "TIME(6)", vals: []any{"-838:59:58.999999", "-00:00:01.000001", "12:00:00.000001"}},
	{name: "dtm", def: "DATETIME", vals: []any{"0000-00-00 00:00:00", "9999-12-31 23:59:59", "2020-01-02 03:04:05"}},
	{name: "dtm2", def: "DATETIME(2)", vals: []any{"2020-01-02 03:04:05.12", "1000-01-01 00:00:00.01"}},
	{name: "dtm6", def: "DATETIME(6)", vals: []any{"2020-01-02 03:04:05.123456", "1000-01-01 00:00:00.000001", "2020-00-00 00:00:00.000000"}},
	// TIMESTAMP values are written in the session time zone +08:00 and
	// compared with a SELECT in UTC: the binlog holds UTC epoch values and
	// the decoder must not shift them.
	{name: "ts", def: "TIMESTAMP NULL", vals: []any{"1970-01-01 08:00:01", "2038-01-19 11:14:07", "0000-00-00 00:00:00", nil}},
	{name: "ts3", def: "TIMESTAMP(3) NULL", vals: []any{"2021-06-01 12:00:00.123", "2000-01-01 08:00:00.001"}},
	{name: "ts6", def: "TIMESTAMP(6) NULL", vals: []any{"2021-06-01 12:00:00.999999", "1999-12-31 23:59:59.000001"}},
	{name: "c10", def: "CHAR(10) CHARACTER SET utf8mb4", vals: []any{"héllo😀", "", "abc  ", "😀😀😀😀😀😀😀😀😀😀"}, checks: hexCheck()},
	{name: "vc", def: "VARCHAR(300) CHARACTER SET utf8mb4", vals: []any{strings.Repeat("𝄞", 300), "", "x"}, checks: hexCheck()},
	{name: "cl", def: "CHAR(5) CHARACTER SET latin1", vals: []any{"café", "ÿ€", ""}, checks: []check{{"HEX(%s)", checkHex}, {"CONVERT(%s USING utf8mb4)", checkText}}},
	{name: "vgbk", def: "VARCHAR(50) CHARACTER SET gbk", vals: []any{"中文测试", "abc", nil}, checks: []check{{"HEX(%s)", checkHex}, {"CONVERT(%s USING utf8mb4)", checkText}}},
	{name: "tt", def: "TINYTEXT", vals: []any{"tiny 😀", ""}, checks: hexCheck()},
	{name: "tx", def: "TEXT", vals: []any{strings.Repeat("text ", 100), "t"}, checks: hexCheck()},
	{name: "mt", def: "MEDIUMTEXT", vals: []any{strings.Repeat("m", 70000), ""}, checks: hexCheck()},
	{name: "lt", def: "LONGTEXT", vals: []any{"long", strings.Repeat("λ", 40000)}, checks: hexCheck()},
	{name: "bn", def: "BINARY(8)", vals: []any{[]byte{0, 1, 2}, []byte("abcdefgh"), []byte{}, []byte{1, 0, 0}}, checks: hexCheck()},
	{name: "vb", def: "VARBINARY(20)", vals: []any{[]byte{0, 0xff}, []byte{}, []byte{0, 0, 0}}, checks: hexCheck()},
	{name: "tb", def: "TINYBLOB", vals: []any{[]byte{0xde, 0xad}, nil}, checks: hexCheck()},
	{name: "bl", def: "BLOB", vals: []any{[]byte(strings.Repeat("\x00\x01", 1000)), []byte{}}, checks: hexCheck()},
	{name: "mb", def: "MEDIUMBLOB", vals: []any{[]byte(strings.Repeat("\xff", 70000)), []byte{1}}, checks: hexCheck()},
	{name: "lb", def: "LONGBLOB", vals: []any{[]byte{2}, []byte{}}, checks: hexCheck()},
	{name: "en", def: "ENUM('a','b','c''d','😀')", vals: []any{"a", "c'd", "", "😀", nil}, checks: []check{{"%s", checkText}, {"%s+0", checkIndex}}},
	{name: "st", def: "SET('x','y','z','w')", vals: []any{"x,z", "", "x,y,z", "y"}, checks: []check{{"%s", checkText}, {"%s+0", checkIndex}}},
	{name: "js", def: "JSON", vals: []any{`{"a": [1, 2.5, "x"], "b": null}`, `[]`, `"str"`, nil}},
	{name: "geo", def: "GEOMETRY", ins: "ST_GeomFromText(?)", vals: []any{"POINT(1 2)", "POLYGON((0 0,1 0,1 1,0 0))", "GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))"}, checks: hexCheck()},
	{name: "geos", def: "GEOMETRY", ins: "ST_GeomFromText(?, 4326)", vals: []any{"POINT(10 20)"}, checks: hexCheck()},
	{name: "pt", def: "POINT", ins: "ST_GeomFromText(?)", vals: []any{"POINT(-1.5 2.25)", nil}, checks: hexCheck()},
	{name: "ls", def: "LINESTRING", ins: "ST_GeomFromText(?)", vals: []any{"LINESTRING(0 0,1 1,2 2)"}, checks: hexCheck()},
	{name: "pg", def: "POLYGON", ins: "ST_GeomFromText(?)", vals: []any{"POLYGON((0 0,10 0,10 10,0 10,0 0),(5 5,7 5,7 7,5 7,5 5))"}, checks: hexCheck()},
	{name: "mpt", def: "MULTIPOINT", ins: "ST_GeomFromText(?)", vals: []any{"MULTIPOINT(0 0,1 1)"}, checks: hexCheck()},
	{name: "mls", def: "MULTILINESTRING", ins: "ST_GeomFromText(?)", vals: []any{"MULTILINESTRING((0 0,1 1),(2 2,3 3))"}, checks: hexCheck()},
	{name: "mpg", def: "MULTIPOLYGON", ins: "ST_GeomFromText(?)", vals: []any{"MULTIPOLYGON(((0 0,1 0,1 1,0 0)))"}, checks: hexCheck()},
	{name: "gc", def: "GEOMETRYCOLLECTION", ins: "ST_GeomFromText(?)", vals: []any{"GEOMETRYCOLLECTION(POINT(3 4))"}, checks: hexCheck()},
	{name: "i6", def: "INET6", vals: []any{"::1", "2001:db8::ff00:42:8329"}, checks: []check{{"HEX(CAST(%s AS BINARY(16)))", checkHex}}},
	{name: "uu", def: "UUID", vals: []any{"123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000001"}, checks: []check{{"HEX(CAST(%s AS BINARY(16)))", checkHex}}},
	{name: "i4", def: "INET4", vals: []any{"192.168.0.1", "255.255.255.255"}, checks: []check{{"HEX(CAST(%s AS BINARY(4)))", checkHex}}},
}

// compressedCols are MariaDB's COMPRESSED columns, in a table of their own
// because go-mysql cannot read their binlog types (140, 141) at all.
var compressedCols = []matrixCol{
	{name: "id2", def: "INT", vals: []any{"1", "2"}},
	{name: "vcc", def: "VARCHAR(500) COMPRESSED", vals: []any{strings.Repeat("compress me ", 40), "short", ""}, checks: hexCheck()},
	{name: "txc", def: "TEXT COMPRESSED", vals: []any{strings.Repeat("😀 text ", 200), "s", nil}, checks: hexCheck()},
	{name: "blc", def: "BLOB COMPRESSED", vals: []any{[]byte(strings.Repeat("\x00\x01\x02", 500)), []byte{9}}, checks: hexCheck()},
	{name: "txc2", def: "TEXT CHARACTER SET latin1 COMPRESSED", vals: []any{strings.Repeat("é", 600), "ÿ"}, checks: hexCheck()},
}

const matrixRows = 6

func matrixValue(c matrixCol, row int) any { return c.vals[row%len(c.vals)] }

func (c matrixCol) placeholder() string {
	if c.ins == "" {
		return "?"
	}
	return c.ins
}

func (c matrixCol) checkList() []check {
	if len(c.checks) == 0 {
		return textCheck()
	}
	return c.checks
}

// matrixRun is one server and the table on it.
type matrixRun struct {
	srv  *testdb.Server
	db   *sql.DB
	cols []matrixCol
	// absent says whether a column may be missing from an image
	// (binlog_row_image MINIMAL or NOBLOB); nil means never.
	absent func(what string, c matrixCol) bool
	// snapshots[k][id] is the SELECT result per column and check after
	// step k (0: after the inserts, 1: after the updates).
	snapshots [2]map[int64][][]sql.NullString
}

// runMatrix creates the table, writes the rows and records what SELECT
// returns after the inserts and after the updates; then it deletes them.
func runMatrix(t *testing.T, opts testdb.Options, cols []matrixCol, setup ...string) *matrixRun {
	t.Helper()
	srv := testdb.Start(t, opts)
	db := srv.DB(t, "")
	ctx := context.Background()
	m := &matrixRun{srv: srv, db: db, cols: cols}

	var defs []string
	for _, c := range m.cols {
		defs = append(defs, "`"+c.name+"` "+c.def)
	}
	srv.Exec(t, setup...)
	srv.Exec(t, "CREATE DATABASE mx",
		"CREATE TABLE mx.t (id INT PRIMARY KEY, "+strings.Join(defs, ", ")+") CHARACTER SET utf8mb4")

	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A permissive sql_mode allows zero dates and '' in ENUM; +08:00 shows
	// that TIMESTAMPs are not shifted by the session zone.
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = '', time_zone = '+08:00', NAMES utf8mb4"); err != nil {
		t.Fatal(err)
	}
	var names, marks []string
	for _, c := range m.cols {
		names = append(names, "`"+c.name+"`")
		marks = append(marks, c.placeholder())
	}
	ins := "INSERT INTO mx.t (id, " + strings.Join(names, ", ") + ") VALUES (?, " + strings.Join(marks, ", ") + ")"
	for r := 0; r < matrixRows; r++ {
		args := []any{r + 1}
		for _, c := range m.cols {
			args = append(args, matrixValue(c, r))
		}
		if _, err := conn.ExecContext(ctx, ins, args...); err != nil {
			t.Fatalf("insert row %d: %v", r+1, err)
		}
	}
	m.snapshots[0] = m.selectAll(t)
	// Each row takes the next row's values, in one multi-row statement per
	// column group so that update events carry several rows too.
	var sets []string
	for _, c := range m.cols {
		sets = append(sets, "`"+c.name+"` = "+c.placeholder())
	}
	upd := "UPDATE mx.t SET " + strings.Join(sets, ", ") + " WHERE id = ?"
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < matrixRows; r++ {
		var args []any
		for _, c := range m.cols {
			args = append(args, matrixValue(c, r+1))
		}
		args = append(args, r+1)
		if _, err := tx.ExecContext(ctx, upd, args...); err != nil {
			t.Fatalf("update row %d: %v", r+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	m.snapshots[1] = m.selectAll(t)
	if _, err := conn.ExecContext(ctx, "DELETE FROM mx.t"); err != nil {
		t.Fatal(err)
	}
	return m
}

// selectAll returns, per row id, the text of every check of every column,
// read in UTC.
func (m *matrixRun) selectAll(t *testing.T) map[int64][][]sql.NullString {
	t.Helper()
	ctx := context.Background()
	conn, err := m.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION time_zone = '+00:00', NAMES utf8mb4"); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, c := range m.cols {
		for _, ck := range c.checkList() {
			exprs = append(exprs, strings.ReplaceAll(ck.expr, "%s", "`"+c.name+"`"))
		}
	}
	rows, err := conn.QueryContext(ctx, "SELECT id, "+strings.Join(exprs, ", ")+" FROM mx.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][][]sql.NullString{}
	for rows.Next() {
		var id int64
		vals := make([]sql.NullString, len(exprs))
		ptrs := []any{&id}
		for i := range vals {
			ptrs = append(ptrs, &vals[i])
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var per [][]sql.NullString
		k := 0
		for _, c := range m.cols {
			n := len(c.checkList())
			per = append(per, vals[k:k+n])
			k += n
		}
		out[id] = per
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != matrixRows {
		t.Fatalf("select returned %d rows, want %d", len(out), matrixRows)
	}
	return out
}

// binlogFiles flushes the binary log and returns its files in order.
func binlogFiles(t *testing.T, srv *testdb.Server) []string {
	t.Helper()
	db := srv.DB(t, "")
	if _, err := db.Exec("FLUSH BINARY LOGS"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var files []string
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}

// matrixRowsEvents returns the rows events of mx.t.
func matrixRowsEvents(events []Event) []*RowsEvent {
	var out []*RowsEvent
	for _, ev := range events {
		if r, ok := ev.(*RowsEvent); ok && r.Map != nil && r.Map.Table == "t" && r.Map.Schema == "mx" {
			out = append(out, r)
		}
	}
	return out
}

// checkMatrix compares every decoded row image with the SELECT snapshots:
// inserts and update before-images with the state after the inserts, update
// after-images and deletes with the state after the updates.
func (m *matrixRun) checkMatrix(t *testing.T, events []Event) {
	t.Helper()
	seen := map[change.Op]int{}
	for _, ev := range matrixRowsEvents(events) {
		for _, c := range ev.Changes {
			seen[c.Op]++
			switch c.Op {
			case change.Insert:
				m.checkImage(t, "insert", c.After, c.After[0].I, m.snapshots[0])
			case change.Update:
				// With binlog_row_image=MINIMAL the after image lacks the
				// unchanged key; the before image names the row.
				m.checkImage(t, "update before", c.Before, c.Before[0].I, m.snapshots[0])
				m.checkImage(t, "update after", c.After, c.Before[0].I, m.snapshots[1])
			case change.Delete:
				m.checkImage(t, "delete", c.Before, c.Before[0].I, m.snapshots[1])
			}
		}
	}
	for _, op := range []change.Op{change.Insert, change.Update, change.Delete} {
		if seen[op] != matrixRows {
			t.Errorf("decoded %d %s changes of mx.t, want %d", seen[op], op, matrixRows)
		}
	}
}

func (m *matrixRun) checkImage(t *testing.T, what string, row change.Row, id int64, snap map[int64][][]sql.NullString) {
	t.Helper()
	if len(row) != len(m.cols)+1 {
		t.Fatalf("%s image has %d columns, want %d", what, len(row), len(m.cols)+1)
	}
	want, ok := snap[id]
	if !ok {
		t.Fatalf("%s image of unknown row id %v", what, row[0])
	}
	for i, c := range m.cols {
		v := row[i+1]
		if m.absent != nil && m.absent(what, c) {
			if v.Kind != change.KindAbsent {
				t.Errorf("%s row %d column %s: %v (%s), want absent", what, id, c.name, v, v.Kind)
			}
			continue
		}
		for k, ck := range c.checkList() {
			if err := checkAgainstSelect(v, want[i][k], ck.mode, c); err != nil {
				t.Errorf("%s row %d column %s (%s) check %q: %v", what, id, c.name, c.def, ck.expr, err)
			}
		}
	}
}

func checkAgainstSelect(v change.Value, want sql.NullString, mode checkMode, c matrixCol) error {
	if !want.Valid {
		if v.Kind != change.KindNull {
			return fmt.Errorf("decoded %v (%s), server has NULL", v, v.Kind)
		}
		return nil
	}
	if v.Kind == change.KindNull || v.Kind == change.KindAbsent {
		return fmt.Errorf("decoded %s, server has %q", v.Kind, want.String)
	}
	switch mode {
	case checkText:
		got := string(v.AppendText(nil))
		if v.Kind == change.KindYear && v.I == 0 && want.String == "0" {
			// MariaDB prints the zero YEAR as 0 where MySQL (and
			// AppendText) print 0000; the value is the same.
			got = "0"
		}
		if c.name == "cl" || c.name == "vgbk" {
			got = string(change.ToUTF8(v.B, charsetOf(c)))
		}
		if got != want.String {
			return fmt.Errorf("decoded %q (%s), server %q", got, v.Kind, want.String)
		}
	case checkHex:
		if got := strings.ToUpper(hex.EncodeToString(v.B)); got != want.String {
			return fmt.Errorf("decoded %s (%s), server %s", abbrev(got), v.Kind, abbrev(want.String))
		}
	case checkIndex:
		if got := strconv.FormatUint(v.Uint(), 10); got != want.String {
			return fmt.Errorf("decoded index %s, server %s", got, want.String)
		}
	case checkFloat32:
		// The server prints a FLOAT with 6 significant digits; the decoded
		// float32 must be the float32 nearest to what the server printed,
		// or print the same to 6 digits.
		w, err := strconv.ParseFloat(want.String, 64)
		if err != nil {
			return err
		}
		got := v.Float64()
		if v.Kind != change.KindFloat || (float32(w) != float32(got) && strconv.FormatFloat(got, 'g', 6, 32) != strconv.FormatFloat(w, 'g', 6, 32)) {
			return fmt.Errorf("decoded %v (%s), server %s", got, v.Kind, want.String)
		}
	case checkFloat64:
		w, err := strconv.ParseFloat(want.String, 64)
		if err != nil {
			return err
		}
		if v.Kind != change.KindDouble || (w != v.Float64() && !(w == 0 && v.Float64() == 0)) {
			return fmt.Errorf("decoded %v (%s), server %s", v.Float64(), v.Kind, want.String)
		}
	}
	return nil
}

func charsetOf(c matrixCol) string {
	switch c.name {
	case "cl":
		return "latin1"
	case "vgbk":
		return "gbk"
	}
	return "utf8mb4"
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

var _ = math.Inf

// TestMariaDBTypeMatrix runs the matrix with full row metadata: TableFromMap
// alone must decode every type, and go-mysql must agree on every value.
func TestMariaDBTypeMatrix(t *testing.T) {
	m := runMatrix(t, testdb.Options{}, matrixCols)
	files := binlogFiles(t, m.srv)
	events := readServerBinlogs(t, m.srv.BinlogDir(), files, DecoderOptions{})
	m.checkMatrix(t, events)

	// The table definition TableFromMap builds from FULL metadata.
	ev := matrixRowsEvents(events)[0]
	tbl := ev.Table
	byName := map[string]change.Column{}
	for _, c := range tbl.Columns {
		byName[c.Name] = c
	}
	for name, want := range map[string]change.ColumnType{
		"ti": change.TypeTinyInt, "biu": change.TypeBigInt, "d1": change.TypeDecimal, "f": change.TypeFloat,
		"b64": change.TypeBit, "y": change.TypeYear, "tm6": change.TypeTime, "ts3": change.TypeTimestamp,
		"c10": change.TypeChar, "vgbk": change.TypeVarChar, "bn": change.TypeBinary, "vb": change.TypeVarBinary,
		"tx": change.TypeText, "bl": change.TypeBlob, "en": change.TypeEnum, "st": change.TypeSet,
		"geo": change.TypeGeometry, "js": change.TypeText,
	} {
		if byName[name].Type != want {
			t.Errorf("TableFromMap: column %s is %s, want %s", name, byName[name].Type, want)
		}
	}
	if c := byName["vgbk"]; c.Charset != "gbk" || c.Length != 50 {
		t.Errorf("TableFromMap: vgbk charset %q length %d", c.Charset, c.Length)
	}
	if c := byName["biu"]; !c.Unsigned {
		t.Errorf("TableFromMap: biu is not unsigned")
	}
	if c := byName["tm6"]; c.Scale != 6 {
		t.Errorf("TableFromMap: tm6 scale %d", c.Scale)
	}
	if len(tbl.PrimaryKey) != 1 || tbl.PrimaryKey[0] != 0 {
		t.Errorf("TableFromMap: primary key %v", tbl.PrimaryKey)
	}

	for _, f := range files {
		t.Run("go-mysql "+f, func(t *testing.T) {
			path := m.srv.BinlogDir() + "/" + f
			compareWithOracle(t, ourEvents(t, path, DecoderOptions{}), oracleEvents(t, path), oracleQuirks{})
		})
	}
}

// TestMariaDBTypeMatrixMetadata decodes the matrix written with
// binlog_row_metadata MINIMAL and NO_LOG, with a schema resolver supplying
// what the TABLE_MAP no longer carries.
func TestMariaDBTypeMatrixMetadata(t *testing.T) {
	for _, meta := range []string{"MINIMAL", "NO_LOG"} {
		t.Run(meta, func(t *testing.T) {
			m := runMatrix(t, testdb.Options{RowMetadata: meta}, matrixCols)
			files := binlogFiles(t, m.srv)
			res := &infoSchemaResolver{db: m.db, elems: map[string][]string{}}
			for _, c := range m.cols {
				if strings.HasPrefix(c.def, "ENUM(") || strings.HasPrefix(c.def, "SET(") {
					res.elems[c.name] = parseElems(strings.ToLower(c.def[:strings.IndexByte(c.def, '(')]) + c.def[strings.IndexByte(c.def, '('):])
				}
			}
			events := readServerBinlogs(t, m.srv.BinlogDir(), files, DecoderOptions{Resolver: res})
			m.checkMatrix(t, events)
			ev := matrixRowsEvents(events)[0]
			if meta == "NO_LOG" && ev.Map.HasMetadata {
				t.Errorf("NO_LOG table map has optional metadata")
			}
			if meta == "MINIMAL" && (ev.Map.Names != nil || ev.Map.Unsigned == nil) {
				t.Errorf("MINIMAL table map: names %v, unsigned %v", ev.Map.Names, ev.Map.Unsigned)
			}
			if meta == "MINIMAL" {
				// go-mysql reads signedness and charsets from MINIMAL
				// metadata as well, so it must agree on every value.
				for _, f := range files {
					path := m.srv.BinlogDir() + "/" + f
					compareWithOracle(t, ourEvents(t, path, DecoderOptions{Resolver: res}), oracleEvents(t, path), oracleQuirks{})
				}
			}
		})
	}
}

// isBlobColumn reports the columns binlog_row_image=NOBLOB leaves out of
// before images: TEXT, BLOB and JSON (a LONGTEXT), but not GEOMETRY.
func isBlobColumn(c matrixCol) bool {
	d := strings.ToUpper(c.def)
	for _, k := range []string{"TEXT", "BLOB", "JSON"} {
		if strings.Contains(d, k) {
			return true
		}
	}
	return false
}

// TestMariaDBRowImages decodes the matrix written with binlog_row_image
// MINIMAL (before images carry only the key) and NOBLOB (before images
// leave out BLOB and TEXT columns): missing columns are KindAbsent, and
// everything present matches the server.
func TestMariaDBRowImages(t *testing.T) {
	cases := []struct {
		image  string
		absent func(what string, c matrixCol) bool
	}{
		{"MINIMAL", func(what string, c matrixCol) bool {
			return what == "update before" || what == "delete"
		}},
		{"NOBLOB", func(what string, c matrixCol) bool {
			return (what == "update before" || what == "delete") && isBlobColumn(c)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			m := runMatrix(t, testdb.Options{RowImage: tc.image}, matrixCols)
			m.absent = tc.absent
			files := binlogFiles(t, m.srv)
			events := readServerBinlogs(t, m.srv.BinlogDir(), files, DecoderOptions{})
			m.checkMatrix(t, events)
			for _, f := range files {
				path := m.srv.BinlogDir() + "/" + f
				compareWithOracle(t, ourEvents(t, path, DecoderOptions{}), oracleEvents(t, path), oracleQuirks{})
			}
		})
	}
}

// TestMariaDBCompressedEvents decodes the matrix written with
// log_bin_compress: QUERY and rows events are zlib-compressed.
func TestMariaDBCompressedEvents(t *testing.T) {
	m := runMatrix(t, testdb.Options{CompressBinlog: true}, matrixCols)
	files := binlogFiles(t, m.srv)
	events := readServerBinlogs(t, m.srv.BinlogDir(), files, DecoderOptions{})
	m.checkMatrix(t, events)
	seen := map[EventType]int{}
	for _, ev := range events {
		seen[ev.Header().Type]++
	}
	if seen[MariaQueryCompressedType] == 0 || seen[MariaWriteRowsCompressedV1] == 0 ||
		seen[MariaUpdateRowsCompressedV1] == 0 || seen[MariaDeleteRowsCompressedV1] == 0 {
		t.Errorf("compressed event types seen: %v", seen)
	}
	for _, f := range files {
		path := m.srv.BinlogDir() + "/" + f
		compareWithOracle(t, ourEvents(t, path, DecoderOptions{}), oracleEvents(t, path), oracleQuirks{})
	}
}

// TestMariaDBCompressedColumns decodes MariaDB's COMPRESSED columns, which
// the binlog carries compressed (types 140 and 141). go-mysql cannot read
// these types, so the server's SELECT is the only reference.
func TestMariaDBCompressedColumns(t *testing.T) {
	m := runMatrix(t, testdb.Options{}, compressedCols)
	events := readServerBinlogs(t, m.srv.BinlogDir(), binlogFiles(t, m.srv), DecoderOptions{})
	m.checkMatrix(t, events)
	types := matrixRowsEvents(events)[0].Map.Types
	if types[2] != TypeVarCharCompressedMaria || types[3] != TypeBlobCompressedMaria {
		t.Errorf("column types %v, want compressed varchar and blob", types)
	}
}

// TestMariaDBChecksumNone decodes a binlog written with binlog_checksum=NONE.
func TestMariaDBChecksumNone(t *testing.T) {
	m := runMatrix(t, testdb.Options{Checksum: "NONE"}, matrixCols[:12])
	files := binlogFiles(t, m.srv)
	events := readServerBinlogs(t, m.srv.BinlogDir(), files, DecoderOptions{})
	m.checkMatrix(t, events)
	if fde := events[0].(*FormatDescriptionEvent); fde.Checksum != ChecksumOff {
		t.Errorf("checksum %s, want none", fde.Checksum)
	}
	for _, f := range files {
		path := m.srv.BinlogDir() + "/" + f
		compareWithOracle(t, ourEvents(t, path, DecoderOptions{}), oracleEvents(t, path), oracleQuirks{})
	}
}

// hiresCols are temporal columns created with mysql56_temporal_format=OFF:
// without fractions they use the pre-5.6 formats, with fractions MariaDB's
// own "hires" formats, which the TABLE_MAP does not tell apart.
var hiresCols = []matrixCol{
	{name: "t0", def: "TIME", vals: []any{"-838:59:59", "12:34:56", "-00:00:01"}},
	{name: "t1", def: "TIME(1)", vals: []any{"-00:00:00.1", "838:59:59.9"}},
	{name: "t3", def: "TIME(3)", vals: []any{"-12:34:56.789", "00:00:00.001"}},
	{name: "t6", def: "TIME(6)", vals: []any{"-838:59:59.999999", "01:02:03.000004"}},
	{name: "d0", def: "DATETIME", vals: []any{"0000-00-00 00:00:00", "9999-12-31 23:59:59", "2020-01-02 03:04:05"}},
	{name: "d2", def: "DATETIME(2)", vals: []any{"2020-01-02 03:04:05.12", "0000-00-00 00:00:00.00"}},
	{name: "d6", def: "DATETIME(6)", vals: []any{"1000-01-01 00:00:00.000001", "2020-12-31 23:59:59.999999"}},
	{name: "s0", def: "TIMESTAMP NULL", vals: []any{"1970-01-01 08:00:01", "0000-00-00 00:00:00", nil}},
	{name: "s3", def: "TIMESTAMP(3) NULL", vals: []any{"2021-06-01 12:00:00.123", "2038-01-19 11:14:07.999"}},
	{name: "s5", def: "TIMESTAMP(5) NULL", vals: []any{"2021-06-01 12:00:00.12345"}},
}

// TestMariaDBOldTemporalFormats decodes the old and hires temporal formats.
// The hires ones need the table definition's precision (here from the
// information_schema resolver), as MariaDB's own replicas do.
func TestMariaDBOldTemporalFormats(t *testing.T) {
	m := runMatrix(t, testdb.Options{}, hiresCols, "SET GLOBAL mysql56_temporal_format = OFF")
	res := &infoSchemaResolver{db: m.db}
	events := readServerBinlogs(t, m.srv.BinlogDir(), binlogFiles(t, m.srv), DecoderOptions{Resolver: res})
	m.checkMatrix(t, events)
	types := matrixRowsEvents(events)[0].Map.Types
	if types[2] != TypeTime || types[6] != TypeDateTime || types[9] != TypeTimestamp {
		t.Errorf("column types %v, want the old TIME, DATETIME and TIMESTAMP", types)
	}
}
