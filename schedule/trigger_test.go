package schedule

import (
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the trigger tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

func hhmmss(ts []time.Time, loc *time.Location) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.In(loc).Format("15:04:05Z07:00"))
	}
	return strings.Join(out, " ")
}

func runTimes(fs []Fire, loc *time.Location) string {
	var out []string
	for _, f := range fs {
		s := f.At.In(loc).Format("15:04:05Z07:00")
		if f.Misfire {
			s += "!"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// TestPlanSteady drives an every-second job with a fake clock, claiming 500ms
// ahead as a node does: every fire is planned once, none is late.
func TestPlanSteady(t *testing.T) {
	s := mustParse(t, "* * * * * *", "UTC")
	p := Policy{Misfire: MisfireSkip, Threshold: 5 * time.Second}
	clock := &fakeClock{now: at(t, "UTC", "2026-01-01 00:00:00").Add(100 * time.Millisecond)}
	cursor := clock.now
	seen := map[time.Time]int{}
	for i := 0; i < 100; i++ {
		d := Plan(s, p, cursor, clock.now, clock.now.Add(500*time.Millisecond))
		if len(d.Missed) > 0 {
			t.Fatalf("step %d: missed %v", i, d.Missed)
		}
		for _, f := range d.Run {
			if f.Misfire {
				t.Fatalf("step %d: misfire %v", i, f.At)
			}
			seen[f.At]++
		}
		cursor = d.Cursor
		clock.advance(130 * time.Millisecond)
	}
	start := at(t, "UTC", "2026-01-01 00:00:01")
	end := clock.now.Add(500 * time.Millisecond).Truncate(time.Second)
	for f := start; !f.After(end); f = f.Add(time.Second) {
		if seen[f] != 1 {
			t.Errorf("fire %s planned %d times, want once", f.Format(time.TimeOnly), seen[f])
		}
	}
}

// TestPlanAfterDowntime: every node was down from 00:00:00 to 00:01:00 for an
// every-10-seconds job; each policy decides the missed fires differently.
func TestPlanAfterDowntime(t *testing.T) {
	s := mustParse(t, "*/10 * * * * *", "UTC")
	cursor := at(t, "UTC", "2026-01-01 00:00:00")
	now := at(t, "UTC", "2026-01-01 00:01:00").Add(300 * time.Millisecond)
	horizon := now.Add(500 * time.Millisecond)
	cases := []struct {
		policy     Policy
		run        string
		missed     string
		wantCursor string
	}{
		{Policy{Misfire: MisfireSkip, Threshold: 5 * time.Second},
			"00:01:00Z", "00:00:10Z 00:00:20Z 00:00:30Z 00:00:40Z 00:00:50Z", "00:01:00"},
		{Policy{Misfire: MisfireFireOnce, Threshold: 5 * time.Second},
			"00:00:50Z! 00:01:00Z", "00:00:10Z 00:00:20Z 00:00:30Z 00:00:40Z", "00:01:00"},
		{Policy{Misfire: MisfireCatchUp, CatchUp: 3, Threshold: 5 * time.Second},
			"00:00:30Z! 00:00:40Z! 00:00:50Z! 00:01:00Z", "00:00:10Z 00:00:20Z", "00:01:00"},
		{Policy{Misfire: MisfireCatchUp, CatchUp: 100, Threshold: 5 * time.Second},
			"00:00:10Z! 00:00:20Z! 00:00:30Z! 00:00:40Z! 00:00:50Z! 00:01:00Z", "", "00:01:00"},
		// A threshold longer than the downtime: nothing is late, all run
		// as ordinary fires.
		{Policy{Misfire: MisfireSkip, Threshold: 2 * time.Minute},
			"00:00:10Z 00:00:20Z 00:00:30Z 00:00:40Z 00:00:50Z 00:01:00Z", "", "00:01:00"},
		// The fire at 00:01:00 is 300ms late, within every threshold here: an
		// ordinary fire. Threshold 30s: the fires at :40 and later are within
		// it too.
		{Policy{Misfire: MisfireFireOnce, Threshold: 30 * time.Second},
			"00:00:30Z! 00:00:40Z 00:00:50Z 00:01:00Z", "00:00:10Z 00:00:20Z", "00:01:00"},
	}
	for _, c := range cases {
		name := string(c.policy.Misfire) + "/" + c.policy.Threshold.String()
		t.Run(name, func(t *testing.T) {
			d := Plan(s, c.policy, cursor, now, horizon)
			if got := runTimes(d.Run, time.UTC); got != c.run {
				t.Errorf("run: got %q, want %q", got, c.run)
			}
			if got := hhmmss(d.Missed, time.UTC); got != c.missed {
				t.Errorf("missed: got %q, want %q", got, c.missed)
			}
			if d.Omitted {
				t.Errorf("omitted: got true, want false")
			}
			if got := d.Cursor.Format(time.TimeOnly); got != c.wantCursor {
				t.Errorf("cursor: got %s, want %s", got, c.wantCursor)
			}
		})
	}
}

// TestPlanLongDowntime: a week of downtime of an every-second job does not
// enumerate 604,800 fires; the latest are listed and the rest summarised.
func TestPlanLongDowntime(t *testing.T) {
	s := mustParse(t, "* * * * * *", "UTC")
	cursor := at(t, "UTC", "2026-01-01 00:00:00")
	now := cursor.Add(7 * 24 * time.Hour)
	d := Plan(s, Policy{Misfire: MisfireFireOnce, Threshold: time.Second}, cursor, now, now.Add(500*time.Millisecond))
	if !d.Omitted {
		t.Errorf("omitted: got false, want true")
	}
	if len(d.Missed) != maxMissedListed {
		t.Errorf("missed listed: got %d, want %d", len(d.Missed), maxMissedListed)
	}
	if len(d.Run) == 0 || !d.Run[0].Misfire || !d.Run[0].At.Equal(now.Add(-2*time.Second)) {
		t.Fatalf("first run: got %+v, want the last late fire %v", d.Run, now.Add(-2*time.Second))
	}
	if !d.Missed[len(d.Missed)-1].Equal(now.Add(-3 * time.Second)) {
		t.Errorf("latest missed: got %v, want %v", d.Missed[len(d.Missed)-1], now.Add(-3*time.Second))
	}
	// Then the fires within the threshold and the horizon: now-1s, now.
	if got := len(d.Run); got != 3 {
		t.Errorf("runs: got %d (%s), want 3", got, runTimes(d.Run, time.UTC))
	}
}

// TestPlanAcrossDST plans a daily 02:30 New York job across both DST changes
// with a fake clock that advances a minute at a time, claiming 500ms ahead.
func TestPlanAcrossDST(t *testing.T) {
	loc, _ := LoadZone("America/New_York")
	for _, c := range []struct {
		name, spec, from string
		hours            int
		want             string
	}{
		{"spring forward: the skipped 02:30 fires once at 03:00 EDT", "0 30 2 * * *", "2026-03-07 12:00:00", 48,
			"03:00:00-04:00 02:30:00-04:00"},
		{"fall back: the repeated 01:30 fires once", "0 30 1 * * *", "2026-10-31 12:00:00", 48,
			"01:30:00-04:00 01:30:00-05:00"},
		{"fall back: every 20 minutes skips the repeated hour", "0 */20 0-2 1 11 *", "2026-11-01 00:30:00", 4,
			"00:40:00-04:00 01:00:00-04:00 01:20:00-04:00 01:40:00-04:00 02:00:00-05:00 02:20:00-05:00 02:40:00-05:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, "America/New_York")
			p := Policy{Misfire: MisfireFireOnce, Threshold: 5 * time.Second}
			clock := &fakeClock{now: at(t, "America/New_York", c.from)}
			cursor := clock.now
			var got []time.Time
			for end := clock.now.Add(time.Duration(c.hours) * time.Hour); clock.now.Before(end); clock.advance(time.Minute) {
				d := Plan(s, p, cursor, clock.now, clock.now.Add(500*time.Millisecond))
				for _, f := range d.Run {
					if f.Misfire {
						t.Errorf("misfire at %v", f.At)
					}
					got = append(got, f.At)
				}
				cursor = d.Cursor
			}
			if g := hhmmss(got, loc); g != c.want {
				t.Errorf("fires:\n got %s\nwant %s", g, c.want)
			}
		})
	}
}

func TestSettleLate(t *testing.T) {
	base := at(t, "UTC", "2026-01-01 00:00:00")
	fires := []time.Time{base, base.Add(time.Second), base.Add(2 * time.Second), base.Add(9 * time.Second)}
	now := base.Add(10 * time.Second)
	for _, c := range []struct {
		p           Policy
		run, missed string
	}{
		{Policy{Misfire: MisfireSkip, Threshold: 5 * time.Second}, "00:00:09Z", "00:00:00Z 00:00:01Z 00:00:02Z"},
		{Policy{Misfire: MisfireFireOnce, Threshold: 5 * time.Second}, "00:00:02Z! 00:00:09Z", "00:00:00Z 00:00:01Z"},
		{Policy{Misfire: MisfireCatchUp, CatchUp: 2, Threshold: 5 * time.Second}, "00:00:01Z! 00:00:02Z! 00:00:09Z", "00:00:00Z"},
		{Policy{Misfire: MisfireSkip, Threshold: time.Minute}, "00:00:00Z 00:00:01Z 00:00:02Z 00:00:09Z", ""},
	} {
		run, missed := SettleLate(c.p, fires, now)
		if g := runTimes(run, time.UTC); g != c.run {
			t.Errorf("%s/%s run: got %q, want %q", c.p.Misfire, c.p.Threshold, g, c.run)
		}
		if g := hhmmss(missed, time.UTC); g != c.missed {
			t.Errorf("%s/%s missed: got %q, want %q", c.p.Misfire, c.p.Threshold, g, c.missed)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := Backoff(time.Second, i+1); got != w {
			t.Errorf("Backoff(1s, %d) = %s, want %s", i+1, got, w)
		}
	}
	if got := Backoff(time.Minute, 40); got != time.Hour {
		t.Errorf("Backoff caps at an hour, got %s", got)
	}
}

func TestDecideOverlap(t *testing.T) {
	cases := []struct {
		p               OverlapPolicy
		running, queued int
		want            OverlapAction
	}{
		{OverlapAllow, 0, 0, OverlapStart},
		{OverlapAllow, 3, 0, OverlapStart},
		{OverlapForbid, 0, 0, OverlapStart},
		{OverlapForbid, 1, 0, OverlapSkip},
		{OverlapReplace, 1, 0, OverlapCancelOthers},
		{OverlapQueue, 1, 0, OverlapWait},
		{OverlapQueue, 1, 1, OverlapSkip},
		{OverlapQueue, 0, 0, OverlapStart},
	}
	for _, c := range cases {
		if got := DecideOverlap(c.p, c.running, c.queued); got != c.want {
			t.Errorf("DecideOverlap(%s, %d running, %d queued) = %d, want %d", c.p, c.running, c.queued, got, c.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{Misfire: "later"}, {Misfire: MisfireCatchUp}, {Misfire: MisfireCatchUp, CatchUp: 1000}, {Misfire: MisfireSkip, Threshold: -time.Second}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: want an error", p)
		}
	}
	if err := ValidOverlap("sometimes"); err == nil {
		t.Error("overlap sometimes: want an error")
	}
}
