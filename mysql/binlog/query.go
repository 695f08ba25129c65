package binlog

import "fmt"

// Status variable codes of a QUERY event (Q_*). The list is not
// self-describing: an unknown code ends parsing, as it does in the server.
const (
	qFlags2              = 0
	qSQLMode             = 1
	qCatalog             = 2
	qAutoIncrement       = 3
	qCharset             = 4
	qTimeZone            = 5
	qCatalogNZ           = 6
	qLCTimeNames         = 7
	qCharsetDatabase     = 8
	qTableMapForUpdate   = 9
	qMasterDataWritten   = 10
	qInvoker             = 11
	qUpdatedDBNames      = 12
	qMicroseconds        = 13
	qCommitTS            = 14
	qCommitTS2           = 15
	qExplicitDefaultsTS  = 16
	qDDLLoggedWithXID    = 17
	qDefaultCollationMB4 = 18
	qSQLRequirePK        = 19
	qDefaultTableEncrypt = 20
	qMariaHRNow          = 128
	qMariaXID            = 129
	qMariaGTIDFlags3     = 130
)

// overMaxDBs is the Q_UPDATED_DB_NAMES count that means "too many to list".
const overMaxDBs = 254

func (d *Decoder) parseQuery(h EventHeader, body []byte) (*QueryEvent, error) {
	postLen := int(d.postHeader[h.Type])
	if postLen < 13 {
		postLen = 13
	}
	r := reader{b: body}
	ev := d.queryEvs.alloc(64)
	*ev = QueryEvent{EventHeader: h, Compressed: h.Type == MariaQueryCompressedType}
	ev.ThreadID = r.u32("thread id")
	ev.ExecTime = r.u32("exec time")
	dbLen := int(r.u8("schema length"))
	ev.ErrorCode = r.u16("error code")
	statusLen := int(r.u16("status vars length"))
	r.skip(postLen-13, "query post-header")
	status := r.bytes(statusLen, "status vars")
	db := r.bytes(dbLen, "schema name")
	r.skip(1, "schema terminator")
	q := r.rest()
	if r.err != nil {
		return nil, r.err
	}
	if err := ev.parseStatusVars(status); err != nil {
		return nil, err
	}
	ev.Schema = string(db)
	if ev.Compressed {
		var err error
		if q, err = d.decompressMaria(q); err != nil {
			return nil, fmt.Errorf("compressed query: %w", err)
		}
	}
	// Most QUERY events of a row-based binlog are BEGIN; do not allocate it.
	if string(q) == "BEGIN" {
		ev.Query = "BEGIN"
	} else {
		ev.Query = string(q)
	}
	return ev, nil
}

func (ev *QueryEvent) parseStatusVars(b []byte) error {
	r := reader{b: b}
	for r.left() > 0 && r.err == nil {
		switch code := r.u8("status var code"); code {
		case qFlags2:
			ev.Flags2 = r.u32("flags2")
		case qSQLMode:
			ev.SQLMode, ev.HasSQLMode = r.u64("sql mode"), true
		case qCatalog:
			r.skip(int(r.u8("catalog length"))+1, "catalog")
		case qAutoIncrement:
			r.skip(4, "auto increment")
		case qCharset:
			ev.ClientCharset = r.u16("client charset")
			ev.ConnCollation = r.u16("connection collation")
			ev.ServerCollation = r.u16("server collation")
		case qTimeZone:
			ev.TimeZone = string(r.bytes(int(r.u8("time zone length")), "time zone"))
		case qCatalogNZ:
			r.skip(int(r.u8("catalog length")), "catalog")
		case qLCTimeNames, qCharsetDatabase, qDefaultCollationMB4:
			r.skip(2, "status var")
		case qTableMapForUpdate, qCommitTS:
			r.skip(8, "status var")
		case qMasterDataWritten:
			r.skip(4, "master data written")
		case qInvoker:
			r.skip(int(r.u8("invoker user length")), "invoker user")
			r.skip(int(r.u8("invoker host length")), "invoker host")
		case qUpdatedDBNames:
			n := int(r.u8("updated db count"))
			if n == overMaxDBs {
				break
			}
			for i := 0; i < n && r.err == nil; i++ {
				for r.err == nil && r.u8("updated db name") != 0 {
				}
			}
		case qMicroseconds, qMariaHRNow:
			ev.Microseconds = uint32(r.uintN(3, "microseconds"))
		case qExplicitDefaultsTS, qSQLRequirePK, qDefaultTableEncrypt, qMariaGTIDFlags3:
			r.skip(1, "status var")
		case qDDLLoggedWithXID, qMariaXID:
			ev.DDLXID = r.u64("ddl xid")
		default:
			// The length of an unknown variable is not known; the server
			// stops here too, and the statement text is still found from
			// the status block length.
			return nil
		}
	}
	if r.err != nil {
		return fmt.Errorf("query status vars: %w", r.err)
	}
	return nil
}
