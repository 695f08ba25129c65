package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-db/sluice/check"
	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/mysql/source"
)

// benchCheck compares two 1M-row copies (sysbench's 4 x 250k tables on a
// source and its native replica) with sluice check and with
// pt-table-checksum, in turn, on the same pair, and prints rows/s of each,
// the ratio and both verdicts, which must agree. Rounds alternate which tool
// goes first, and the result is the median of the rounds.
func benchCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	tables := fs.Int("tables", 4, "sysbench tables")
	size := fs.Int("table-size", 250000, "rows per table")
	rounds := fs.Int("rounds", 5, "runs of each tool, alternating which goes first")
	parallel := fs.Int("parallel", 0, "sluice check Options.Parallel (0: its default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pair, err := checkStartPair(ctx, testdb.ReplicaOptions{})
	if err != nil {
		return err
	}
	defer pair.close()
	fmt.Printf("source %s, replica %s; preparing %d x %d rows\n", pair.src.Addr(), pair.rep.Addr(), *tables, *size)
	if err := checkSysbenchPrepare(ctx, pair.src, *tables, *size); err != nil {
		return err
	}
	if err := checkPtSetup(ctx, pair); err != nil {
		return err
	}
	rows := int64(*tables) * int64(*size)
	var sl, pt, ratios, slCPU, ptCPU []float64
	runSluice := func(round int) error {
		cpu0 := pair.cpu()
		d, diffs, err := checkRunSluice(ctx, pair, *parallel, rows)
		if err != nil {
			return err
		}
		slCPU = append(slCPU, pair.cpu()-cpu0)
		fmt.Printf("round %d: sluice check        %7.2fs %9.0f rows/s  differences %d  (servers' CPU %.2fs)\n", round, d.Seconds(),
			float64(rows)/d.Seconds(), diffs, slCPU[len(slCPU)-1])
		if diffs != 0 {
			return fmt.Errorf("sluice check reports %d differences between equal copies", diffs)
		}
		sl = append(sl, d.Seconds())
		return nil
	}
	runPt := func(round int) error {
		cpu0 := pair.cpu()
		d, diffs, err := checkRunPt(ctx, pair)
		if err != nil {
			return err
		}
		ptCPU = append(ptCPU, pair.cpu()-cpu0)
		fmt.Printf("round %d: pt-table-checksum   %7.2fs %9.0f rows/s  differing chunks %d  (servers' CPU %.2fs)\n", round, d.Seconds(),
			float64(rows)/d.Seconds(), diffs, ptCPU[len(ptCPU)-1])
		if diffs != 0 {
			return fmt.Errorf("pt-table-checksum reports %d differing chunks between equal copies", diffs)
		}
		pt = append(pt, d.Seconds())
		return nil
	}
	for i := 1; i <= *rounds; i++ {
		first, second := runSluice, runPt
		if i%2 == 0 {
			first, second = runPt, runSluice
		}
		if err := first(i); err != nil {
			return err
		}
		if err := second(i); err != nil {
			return err
		}
		ratios = append(ratios, pt[len(pt)-1]/sl[len(sl)-1])
		fmt.Printf("round %d: ratio %.2fx\n", i, ratios[len(ratios)-1])
	}
	ms, mp := medianOf(sl), medianOf(pt)
	fmt.Printf("result: sluice %.0f rows/s, pt-table-checksum %.0f rows/s (medians of %d rounds); ratio of medians %.2fx, "+
		"median of round ratios %.2fx, lowest %.2fx; verdicts agree: equal\n",
		float64(rows)/ms, float64(rows)/mp, *rounds, mp/ms, medianOf(ratios), minOf(ratios))
	fmt.Printf("servers' CPU (median): sluice %.2fs, pt-table-checksum %.2fs\n", medianOf(slCPU), medianOf(ptCPU))
	return nil
}

func medianOf(v []float64) float64 {
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	m := 0.0
	for i, x := range v {
		if i == 0 || x < m {
			m = x
		}
	}
	return m
}

// checkPair is a source and its native replica.
type checkPair struct {
	src, rep *testdb.Server
}

func (p *checkPair) close() {
	if p.rep != nil {
		p.rep.Close()
	}
	if p.src != nil {
		p.src.Close()
	}
}

// cpu returns the CPU time both servers have used so far, in seconds, from
// /proc (0 where it cannot be read): what a tool cost the servers, whatever
// else the machine was doing.
func (p *checkPair) cpu() float64 {
	total := 0.0
	for _, s := range []*testdb.Server{p.src, p.rep} {
		b, err := os.ReadFile(filepath.Join(s.Dir, "mysqld.pid"))
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
		if err != nil {
			continue
		}
		// utime and stime are fields 14 and 15, counted after the command
		// name, which is in parentheses and may hold spaces.
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		total += (u + k) / float64(clockTicks)
	}
	return total
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on Linux.
const clockTicks = 100

func checkStartPair(ctx context.Context, ro testdb.ReplicaOptions) (*checkPair, error) {
	p := &checkPair{}
	var err error
	if p.src, err = testdb.New(ctx, testdb.Options{BufferPool: "1G"}); err != nil {
		return nil, err
	}
	if p.rep, err = testdb.New(ctx, testdb.Options{BufferPool: "1G"}); err != nil {
		p.close()
		return nil, err
	}
	if err := p.rep.ReplicateFrom(ctx, p.src, ro); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func checkSysbenchPrepare(ctx context.Context, s *testdb.Server, tables, size int) error {
	if err := s.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS sbtest"); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "sysbench", "oltp_write_only", "--db-driver=mysql", "--mysql-host=127.0.0.1",
		"--mysql-port="+strconv.Itoa(s.Port), "--mysql-user=root", "--mysql-db=sbtest",
		"--tables="+strconv.Itoa(tables), "--table-size="+strconv.Itoa(size), "prepare")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sysbench prepare: %w\n%s", err, out)
	}
	return nil
}

// checkPtSetup tells pt-table-checksum where the replica is (the dsn
// recursion method) and waits until the replica holds everything.
func checkPtSetup(ctx context.Context, p *checkPair) error {
	if err := p.src.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS percona",
		"CREATE TABLE IF NOT EXISTS percona.dsns (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT, dsn VARCHAR(255) NOT NULL)",
		fmt.Sprintf("INSERT INTO percona.dsns (dsn) VALUES ('h=127.0.0.1,P=%d,u=root')", p.rep.Port)); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return p.rep.WaitCaughtUp(wctx, p.src)
}

func checkConfigs(p *checkPair) (source.Config, source.Config, error) {
	s, err := source.Parse(p.src.URL())
	if err != nil {
		return s, s, err
	}
	t, err := source.Parse(p.rep.URL())
	return s, t, err
}

// checkRunSluice runs sluice check on the pair; it fails unless the check
// compared exactly rows rows, so that a check that skipped some cannot
// pass for a fast one.
func checkRunSluice(ctx context.Context, p *checkPair, parallel int, rows int64) (time.Duration, int, error) {
	s, t, err := checkConfigs(p)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	rep, err := check.Run(ctx, check.Options{Source: s, Target: t, Tables: []string{"sbtest.*"}, Parallel: parallel})
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if rep.ExitStatus() == 2 {
		rep.WriteText(os.Stderr)
		return 0, 0, fmt.Errorf("sluice check could not run")
	}
	n, m, e, df, _ := rep.Totals()
	if n != rows {
		return 0, 0, fmt.Errorf("sluice check compared %d rows, the copies hold %d", n, rows)
	}
	return d, m + e + df, nil
}

func checkRunPt(ctx context.Context, p *checkPair) (time.Duration, int, error) {
	dsn := fmt.Sprintf("h=127.0.0.1,P=%d,u=root", p.src.Port)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "pt-table-checksum", dsn, "--databases=sbtest", "--replicate=percona.checksums",
		"--recursion-method=dsn="+dsn+",D=percona,t=dsns", "--no-check-binlog-format")
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode()&^16 != 0) {
		return 0, 0, fmt.Errorf("pt-table-checksum: %w\n%s", err, out)
	}
	diffs, tables := 0, 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 9 && strings.HasPrefix(f[8], "sbtest.") {
			n, _ := strconv.Atoi(f[2])
			diffs += n
			tables++
		}
	}
	if tables == 0 {
		return 0, 0, fmt.Errorf("pt-table-checksum printed no table line:\n%s", out)
	}
	return d, diffs, nil
}
