package schedule

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

type nopKind struct{ n atomic.Int64 }

func (k *nopKind) Validate(json.RawMessage) error { return nil }
func (k *nopKind) Run(context.Context, RunInfo, json.RawMessage, io.Writer) error {
	k.n.Add(1)
	return nil
}

// BenchmarkStartBurst measures the start path of a burst of fires due at
// one instant, as the starter runs it: a goroutine per run, the run
// registered, the kind called, the outcome queued for the writer. It is
// the CPU a fire costs between its instant and its start (ns/op is per
// run).
func BenchmarkStartBurst(b *testing.B) {
	st := openStore(b, metaDSN(b, store.SQLite))
	kind := &nopKind{}
	s, err := New(st, Options{Kinds: Kinds{"nop": kind}, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	j := job("nop", "* * * * * *", "nop", nil)
	j.ID = 1
	c, err := Compile(j, s.kinds)
	if err != nil {
		b.Fatal(err)
	}
	s.claims.defs.Store(int64(1), &c)
	s.leaseUntil.Store(int64(time.Hour))
	const burst = 5000
	items := make([]startItem, burst)
	b.ResetTimer()
	for done := 0; done < b.N; done += burst {
		n := min(burst, b.N-done)
		now := time.Now()
		for i := range items[:n] {
			items[i] = startItem{run: store.Run{ID: int64(done + i + 1), JobID: 1, ScheduledTime: now}, at: now, attempt: 1}
		}
		s.starts.wg.Add(n)
		s.starts.burst.Add(int64(n))
		for i := range items[:n] {
			go s.execute(&items[i], now)
		}
		s.starts.wg.Wait()
		b.StopTimer()
		for i := range s.writer.shards {
			s.writer.shards[i].ups = s.writer.shards[i].ups[:0]
		}
		b.StartTimer()
	}
}
