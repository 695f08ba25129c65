package capture

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/source"
)

// Command bytes and flags of the replication protocol.
const (
	comRegisterSlave    = 0x15
	comBinlogDump       = 0x12
	comBinlogDumpGTID   = 0x1e
	mariaCapabilityGTID = 4 // MARIA_SLAVE_CAPABILITY_GTID
)

// sourceConn is one connection to the source: first for the queries that
// set up a start, then, after dump, for the event stream only.
type sourceConn struct {
	src     source.Config
	conn    *client.Conn
	netConn net.Conn
	flavor  change.Flavor
	version string // without MariaDB's "5.5.5-" prefix
	// stop undoes the context watch that closes the connection when the
	// context ends.
	stop      func() bool
	closeOnce sync.Once
}

// dialSource connects and authenticates. Closing ctx closes the connection,
// which unblocks any read or query in progress.
func dialSource(ctx context.Context, src source.Config) (*sourceConn, error) {
	timeout := src.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	var opts []client.Option
	switch src.TLS {
	case "true":
		opts = append(opts, func(c *client.Conn) error {
			c.SetTLSConfig(&tls.Config{ServerName: src.Host, MinVersion: tls.VersionTLS12})
			return nil
		})
	case "skip-verify", "preferred":
		opts = append(opts, func(c *client.Conn) error {
			c.UseSSL(true)
			return nil
		})
	}
	sc := &sourceConn{src: src}
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// The handshake has no context of its own; a deadline bounds it.
		_ = nc.SetDeadline(time.Now().Add(timeout))
		sc.netConn = nc
		return nc, nil
	}
	conn, err := client.ConnectWithDialer(ctx, "tcp", src.Addr(), src.User, src.Password, "", dialer, opts...)
	if err != nil && src.TLS == "preferred" && strings.Contains(err.Error(), "does not support TLS") {
		conn, err = client.ConnectWithDialer(ctx, "tcp", src.Addr(), src.User, src.Password, "", dialer)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", src, err)
	}
	// After a TLS handshake the client reads through the TLS connection.
	sc.netConn = conn.Conn.Conn
	_ = sc.netConn.SetDeadline(time.Time{})
	sc.conn = conn
	// go-mysql's Close is not safe to call concurrently; the socket's is.
	nc := sc.netConn
	sc.stop = context.AfterFunc(ctx, func() { nc.Close() })
	sc.version = conn.GetServerVersion()
	sc.flavor = change.MySQL
	if strings.Contains(strings.ToLower(sc.version), "mariadb") {
		sc.flavor = change.MariaDB
		sc.version = strings.TrimPrefix(sc.version, "5.5.5-")
	}
	return sc, nil
}

// Close closes the connection; it may be called more than once.
func (sc *sourceConn) Close() error {
	var err error
	sc.closeOnce.Do(func() {
		if sc.stop != nil {
			sc.stop()
		}
		err = sc.conn.Close()
	})
	return err
}

// interrupt unblocks a read in progress on another goroutine.
func (sc *sourceConn) interrupt() { sc.netConn.Close() }

// exec runs one statement; args are bound as placeholders.
func (sc *sourceConn) exec(query string, args ...any) (*gomysql.Result, error) {
	r, err := sc.conn.Execute(query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", firstWords(query), sc.src, err)
	}
	return r, nil
}

// queryRows runs a query and returns its rows as text (NULL as "").
func (sc *sourceConn) queryRows(query string, args ...any) ([]string, [][]string, error) {
	r, err := sc.exec(query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	if r.Resultset == nil {
		return nil, nil, nil
	}
	cols := make([]string, len(r.Fields))
	for i, f := range r.Fields {
		cols[i] = string(f.Name)
	}
	rows := make([][]string, r.RowNumber())
	for i := range rows {
		rows[i] = make([]string, len(cols))
		for j := range cols {
			// go-mysql's strings point into a buffer that Close recycles.
			v, _ := r.GetString(i, j)
			rows[i][j] = strings.Clone(v)
		}
	}
	return cols, rows, nil
}

// queryValue returns the first column of the first row; ok is false when
// there is no row or the value is NULL.
func (sc *sourceConn) queryValue(query string, args ...any) (string, bool, error) {
	r, err := sc.exec(query, args...)
	if err != nil {
		return "", false, err
	}
	defer r.Close()
	if r.Resultset == nil || r.RowNumber() == 0 {
		return "", false, nil
	}
	if isNull, _ := r.IsNull(0, 0); isNull {
		return "", false, nil
	}
	v, err := r.GetString(0, 0)
	return strings.Clone(v), err == nil, err
}

func firstWords(q string) string {
	f := strings.Fields(q)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

// versionAtLeast compares the server version with major.minor.patch.
func (sc *sourceConn) versionAtLeast(major, minor, patch int) bool {
	v := sc.version
	if i := strings.IndexFunc(v, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	want := []int{major, minor, patch}
	for i := 0; i < 3; i++ {
		n := 0
		if i < len(parts) {
			n, _ = strconv.Atoi(parts[i])
		}
		if n != want[i] {
			return n > want[i]
		}
	}
	return true
}

// dumpRequest says where the stream starts.
type dumpRequest struct {
	serverID uint32
	// file and pos start a file-position dump. With gtid set, a GTID dump
	// starts instead (MariaDB: a GTID list; MySQL: a GTID set).
	file   string
	pos    uint64
	byGTID bool
	gtid   string
	// heartbeat is the period the source sends heartbeats at when idle.
	heartbeat time.Duration
	// hostname is what the source shows in SHOW SLAVE HOSTS.
	hostname string
}

// startDump prepares the session as a replica's, registers and sends the
// dump command. After it the connection carries only the event stream.
func (sc *sourceConn) startDump(req dumpRequest) error {
	// Declare that we understand checksums, so the source sends the events
	// as they are written, with their CRC32 that the decoder verifies.
	// MySQL 8.0.26 renamed the variable; set both names.
	if _, err := sc.exec("SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = @@global.binlog_checksum"); err != nil {
		return fmt.Errorf("declare checksum support: %w", err)
	}
	if req.heartbeat > 0 {
		// The period is in nanoseconds.
		ns := req.heartbeat.Nanoseconds()
		if _, err := sc.exec("SET @master_heartbeat_period = ?, @source_heartbeat_period = ?", ns, ns); err != nil {
			return fmt.Errorf("set heartbeat period: %w", err)
		}
	}
	switch sc.flavor {
	case change.MariaDB:
		// Without the GTID capability MariaDB rewrites its GTID events into
		// dummy events for old replicas.
		if _, err := sc.exec("SET @mariadb_slave_capability = ?", mariaCapabilityGTID); err != nil {
			return fmt.Errorf("declare replica capability: %w", err)
		}
		if req.byGTID {
			// An empty state starts at the oldest binlog.
			if _, err := sc.exec("SET @slave_connect_state = ?", req.gtid); err != nil {
				return fmt.Errorf("set start gtid %s: %w", req.gtid, err)
			}
			// Strict mode makes the source refuse a GTID missing from its
			// binlog instead of starting somewhere else.
			if _, err := sc.exec("SET @slave_gtid_strict_mode = 1, @slave_gtid_ignore_duplicates = 0"); err != nil {
				return fmt.Errorf("set gtid strict mode: %w", err)
			}
		}
	case change.MySQL:
		// A stable replica UUID lets the source replace a dump thread of
		// ours that outlived its connection.
		u := replicaUUID(req.serverID)
		if _, err := sc.exec("SET @slave_uuid = ?, @replica_uuid = ?", u, u); err != nil {
			return fmt.Errorf("set replica uuid: %w", err)
		}
	}
	if err := sc.register(req); err != nil {
		return err
	}
	sc.conn.ResetSequence()
	var pkt []byte
	if req.byGTID && sc.flavor == change.MySQL {
		set, err := ParseMySQLGTIDSet(req.gtid)
		if err != nil {
			return fmt.Errorf("start gtid set: %w", err)
		}
		pkt = mysqlGTIDDumpPacket(req.serverID, set)
	} else {
		file, pos := req.file, req.pos
		if req.byGTID {
			// MariaDB takes the start from @slave_connect_state and
			// ignores the file and position.
			file, pos = "", 4
		}
		if pos > 0xffffffff {
			return fmt.Errorf("start position %s:%d is past the 4 GiB the dump command can address", file, pos)
		}
		pkt = fileDumpPacket(req.serverID, file, uint32(pos))
	}
	if err := sc.conn.WritePacket(pkt); err != nil {
		return fmt.Errorf("send dump command to %s: %w", sc.src, err)
	}
	return nil
}

// register sends COM_REGISTER_SLAVE, which makes us appear in the source's
// SHOW SLAVE HOSTS.
func (sc *sourceConn) register(req dumpRequest) error {
	host := req.hostname
	if len(host) > 60 {
		host = host[:60]
	}
	user := sc.src.User
	if len(user) > 32 {
		user = user[:32]
	}
	b := make([]byte, 4, 4+1+4+1+len(host)+1+len(user)+1+2+4+4)
	b = append(b, comRegisterSlave)
	b = binary.LittleEndian.AppendUint32(b, req.serverID)
	b = append(b, byte(len(host)))
	b = append(b, host...)
	b = append(b, byte(len(user)))
	b = append(b, user...)
	b = append(b, 0) // no password
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0) // rank, unused
	b = binary.LittleEndian.AppendUint32(b, 0) // master id, filled by the source
	sc.conn.ResetSequence()
	if err := sc.conn.WritePacket(b); err != nil {
		return fmt.Errorf("register as replica %d on %s: %w", req.serverID, sc.src, err)
	}
	if _, err := sc.conn.ReadOKPacket(); err != nil {
		return fmt.Errorf("register as replica %d on %s: %w", req.serverID, sc.src, err)
	}
	return nil
}

// fileDumpPacket is COM_BINLOG_DUMP (with its 4-byte packet header space).
func fileDumpPacket(serverID uint32, file string, pos uint32) []byte {
	b := make([]byte, 4, 4+1+4+2+4+len(file))
	b = append(b, comBinlogDump)
	b = binary.LittleEndian.AppendUint32(b, pos)
	b = binary.LittleEndian.AppendUint16(b, 0) // flags: block at the end
	b = binary.LittleEndian.AppendUint32(b, serverID)
	return append(b, file...)
}

// mysqlGTIDDumpPacket is COM_BINLOG_DUMP_GTID: the source sends every
// transaction not in set.
func mysqlGTIDDumpPacket(serverID uint32, set *MySQLGTIDSet) []byte {
	data := set.Encode()
	b := make([]byte, 4, 4+1+2+4+4+8+4+len(data))
	b = append(b, comBinlogDumpGTID)
	b = binary.LittleEndian.AppendUint16(b, 0) // flags
	b = binary.LittleEndian.AppendUint32(b, serverID)
	b = binary.LittleEndian.AppendUint32(b, 0) // file name length: none
	b = binary.LittleEndian.AppendUint64(b, 4) // position, unused with GTIDs
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// replicaUUID derives a UUID from the server id, stable across reconnects.
func replicaUUID(serverID uint32) string {
	var u [16]byte
	copy(u[:], "sluice-replica")
	binary.BigEndian.PutUint32(u[12:], serverID)
	u[6] = u[6]&0x0f | 0x80 // version 8: custom
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return string(appendUUID(nil, u))
}

func localHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "sluice"
	}
	return h
}

// ServerError is an error packet from the source.
type ServerError struct {
	Code    uint16
	State   string
	Message string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("ERROR %d (%s): %s", e.Code, e.State, e.Message)
}

func parseErrorPacket(p []byte) *ServerError {
	e := &ServerError{}
	if len(p) < 3 {
		e.Message = "malformed error packet"
		return e
	}
	e.Code = binary.LittleEndian.Uint16(p[1:])
	p = p[3:]
	if len(p) >= 6 && p[0] == '#' {
		e.State = string(p[1:6])
		p = p[6:]
	}
	e.Message = string(p)
	return e
}

// Error codes the capture treats specially.
const (
	erMasterFatalReadingBinlog = 1236 // the requested position is unavailable or bad
	erServerShutdown           = 1053
	erConnectionKilled         = 1927
	erQueryInterrupted         = 1317
)

// serverErrorCode returns the code of a server error anywhere in err's
// chain, or 0.
func serverErrorCode(err error) uint16 {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Code
	}
	var me *gomysql.MyError
	if errors.As(err, &me) {
		return me.Code
	}
	return 0
}

// DetectFlavor connects to a source to tell whether it is MySQL or MariaDB,
// for callers that must know before capture starts (the schema history
// needs it).
func DetectFlavor(ctx context.Context, src source.Config) (change.Flavor, error) {
	sc, err := dialSource(ctx, src)
	if err != nil {
		return 0, err
	}
	defer sc.Close()
	return sc.flavor, nil
}
