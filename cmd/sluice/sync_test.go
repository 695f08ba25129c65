package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
)

// buildSluice builds the binary once for the tests that run it as a
// process.
var buildSluice = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// TestSyncExactlyOnceUnderKill9 kills `sluice sync` with SIGKILL at random
// moments while a writer keeps the source busy, restarts it each time, and
// checks that the target ends exactly equal to the source with no change
// lost and none applied twice. The target's ledger table has a trigger that
// records every update of a row: the source only ever inserts into it, so
// any update on the target is an insert applied a second time.
func TestSyncExactlyOnceUnderKill9(t *testing.T) {
	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{NoBinlog: true})
	schema := []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(64))",
		"CREATE TABLE shop.ledger (id BIGINT PRIMARY KEY, account INT NOT NULL, amount INT NOT NULL)",
	}
	src.Exec(t, schema...)
	tgt.Exec(t, schema...)
	tgt.Exec(t,
		"CREATE TABLE shop.dups (id BIGINT NOT NULL)",
		"CREATE TRIGGER shop.ledger_twice BEFORE UPDATE ON shop.ledger FOR EACH ROW INSERT INTO shop.dups VALUES (OLD.id)")
	for i := 1; i <= 100; i++ {
		src.Exec(t, fmt.Sprintf("INSERT INTO shop.accounts VALUES (%d, 1000, 'start')", i))
	}

	// The writer moves money between accounts and records each move in the
	// ledger, in one transaction, until told to stop.
	stop := make(chan struct{})
	writerDone := make(chan int64)
	go func() {
		db := src.DB(t, "")
		rng := rand.New(rand.NewPCG(1, 1))
		var n int64
		for {
			select {
			case <-stop:
				writerDone <- n
				return
			default:
			}
			a, b := 1+rng.IntN(100), 1+rng.IntN(100)
			amt := 1 + rng.IntN(50)
			tx, err := db.Begin()
			if err != nil {
				continue
			}
			_, err1 := tx.Exec("UPDATE shop.accounts SET balance = balance - ?, note = ? WHERE id = ?", amt, "out "+strconv.Itoa(int(n)), a)
			_, err2 := tx.Exec("UPDATE shop.accounts SET balance = balance + ? WHERE id = ?", amt, b)
			_, err3 := tx.Exec("INSERT INTO shop.ledger VALUES (?, ?, ?)", n+1, a, amt)
			if err1 != nil || err2 != nil || err3 != nil {
				tx.Rollback()
				continue
			}
			if tx.Commit() == nil {
				n++
			}
			if n%500 == 0 {
				// Now and then a large transaction, split into fragments.
				db.Exec("UPDATE shop.accounts SET note = CONCAT('bulk ', ?)", n)
			}
		}
	}()

	logDir := t.TempDir()
	start := func(i int) *exec.Cmd {
		cmd := exec.Command(bin, "sync", "--name", "kill9", "--source", src.URL(), "--target", tgt.URL(),
			"--tables", "shop.accounts,shop.ledger", "--from", "start", "--ddl", "skip", "--exit-on-pause", "--progress", "0")
		f, err := os.Create(filepath.Join(logDir, fmt.Sprintf("run%02d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(2, 2))
	const kills = 22
	for i := 0; i < kills; i++ {
		cmd := start(i)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill run %d: %v", i, err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			b, _ := os.ReadFile(filepath.Join(logDir, fmt.Sprintf("run%02d.log", i)))
			t.Fatalf("run %d ended by itself before the kill (%v):\n%s", i, err, b)
		}
	}
	close(stop)
	written := <-writerDone
	if written < 200 {
		t.Fatalf("the writer committed only %d transactions", written)
	}
	final := start(kills)
	defer func() {
		final.Process.Signal(syscall.SIGTERM)
		final.Wait()
	}()
	testdb.WaitSameData(t, src, tgt, 3*time.Minute, "shop.accounts", "shop.ledger")
	if n := tgt.QueryString(t, "SELECT COUNT(*) FROM shop.ledger"); n != strconv.FormatInt(written, 10) {
		t.Fatalf("target ledger has %s rows, the writer committed %d", n, written)
	}
	if n := tgt.QueryString(t, "SELECT COUNT(*) FROM shop.dups"); n != "0" {
		t.Fatalf("%s ledger rows were applied twice", n)
	}
	if sum := tgt.QueryString(t, "SELECT SUM(balance) FROM shop.accounts"); sum != "100000" {
		t.Fatalf("money is not conserved on the target: %s", sum)
	}
	t.Logf("%d kills, %d writer transactions, target equal to source", kills, written)
}
