package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// TestSyncCopyResumesAfterKill9 kills `sluice sync` with SIGKILL twice in
// the middle of its initial copy, while a writer changes the table. Each
// restart resumes after the chunks the killed run committed (its log says
// how many rows it found done), and the last run, --snapshot=only, ends by
// itself with the target equal to the source.
func TestSyncCopyResumesAfterKill9(t *testing.T) {
	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{NoBinlog: true})
	src.Exec(t, "CREATE DATABASE shop", "CREATE DATABASE seq",
		"CREATE TABLE shop.items (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, qty INT NOT NULL, KEY (qty))",
		"INSERT INTO shop.items SELECT seq, CONCAT('item ', seq), seq % 100 FROM seq.seq_1_to_60000")
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		db, err := src.Open("shop")
		if err != nil {
			writerDone <- err
			return
		}
		defer db.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			id := 1 + (i*7919)%60000
			var q string
			switch i % 3 {
			case 0:
				q = fmt.Sprintf("UPDATE items SET qty = qty + 1 WHERE id = %d", id)
			case 1:
				q = fmt.Sprintf("DELETE FROM items WHERE id = %d", id)
			default:
				q = fmt.Sprintf("INSERT INTO items VALUES (%d, 'new', 1) ON DUPLICATE KEY UPDATE name = 'again'", 100000+i)
			}
			if _, err := db.Exec(q); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	logDir := t.TempDir()
	run := func(i int, args ...string) (*exec.Cmd, string) {
		args = append([]string{"sync", "--name", "copykill", "--source", src.URL(), "--target", tgt.URL(),
			"--tables", "shop.*", "--progress", "0", "--exit-on-pause", "--copy-workers", "2"}, args...)
		cmd := exec.Command(bin, args...)
		log := filepath.Join(logDir, fmt.Sprintf("run%d.log", i))
		f, err := os.Create(log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, log
	}
	committed := func() int {
		if tgt.QueryString(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'sluice' AND TABLE_NAME = 'snapshot_chunk'") == "0" {
			return 0
		}
		// The rows of chunks 1..n with no gap: what a restart keeps.
		list := tgt.QueryString(t, "SELECT IFNULL(GROUP_CONCAT(seq, ':', `rows` ORDER BY seq), '') FROM sluice.snapshot_chunk WHERE pipeline = 'copykill'")
		n := 0
		for i, c := range strings.Split(list, ",") {
			seq, rows, _ := strings.Cut(c, ":")
			if seq != strconv.Itoa(i+1) {
				break
			}
			r, _ := strconv.Atoi(rows)
			n += r
		}
		return n
	}
	resumed := regexp.MustCompile(`initial copy resumes.*rows_done=(\d+)`)
	for i, atLeast := range []int{8000, 25000} {
		cmd, log := run(i, "--copy-rate", "8000")
		deadline := time.Now().Add(90 * time.Second)
		for committed() < atLeast {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(log)
				t.Fatalf("run %d: %d rows committed after 90s:\n%s", i, committed(), b)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if i > 0 {
			b, _ := os.ReadFile(log)
			if m := resumed.FindSubmatch(b); m == nil || string(m[1]) == "0" {
				t.Fatalf("run %d did not resume after the chunks run %d committed:\n%s", i, i-1, b)
			}
		}
	}
	before := committed()
	cmd, log := run(2, "--snapshot", "only")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		b, _ := os.ReadFile(log)
		if err != nil {
			t.Fatalf("the last run failed: %v\n%s", err, b)
		}
		m := resumed.FindSubmatch(b)
		if m == nil {
			t.Fatalf("the last run did not resume:\n%s", b)
		}
		if n, _ := strconv.Atoi(string(m[1])); n == 0 || n > before {
			t.Fatalf("the last run resumed with %d rows done; %d were committed", n, before)
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		b, _ := os.ReadFile(log)
		t.Fatalf("--snapshot=only did not end:\n%s", b)
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	// The copy is complete; a plain run follows the changes made since.
	cmd, _ = run(3)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	testdb.WaitSameData(t, src, tgt, 2*time.Minute, "shop.items")
}
