// Package testdb starts throwaway MariaDB servers for tests, benchmarks and
// the demo: a temporary datadir, a free port on 127.0.0.1, the binlog in ROW
// format. It owns their processes and files and nothing else.
//
// A server is a real mariadbd. The first start on a machine builds a template
// datadir with mariadb-install-db (about a second) and every later server
// copies it, so a test suite can start many.
package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver tests use to talk to the server
)

// Options choose how a server is configured. The zero value is a server with
// binlog in ROW format, full row images and full row metadata, GTIDs in domain
// 0, CRC32 checksums and relaxed durability (tests do not need fsync).
type Options struct {
	// ServerID is server_id; 0 picks a unique one.
	ServerID uint32
	// RowMetadata is binlog_row_metadata: "FULL" (default), "MINIMAL" or
	// "NO_LOG".
	RowMetadata string
	// RowImage is binlog_row_image: "FULL" (default), "MINIMAL" or "NOBLOB".
	RowImage string
	// Checksum is binlog_checksum: "CRC32" (default) or "NONE".
	Checksum string
	// GTIDDomainID is gtid_domain_id.
	GTIDDomainID uint32
	// GTIDStrictMode sets gtid_strict_mode.
	GTIDStrictMode bool
	// NoBinlog starts the server without a binlog (a plain target).
	NoBinlog bool
	// LogReplicaUpdates writes what the replication SQL thread applies to the
	// binlog too.
	LogReplicaUpdates bool
	// CompressBinlog writes MariaDB compressed row and query events.
	CompressBinlog bool
	// Durable turns on sync_binlog=1 and innodb_flush_log_at_trx_commit=1, as
	// a production server would run; benchmarks that compare with native
	// replication use it so both sides pay the same.
	Durable bool
	// BufferPool is innodb_buffer_pool_size; default 128M.
	BufferPool string
	// Args are extra mariadbd options, e.g. "--max-binlog-size=4096".
	Args []string
	// Dir is the parent of the server's directory; default os.TempDir().
	Dir string
}

// Server is one running (or stopped) mariadbd.
type Server struct {
	Host     string
	Port     int
	User     string
	Password string
	ServerID uint32
	// Dir holds datadir/, the socket, the pid file and error.log.
	Dir  string
	opts Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
}

// Start starts a server for a test and stops it and removes its files when
// the test ends. A missing mariadbd fails the test: tests never skip for
// want of a server.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := New(ctx, opts)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("testdb: server %s error log tail:\n%s", s.Addr(), s.ErrorLogTail(30))
		}
		if err := s.Close(); err != nil {
			tb.Logf("testdb: close %s: %v", s.Addr(), err)
		}
	})
	return s
}

var serverIDs struct {
	sync.Mutex
	next uint32
}

func uniqueServerID() uint32 {
	serverIDs.Lock()
	defer serverIDs.Unlock()
	if serverIDs.next == 0 {
		// Start from the process id so that servers of concurrent test
		// binaries differ too.
		serverIDs.next = uint32(os.Getpid()%100000)*100 + 1
	}
	serverIDs.next++
	return serverIDs.next
}

// New creates a datadir from the template and starts a server on it. The
// caller must Close it.
func New(ctx context.Context, opts Options) (*Server, error) {
	tpl, err := template(ctx)
	if err != nil {
		return nil, err
	}
	parent := opts.Dir
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "mariadb-")
	if err != nil {
		return nil, fmt.Errorf("create server dir: %w", err)
	}
	if err := copyDir(tpl, filepath.Join(dir, "data")); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy template datadir: %w", err)
	}
	if opts.ServerID == 0 {
		opts.ServerID = uniqueServerID()
	}
	s := &Server{Host: "127.0.0.1", User: "root", ServerID: opts.ServerID, Dir: dir, opts: opts}
	// A free port can be taken between our probe and mariadbd's bind; try a
	// few ports before giving up.
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err == nil {
			err = s.Start(ctx)
		}
		if err == nil {
			break
		}
		if attempt == 4 || !strings.Contains(s.ErrorLogTail(10), "Address already in use") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) args() []string {
	o := s.opts
	a := []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(s.Dir, "data"),
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.Dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"),
		"--log-error=" + filepath.Join(s.Dir, "error.log"),
		"--tmpdir=" + s.Dir,
		"--server-id=" + strconv.FormatUint(uint64(o.ServerID), 10),
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--innodb-log-file-size=64M",
		"--max-connections=500",
		"--innodb-buffer-pool-size=" + def(o.BufferPool, "128M"),
		"--gtid-domain-id=" + strconv.FormatUint(uint64(o.GTIDDomainID), 10),
		"--skip-slave-start",
		"--log-warnings=1",
	}
	if os.Geteuid() == 0 {
		a = append(a, "--user=root")
	}
	if !o.NoBinlog {
		a = append(a,
			"--log-bin="+filepath.Join(s.Dir, "data", "binlog"),
			"--binlog-format=ROW",
			"--binlog-row-image="+def(o.RowImage, "FULL"),
			"--binlog-row-metadata="+def(o.RowMetadata, "FULL"),
			"--binlog-checksum="+def(o.Checksum, "CRC32"),
		)
	}
	if o.GTIDStrictMode {
		a = append(a, "--gtid-strict-mode=1")
	}
	if o.LogReplicaUpdates {
		a = append(a, "--log-slave-updates=1")
	}
	if o.CompressBinlog {
		a = append(a, "--log-bin-compress=1", "--log-bin-compress-min-len=10")
	}
	if o.Durable {
		a = append(a, "--sync-binlog=1", "--innodb-flush-log-at-trx-commit=1")
	} else {
		a = append(a, "--sync-binlog=0", "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0")
	}
	return append(a, o.Args...)
}

func def(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Start starts mariadbd on the server's datadir and port and waits until it
// accepts connections. It is how a stopped server is brought back.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("server %s is already running", s.Addr())
	}
	bin, err := mariadbd()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, s.args()...)
	// The server dies with the process that started it, so that a killed test
	// run leaves no mariadbd behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("mariadbd on port %d exited during start:\n%s", s.Port, s.ErrorLogTail(20))
		case <-ctx.Done():
			s.killLocked()
			return fmt.Errorf("start mariadbd on port %d: %w", s.Port, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if s.ping() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("mariadbd on port %d did not accept connections within 60s:\n%s", s.Port, s.ErrorLogTail(20))
		}
	}
}

func (s *Server) ping() error {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// Stop shuts the server down cleanly and waits for it to exit.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		s.killLocked()
		return fmt.Errorf("mariadbd on port %d did not stop within 60s; killed", s.Port)
	}
	s.cmd = nil
	return nil
}

// Kill kills the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops the server cleanly and starts it again on the same port.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start(ctx)
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Close stops the server and removes its files.
func (s *Server) Close() error {
	err := s.Stop()
	if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// DSN is a go-sql-driver/mysql DSN for database db (may be empty).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=false&multiStatements=true&interpolateParams=true&timeout=5s",
		s.User, s.Password, s.Addr(), db)
}

// URL is the server as a sluice data source URL: mysql://user:pass@host:port.
func (s *Server) URL() string {
	if s.Password == "" {
		return fmt.Sprintf("mysql://%s@%s", s.User, s.Addr())
	}
	return fmt.Sprintf("mysql://%s:%s@%s", s.User, s.Password, s.Addr())
}

// BinlogDir is the directory that holds the binlog files.
func (s *Server) BinlogDir() string { return filepath.Join(s.Dir, "data") }

// DataDir is the server's datadir.
func (s *Server) DataDir() string { return filepath.Join(s.Dir, "data") }

// Socket is the unix socket path.
func (s *Server) Socket() string { return filepath.Join(s.Dir, "mysqld.sock") }

// ErrorLogTail returns the last n lines of the server's error log.
func (s *Server) ErrorLogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Open opens a connection pool to database db. The caller closes it.
func (s *Server) Open(db string) (*sql.DB, error) {
	return sql.Open("mysql", s.DSN(db))
}

// DB opens a pool for a test and closes it when the test ends.
func (s *Server) DB(tb testing.TB, db string) *sql.DB {
	tb.Helper()
	pool, err := s.Open(db)
	if err != nil {
		tb.Fatalf("testdb: open %s: %v", s.Addr(), err)
	}
	tb.Cleanup(func() { pool.Close() })
	return pool
}

// Exec runs statements in order on a fresh connection, failing the test on
// the first error.
func (s *Server) Exec(tb testing.TB, stmts ...string) {
	tb.Helper()
	if err := s.ExecContext(context.Background(), stmts...); err != nil {
		tb.Fatalf("testdb: %v", err)
	}
}

// ExecContext runs statements in order on one connection.
func (s *Server) ExecContext(ctx context.Context, stmts ...string) error {
	db, err := s.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.Addr(), err)
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: exec %q: %w", s.Addr(), abbreviate(q), err)
		}
	}
	return nil
}

// QueryString runs a query that returns one value and returns it as text.
func (s *Server) QueryString(tb testing.TB, query string, args ...any) string {
	tb.Helper()
	db, err := s.Open("")
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	defer db.Close()
	var v sql.NullString
	if err := db.QueryRow(query, args...).Scan(&v); err != nil {
		tb.Fatalf("testdb: %s: query %q: %v", s.Addr(), abbreviate(query), err)
	}
	return v.String
}

func abbreviate(q string) string {
	if len(q) > 200 {
		return q[:200] + "..."
	}
	return q
}

// mariadbd finds the server binary.
func mariadbd() (string, error) {
	for _, name := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("mariadbd not found: install it with `sudo apt-get install -y mariadb-server` (or run `make deps`)")
}
