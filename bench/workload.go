package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// Workload W (BENCHMARKS.md): a MariaDB source with row-based, full-image,
// full-metadata binlog, loaded by sysbench oltp_write_only prepare and run,
// then oltp_insert run. Generating it takes a minute or two, so the result
// (the binlog files and the whole datadir) is cached and reused by every
// benchmark that needs W: decode reads the files, capture and catch-up
// start a server on a copy of the datadir.

// workloadParams are the knobs of W; their hash names the cache entry.
type workloadParams struct {
	Tables    int    `json:"tables"`
	TableSize int    `json:"table_size"`
	Threads   int    `json:"threads"`
	Seconds   int    `json:"seconds"`
	Server    string `json:"server"`  // mariadbd --version
	Version   int    `json:"version"` // bump when the recipe changes
}

func defaultWorkloadParams() workloadParams {
	return workloadParams{Tables: 4, TableSize: 250000, Threads: 8, Seconds: 20, Version: 1}
}

func (p workloadParams) hash() string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// sysbenchArgs are the connection and table arguments every sysbench step
// shares.
func (p workloadParams) sysbenchArgs(s *testdb.Server) []string {
	return []string{
		"--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(s.Port),
		"--mysql-user=root", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(p.Tables), "--table-size=" + strconv.Itoa(p.TableSize),
	}
}

// Workload is a generated W in the cache.
type Workload struct {
	Dir    string         `json:"-"`
	Params workloadParams `json:"params"`
	// Files are the binlog file names, in order, inside DataDir.
	Files   []string  `json:"files"`
	Bytes   int64     `json:"bytes"`
	Created time.Time `json:"created"`
	// Steps records each sysbench step and its summary line.
	Steps []string `json:"steps"`
}

// DataDir is the cached datadir (with the binlog files in it).
func (w *Workload) DataDir() string { return filepath.Join(w.Dir, "data") }

// BinlogFiles returns the paths of W's binlog files, in order.
func (w *Workload) BinlogFiles() []string {
	out := make([]string, len(w.Files))
	for i, f := range w.Files {
		out[i] = filepath.Join(w.DataDir(), f)
	}
	return out
}

// workloadCacheRoot is $XDG_CACHE_HOME/sluice-bench or ~/.cache/sluice-bench.
func workloadCacheRoot() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "sluice-bench"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "sluice-bench"), nil
}

// LoadWorkload returns W from the cache, generating it first when it is
// missing or regenerate is set. logf reports progress.
func LoadWorkload(ctx context.Context, regenerate bool, logf func(string, ...any)) (*Workload, error) {
	p := defaultWorkloadParams()
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		bin = "/usr/sbin/mariadbd"
	}
	ver, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("workload W: mariadbd --version: %w", err)
	}
	p.Server = strings.TrimSpace(string(ver))
	root, err := workloadCacheRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "W-"+p.hash())
	if !regenerate {
		if w, err := readWorkload(dir); err == nil {
			logf("workload W: using the cache in %s (%d files, %d MB)", dir, len(w.Files), w.Bytes>>20)
			return w, nil
		}
	}
	logf("workload W: generating into %s (sysbench, a few minutes)", dir)
	return generateWorkload(ctx, p, dir, logf)
}

func readWorkload(dir string) (*Workload, error) {
	b, err := os.ReadFile(filepath.Join(dir, "workload.json"))
	if err != nil {
		return nil, err
	}
	var w Workload
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	w.Dir = dir
	for _, f := range w.BinlogFiles() {
		if _, err := os.Stat(f); err != nil {
			return nil, err
		}
	}
	return &w, nil
}

func generateWorkload(ctx context.Context, p workloadParams, dir string, logf func(string, ...any)) (*Workload, error) {
	if _, err := exec.LookPath("sysbench"); err != nil {
		return nil, errors.New("workload W: sysbench not found: install it with `sudo apt-get install -y sysbench` (or run `make deps`)")
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("workload W: %w", err)
	}
	// Binlog files up to 1 GiB (the maximum), so W is one file or two.
	srv, err := testdb.New(ctx, testdb.Options{
		Dir:        tmp,
		BufferPool: "1G",
		Args:       []string{"--max-binlog-size=1073741824"},
	})
	if err != nil {
		return nil, fmt.Errorf("workload W: start mariadbd: %w", err)
	}
	defer srv.Close()
	if err := srv.ExecContext(ctx, "CREATE DATABASE sbtest"); err != nil {
		return nil, fmt.Errorf("workload W: %w", err)
	}
	w := &Workload{Params: p}
	steps := [][]string{
		{"oltp_write_only", "prepare"},
		{"oltp_write_only", "run", "--threads=" + strconv.Itoa(p.Threads), "--time=" + strconv.Itoa(p.Seconds)},
		{"oltp_insert", "run", "--threads=" + strconv.Itoa(p.Threads), "--time=" + strconv.Itoa(p.Seconds)},
	}
	for _, st := range steps {
		args := append([]string{st[0]}, p.sysbenchArgs(srv)...)
		args = append(args, st[2:]...)
		args = append(args, st[1])
		logf("workload W: sysbench %s", strings.Join(args, " "))
		out, err := exec.CommandContext(ctx, "sysbench", args...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("workload W: sysbench %s: %w\n%s", strings.Join(st[:2], " "), err, out)
		}
		w.Steps = append(w.Steps, "sysbench "+strings.Join(args, " ")+": "+sysbenchSummary(out))
	}
	// A clean shutdown closes the binlog (and clears its in-use flag).
	if err := srv.Stop(); err != nil {
		return nil, fmt.Errorf("workload W: stop mariadbd: %w", err)
	}
	data := filepath.Join(tmp, "data")
	if err := os.Rename(srv.DataDir(), data); err != nil {
		return nil, fmt.Errorf("workload W: keep the datadir: %w", err)
	}
	if w.Files, err = workloadBinlogs(data); err != nil {
		return nil, err
	}
	for _, f := range w.Files {
		st, err := os.Stat(filepath.Join(data, f))
		if err != nil {
			return nil, err
		}
		w.Bytes += st.Size()
	}
	w.Created = time.Now().UTC()
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "workload.json"), b, 0o644); err != nil {
		return nil, err
	}
	// Everything but the datadir (the server's socket and logs) goes.
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if e.Name() != "data" && e.Name() != "workload.json" {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("workload W: %w", err)
	}
	w.Dir = dir
	logf("workload W: %d binlog files, %d MB", len(w.Files), w.Bytes>>20)
	return w, nil
}

// workloadBinlogs lists the binlog files a datadir's index names, in order.
func workloadBinlogs(data string) ([]string, error) {
	f, err := os.Open(filepath.Join(data, "binlog.index"))
	if err != nil {
		return nil, fmt.Errorf("workload W: read the binlog index: %w", err)
	}
	defer f.Close()
	var files []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			files = append(files, filepath.Base(line))
		}
	}
	if len(files) == 0 {
		return nil, errors.New("workload W: the binlog index is empty")
	}
	sort.Strings(files)
	return files, sc.Err()
}

// sysbenchSummary picks the lines that say how much sysbench did.
func sysbenchSummary(out []byte) string {
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "transactions:") || strings.HasPrefix(l, "queries:") || strings.HasPrefix(l, "Inserting ") {
			keep = append(keep, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(keep, "; ")
}

// StartServer starts a fresh MariaDB server on a copy of W's datadir: the
// four sbtest tables loaded and W's whole binlog in place, as the source
// live benchmarks (capture, catch-up) read from. The caller closes it.
func (w *Workload) StartServer(ctx context.Context, opts testdb.Options) (*testdb.Server, error) {
	srv, err := testdb.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("workload W: start mariadbd: %w", err)
	}
	fail := func(err error) (*testdb.Server, error) {
		srv.Close()
		return nil, fmt.Errorf("workload W: start a server on W: %w", err)
	}
	if err := srv.Stop(); err != nil {
		return fail(err)
	}
	data := srv.DataDir()
	if err := os.RemoveAll(data); err != nil {
		return fail(err)
	}
	if err := workloadCopyDir(w.DataDir(), data); err != nil {
		return fail(err)
	}
	// The index names files by the path of the server that wrote them.
	var idx strings.Builder
	for _, f := range w.Files {
		idx.WriteString(filepath.Join(data, f) + "\n")
	}
	if err := os.WriteFile(filepath.Join(data, "binlog.index"), []byte(idx.String()), 0o644); err != nil {
		return fail(err)
	}
	if err := srv.Start(ctx); err != nil {
		return fail(err)
	}
	return srv, nil
}

func workloadCopyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// BinlogBytes is the total size of W's binlog files.
func (w *Workload) BinlogBytes() int64 {
	var n int64
	for _, f := range w.BinlogFiles() {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}
