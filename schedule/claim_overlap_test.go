package schedule

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/sluice-db/sluice/store"
)

// TestClaimOverlappingFiresLosesNone checks the rule the claim path rests
// on: a fire that ClaimFires leaves out is held by another claim. The
// scheduler never claims a fire again once it is left out (its cursor moves
// past it, and helpers skip what the owner published as claimed), so a fire
// left out with no row is lost for good. Nodes claim overlapping fires at
// once whenever their views differ for a moment (a node joins, one dies):
// here three of them claim random, overlapping sets of the same fires on
// MariaDB, and every fire must end with exactly one row, won by exactly one
// of them.
//
// This failed (hundreds of fires lost in a run) while the MySQL insert
// skipped duplicates with ON DUPLICATE KEY UPDATE id = id: assigning the
// AUTO_INCREMENT column in the update branch moves the statement's next id
// past the duplicate row's id, so later rows of the statement can be given
// the ids of other rows, and each such row then "updates" that other row
// (to itself) instead of being inserted.
func TestClaimOverlappingFiresLosesNone(t *testing.T) {
	dsn := metaDSN(t, store.MySQL)
	const nodes, jobs, seconds, rounds = 3, 100, 3, 60
	var sts []*store.Store
	for i := 0; i < nodes; i++ {
		sts = append(sts, openStore(t, dsn))
	}
	ctx := context.Background()
	rng := rand.New(rand.NewSource(1))
	base := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	type fire struct {
		job int64
		at  int64
	}
	var lost, lostRounds int
	var examples []string
	for round := 0; round < rounds; round++ {
		at := base.Add(time.Duration(round*seconds) * time.Second)
		want := map[fire]bool{}
		sets := make([][]store.Fire, nodes)
		for n := range sets {
			for j := int64(1); j <= jobs; j++ {
				for k := 0; k < seconds; k++ {
					if rng.Intn(3) == 0 {
						continue
					}
					ft := at.Add(time.Duration(k) * time.Second)
					sets[n] = append(sets[n], store.Fire{JobID: j, ScheduledTime: ft, Status: store.RunClaimed})
					want[fire{j, ft.Unix()}] = true
				}
			}
		}
		won := map[fire]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for n := range sets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs, err := sts[n].ClaimFires(ctx, fmt.Sprintf("node-%d", n), randomToken(), sets[n])
				if err != nil {
					t.Errorf("node %d: %v", n, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range runs {
					won[fire{r.JobID, r.ScheduledTime.Unix()}]++
				}
			}()
		}
		wg.Wait()
		rs, err := sts[0].RunsBetween(ctx, at, at.Add(seconds*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		have := map[fire]int{}
		for _, r := range rs {
			have[fire{r.JobID, r.ScheduledTime.Unix()}]++
		}
		n := 0
		for f := range want {
			switch {
			case have[f] == 0:
				n++
				if len(examples) < 10 {
					examples = append(examples, fmt.Sprintf("job %d at %s: left out by every claim, and no row", f.job, time.Unix(f.at, 0).UTC().Format(time.TimeOnly)))
				}
			case have[f] != 1 || won[f] != 1:
				t.Errorf("job %d at %s: %d rows, won by %d claims", f.job, time.Unix(f.at, 0).UTC().Format(time.TimeOnly), have[f], won[f])
			}
		}
		if n > 0 {
			lost += n
			lostRounds++
		}
	}
	if lost > 0 {
		t.Errorf("%d fires in %d of %d rounds were left out by every claim and have no row; e.g.\n%v", lost, lostRounds, rounds, examples)
	}
}
