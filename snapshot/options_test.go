package snapshot

import (
	"strings"
	"testing"
)

func TestOptionsFill(t *testing.T) {
	var o Options
	if err := o.Fill(); err != nil {
		t.Fatal(err)
	}
	if o.Workers != 4 || o.ChunkRows != 10000 || o.MaxChunkRows != 50000 || o.Method != MethodAuto || o.MaxPendingRows != 200000 {
		t.Fatalf("defaults %+v", o)
	}
	// A rows/s limit keeps each chunk to a quarter second of it.
	o = Options{MaxRowsPerSecond: 2000}
	if err := o.Fill(); err != nil {
		t.Fatal(err)
	}
	if o.MaxChunkRows != 500 || o.ChunkRows != 500 {
		t.Fatalf("with a limit of 2000 rows/s: chunk %d, max %d", o.ChunkRows, o.MaxChunkRows)
	}
	for _, bad := range []struct {
		o    Options
		want string
	}{
		{Options{Workers: 65}, "copy.workers"},
		{Options{Method: "lock"}, "copy.method"},
		{Options{MaxRowsPerSecond: -1}, "max_rows_per_second"},
	} {
		if err := bad.o.Fill(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: error %v, want one naming %s", bad.o, err, bad.want)
		}
	}
}
