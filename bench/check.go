package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
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
// the ratio and both verdicts, which must agree.
func benchCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	tables := fs.Int("tables", 4, "sysbench tables")
	size := fs.Int("table-size", 250000, "rows per table")
	rounds := fs.Int("rounds", 3, "runs of each tool, alternating")
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
	var best [2]time.Duration
	for i := 0; i < *rounds; i++ {
		d, diffs, err := checkRunSluice(ctx, pair)
		if err != nil {
			return err
		}
		fmt.Printf("round %d: sluice check        %7.2fs %9.0f rows/s  differences %d\n", i+1, d.Seconds(), float64(rows)/d.Seconds(), diffs)
		if diffs != 0 {
			return fmt.Errorf("sluice check reports %d differences between equal copies", diffs)
		}
		pd, pdiffs, err := checkRunPt(ctx, pair)
		if err != nil {
			return err
		}
		fmt.Printf("round %d: pt-table-checksum %7.2fs %9.0f rows/s  differing chunks %d\n", i+1, pd.Seconds(), float64(rows)/pd.Seconds(), pdiffs)
		if pdiffs != 0 {
			return fmt.Errorf("pt-table-checksum reports %d differing chunks between equal copies", pdiffs)
		}
		if best[0] == 0 || d < best[0] {
			best[0] = d
		}
		if best[1] == 0 || pd < best[1] {
			best[1] = pd
		}
	}
	fmt.Printf("result: sluice %.0f rows/s, pt-table-checksum %.0f rows/s, ratio %.2fx (best of %d each); verdicts agree: equal\n",
		float64(rows)/best[0].Seconds(), float64(rows)/best[1].Seconds(), best[1].Seconds()/best[0].Seconds(), *rounds)
	return nil
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

func checkRunSluice(ctx context.Context, p *checkPair) (time.Duration, int, error) {
	s, t, err := checkConfigs(p)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	rep, err := check.Run(ctx, check.Options{Source: s, Target: t, Tables: []string{"sbtest.*"}})
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if rep.ExitStatus() == 2 {
		rep.WriteText(os.Stderr)
		return 0, 0, fmt.Errorf("sluice check could not run")
	}
	_, m, e, df, _ := rep.Totals()
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
