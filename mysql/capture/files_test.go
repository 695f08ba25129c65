package capture

import (
	"context"
	"github.com/sluice-db/sluice/internal/fixtures"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-db/sluice/change"
)

var fixtureDir = fixtures.BinlogDir()

// Every fixture reads whole, with positions that grow, except the one
// truncated on purpose, which fails with its offset.
func TestReadFilesFixtures(t *testing.T) {
	var files []string
	filepath.Walk(fixtureDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		t.Fatalf("found %d fixtures in %s", len(files), fixtureDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var prev change.Position
			n := 0
			_, err := ReadFiles(context.Background(), []string{f}, FileConfig{Logger: testLogger(t)}, func(_ context.Context, tx *change.Txn) error {
				if tx.End.Compare(prev) < 0 || tx.End.File != filepath.Base(f) {
					t.Errorf("End %s after %s", tx.End, prev)
				}
				prev = tx.End
				n++
				return nil
			})
			if strings.Contains(f, "truncated") {
				if err == nil || !strings.Contains(err.Error(), "offset") {
					t.Errorf("truncated fixture: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 && !strings.Contains(f, "previous_GTID") { // that one holds no transaction
				t.Error("no transactions")
			}
			if fl, err := FileFlavor(f); err != nil || (fl == change.MariaDB) != strings.Contains(f, "mariadb") {
				t.Errorf("FileFlavor = %v, %v", fl, err)
			}
		})
	}
}

// Bad input makes an error, never a panic or a huge allocation.
func FuzzReadFiles(f *testing.F) {
	for _, name := range []string{"mariadb-10.5-bin.000001", "mysql/transaction_compression.000001", "mysql/binlog_transaction_with_GTID_TAG.000001"} {
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 8<<10 {
			b = b[:8<<10]
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "binlog.000001")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ReadFiles(context.Background(), []string{path}, FileConfig{FragmentRows: 3, MaxPayloadSize: 1 << 20}, func(context.Context, *change.Txn) error { return nil })
		FileFlavor(path)
	})
}
