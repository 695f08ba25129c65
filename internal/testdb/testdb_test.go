package testdb

import (
	"context"
	"testing"
)

func TestStartConfiguresBinlog(t *testing.T) {
	s := Start(t, Options{RowMetadata: "MINIMAL", GTIDDomainID: 3})
	checks := map[string]string{
		"SELECT @@binlog_format":       "ROW",
		"SELECT @@binlog_row_image":    "FULL",
		"SELECT @@binlog_row_metadata": "MINIMAL",
		"SELECT @@log_bin":             "1",
		"SELECT @@gtid_domain_id":      "3",
		"SELECT @@bind_address":        "127.0.0.1",
		"SELECT @@binlog_checksum":     "CRC32",
	}
	for q, want := range checks {
		if got := s.QueryString(t, q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	if got := s.QueryString(t, "SELECT @@server_id"); got == "0" {
		t.Errorf("server_id must be set, got %s", got)
	}
}

func TestRestartKeepsData(t *testing.T) {
	s := Start(t, Options{})
	s.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)", "INSERT INTO d.t VALUES (1),(2)")
	if err := s.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.QueryString(t, "SELECT COUNT(*) FROM d.t"); got != "2" {
		t.Fatalf("after restart count = %s, want 2", got)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("killed server still running")
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.QueryString(t, "SELECT COUNT(*) FROM d.t"); got != "2" {
		t.Fatalf("after crash recovery count = %s, want 2", got)
	}
}

func TestServersAreIndependent(t *testing.T) {
	a := Start(t, Options{})
	b := Start(t, Options{NoBinlog: true})
	if a.Port == b.Port || a.ServerID == b.ServerID {
		t.Fatalf("two servers share port or server id: %d/%d %d/%d", a.Port, b.Port, a.ServerID, b.ServerID)
	}
	if got := b.QueryString(t, "SELECT @@log_bin"); got != "0" {
		t.Fatalf("NoBinlog server has log_bin=%s", got)
	}
}
