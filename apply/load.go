package apply

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/go-sql-driver/mysql"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/sqlbuild"
)

// loader writes rows believed new to the target with LOAD DATA LOCAL
// INFILE instead of a multi-row INSERT: the server reads tab-separated
// fields instead of parsing a statement of literals, which costs it about a
// quarter less per row, and the target server is what a catch-up waits on.
//
// A LOCAL load turns errors into warnings (a duplicate key skips the row, a
// value the column cannot hold is truncated), so it runs inside a savepoint
// and is trusted only when it leaves no warning. Otherwise it is rolled
// back and the rows go the usual way, as an INSERT that falls back to an
// upsert, where a real error stops the group as before. Values whose text
// form is not what an INSERT would bind (BIT, geometry, vectors, JSON,
// absent columns) are never loaded.
type loader struct {
	name string // the driver's reader name, unique per loader
	data []byte
	tsv  []byte
	text map[shapeKey]string
	// off is set after the server refused a LOCAL load: the rest of the
	// run uses INSERTs.
	off bool
}

func newLoader() *loader {
	l := &loader{text: map[shapeKey]string{}}
	l.name = fmt.Sprintf("sluice-apply-%p", l)
	mysql.RegisterReaderHandler(l.name, func() io.Reader { return bytes.NewReader(l.data) })
	return l
}

func (l *loader) close() { mysql.DeregisterReaderHandler(l.name) }

// minLoadRows is the smallest statement worth a load: a load costs three
// more round trips than an INSERT (the savepoint, the file transfer, the
// warning count), which only the rows' cheaper parsing pays back.
const minLoadRows = 100

// loadable reports whether the statement is worth loading and every value
// of its rows has a text form equal to what an INSERT binds.
func loadable(st *statement) bool {
	if len(st.present) == 0 || len(st.rows) < minLoadRows {
		return false
	}
	for _, r := range st.rows {
		for _, c := range st.present {
			switch r[c].Kind {
			case change.KindBit, change.KindGeometry, change.KindVector, change.KindJSON, change.KindAbsent:
				return false
			}
		}
	}
	return true
}

// load writes st's rows with LOAD DATA. It reports false, with the target
// transaction as it was, when the rows must go as an INSERT instead.
func (l *loader) load(ctx context.Context, tx *sql.Tx, st *statement) (bool, error) {
	if l.off || !loadable(st) {
		return false, nil
	}
	l.tsv = appendTSV(l.tsv[:0], st.rows, st.present)
	l.data = l.tsv
	defer func() { l.data = nil }()
	if _, err := tx.ExecContext(ctx, "SAVEPOINT sluice_load"); err != nil {
		return false, err
	}
	_, err := tx.ExecContext(ctx, l.statement(st))
	if err != nil {
		var me *mysql.MySQLError
		if !errors.As(err, &me) || IsTransient(err) {
			// A lost connection, or a deadlock or lock wait timeout that
			// may have rolled back the whole transaction: the group is
			// retried.
			return false, err
		}
		// The server refused the rows, or LOCAL loads are disabled. The
		// INSERT says which, with the server's own error.
		l.off = me.Number == 1148 || me.Number == 3948 || me.Number == 2068
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sluice_load"); rerr != nil {
			return false, fmt.Errorf("%w (and undoing it: %v)", err, rerr)
		}
		return false, nil
	}
	var warnings int
	if err := tx.QueryRowContext(ctx, "SELECT @@warning_count").Scan(&warnings); err != nil {
		return false, err
	}
	if warnings == 0 {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sluice_load"); err != nil {
		return false, err
	}
	return false, nil
}

// statement is the LOAD DATA text for st's table and columns, cached.
func (l *loader) statement(st *statement) string {
	t := st.table
	k := shapeKey{table: t, kind: 'l', cols: columnSignature(st.present)}
	if q, ok := l.text[k]; ok {
		return q
	}
	q := []byte("LOAD DATA LOCAL INFILE 'Reader::" + l.name + "' INTO TABLE ")
	q = sqlbuild.AppendTable(q, t.Schema, t.Name)
	q = append(q, " CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ("...)
	for i, c := range st.present {
		if i > 0 {
			q = append(q, ',')
		}
		q = sqlbuild.AppendIdent(q, t.Columns[c].Name)
	}
	q = append(q, ')')
	l.text[k] = string(q)
	return l.text[k]
}

// appendTSV writes rows as LOAD DATA's default format: fields separated by
// tabs, rows ended by newlines, NULL as \N, and backslash, tab, newline and
// NUL escaped with a backslash. Text is sent as its bytes (the load reads
// it as CHARACTER SET binary, like the _binary strings of an INSERT).
func appendTSV(dst []byte, rows []change.Row, present []int) []byte {
	for _, r := range rows {
		for i, c := range present {
			if i > 0 {
				dst = append(dst, '\t')
			}
			dst = appendField(dst, r[c])
		}
		dst = append(dst, '\n')
	}
	return dst
}

func appendField(dst []byte, v change.Value) []byte {
	switch v.Kind {
	case change.KindNull:
		return append(dst, '\\', 'N')
	case change.KindInt:
		return strconv.AppendInt(dst, v.I, 10)
	case change.KindUint:
		return strconv.AppendUint(dst, v.Uint(), 10)
	case change.KindFloat, change.KindDouble:
		return strconv.AppendFloat(dst, v.Float64(), 'g', -1, 64)
	case change.KindYear, change.KindDate, change.KindDateTime, change.KindTimestamp, change.KindTime:
		return v.AppendText(dst)
	}
	// Runs of bytes that need no escape (nearly all of them) are copied
	// whole; the loop stops only at the four that do.
	b := v.B
	for {
		i := 0
		for i < len(b) && !tsvEscaped[b[i]] {
			i++
		}
		dst = append(dst, b[:i]...)
		if i == len(b) {
			return dst
		}
		switch b[i] {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case 0:
			dst = append(dst, '\\', '0')
		}
		b = b[i+1:]
	}
}

// tsvEscaped marks the bytes appendField escapes.
var tsvEscaped = [256]bool{'\\': true, '\t': true, '\n': true, 0: true}
