package testdb

import (
	"context"
	"testing"
	"time"
)

func TestReplicaFollowsSourceByGTIDAndByFilePos(t *testing.T) {
	for _, filePos := range []bool{false, true} {
		src := Start(t, Options{})
		rep := Start(t, Options{})
		src.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "INSERT INTO d.t VALUES (1),(2),(3)")
		rep.Replicate(t, src, ReplicaOptions{FilePos: filePos})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rep.WaitCaughtUp(ctx, src); err != nil {
			t.Fatal(err)
		}
		if got := rep.QueryString(t, "SELECT COUNT(*) FROM d.t"); got != "3" {
			t.Fatalf("file/pos=%v: replica has %s rows, want 3", filePos, got)
		}
		st, err := rep.ReplicaStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantGTID := "Slave_Pos"
		if filePos {
			wantGTID = "No"
		}
		if st["Using_Gtid"] != wantGTID || st["Slave_SQL_Running"] != "Yes" {
			t.Fatalf("file/pos=%v: Using_Gtid=%q Slave_SQL_Running=%q", filePos, st["Using_Gtid"], st["Slave_SQL_Running"])
		}
	}
}

func TestReplicaPausedSQLThreadLagsUntilResumed(t *testing.T) {
	src := Start(t, Options{})
	rep := Start(t, Options{})
	src.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")
	rep.Replicate(t, src, ReplicaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rep.WaitCaughtUp(ctx, src); err != nil {
		t.Fatal(err)
	}
	if err := rep.StopReplicaSQLThread(ctx); err != nil {
		t.Fatal(err)
	}
	src.Exec(t, "INSERT INTO d.t VALUES (1)")
	if got := rep.QueryString(t, "SELECT COUNT(*) FROM d.t"); got != "0" {
		t.Fatalf("paused replica applied a row: count %s", got)
	}
	if err := rep.StartReplicaSQLThread(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitCaughtUp(ctx, src); err != nil {
		t.Fatal(err)
	}
	if got := rep.QueryString(t, "SELECT COUNT(*) FROM d.t"); got != "1" {
		t.Fatalf("resumed replica has %s rows, want 1", got)
	}
}

func TestWaitCaughtUpReportsReplicationError(t *testing.T) {
	src := Start(t, Options{})
	rep := Start(t, Options{})
	src.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v INT)", "INSERT INTO d.t VALUES (1, 1)")
	rep.Replicate(t, src, ReplicaOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := rep.WaitCaughtUp(ctx, src); err != nil {
		t.Fatal(err)
	}
	rep.Exec(t, "SET sql_log_bin = 0", "DELETE FROM d.t")
	src.Exec(t, "UPDATE d.t SET v = 2")
	if err := rep.WaitCaughtUp(ctx, src); err == nil {
		t.Fatal("WaitCaughtUp succeeded although the replica cannot apply the update")
	}
}
