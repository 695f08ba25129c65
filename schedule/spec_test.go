package schedule

import (
	"strings"
	"testing"
	"time"
)

// at parses "2006-01-02 15:04:05" in zone tz.
func at(t *testing.T, tz, s string) time.Time {
	t.Helper()
	loc, err := LoadZone(tz)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustParse(t *testing.T, spec, tz string) Schedule {
	t.Helper()
	s, err := Parse(spec, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", spec, tz, err)
	}
	return s
}

// fires lists NextN as RFC 3339 times in the zone, offsets included, so that
// a DST case shows which side of the change each fire is on.
func fires(t *testing.T, s Schedule, tz string, from time.Time, n int) []string {
	loc, _ := LoadZone(tz)
	var out []string
	for _, f := range NextN(s, from, n) {
		out = append(out, f.In(loc).Format(time.RFC3339))
	}
	return out
}

func TestNext(t *testing.T) {
	cases := []struct {
		name, spec, tz, from string
		want                 []string
	}{
		{"every 5 seconds", "*/5 * * * * *", "UTC", "2026-01-01 00:00:03",
			[]string{"2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z", "2026-01-01T00:00:15Z"}},
		{"five fields fire at second 0", "30 2 * * *", "UTC", "2026-01-01 02:30:00",
			[]string{"2026-01-02T02:30:00Z", "2026-01-03T02:30:00Z"}},
		{"weekdays by name", "0 0 9 * * MON-FRI", "UTC", "2026-01-02 10:00:00", // a Friday
			[]string{"2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"}},
		{"7 is Sunday", "0 0 12 * * 7", "UTC", "2026-01-01 00:00:00",
			[]string{"2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z"}},
		{"day 31 skips short months", "0 0 0 31 * *", "UTC", "2026-01-31 00:00:00",
			[]string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"}},
		{"L is the last day of each month", "0 0 0 L * *", "UTC", "2026-01-15 00:00:00",
			[]string{"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"}},
		{"L in a leap year", "0 0 0 L 2 *", "UTC", "2027-03-01 00:00:00",
			[]string{"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}},
		{"Feb 29 only in leap years, 2100 is not one", "0 0 0 29 2 *", "UTC", "2096-03-01 00:00:00",
			[]string{"2104-02-29T00:00:00Z"}},
		{"day-of-month or day-of-week", "0 0 0 1 * MON", "UTC", "2026-05-30 00:00:00",
			[]string{"2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z"}},
		{"hourly macro", "@hourly", "UTC", "2026-01-01 10:15:00",
			[]string{"2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z"}},
		{"ranges with steps", "0 10-20/5 8 * * *", "UTC", "2026-01-01 00:00:00",
			[]string{"2026-01-01T08:10:00Z", "2026-01-01T08:15:00Z", "2026-01-01T08:20:00Z", "2026-01-02T08:10:00Z"}},
		{"every is aligned to the epoch", "@every 1m30s", "UTC", "2026-01-01 00:00:10",
			[]string{"2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z"}},
		{"zone shifts the wall clock", "0 0 9 * * *", "Asia/Shanghai", "2026-01-01 00:00:00",
			[]string{"2026-01-01T09:00:00+08:00", "2026-01-02T09:00:00+08:00"}},

		// America/New_York springs forward at 2026-03-08 02:00 EST to 03:00
		// EDT: 02:00-02:59 do not exist.
		{"New York gap: a skipped time fires once at the end of the gap", "0 30 2 * * *", "America/New_York", "2026-03-07 03:00:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}},
		{"New York gap: every minute runs on across it", "0 * * * * *", "America/New_York", "2026-03-08 01:58:00",
			[]string{"2026-03-08T01:59:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:01:00-04:00"}},
		{"New York gap: two skipped times fire once together", "0 0,30 2 * * *", "America/New_York", "2026-03-08 01:00:00",
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}},
		// It falls back at 2026-11-01 02:00 EDT to 01:00 EST: 01:00-01:59
		// happen twice.
		{"New York overlap: a repeated time fires once, the first time", "0 30 1 * * *", "America/New_York", "2026-10-31 12:00:00",
			[]string{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}},
		{"New York overlap: hourly skips the repeated hour", "@hourly", "America/New_York", "2026-11-01 00:30:00",
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"}},
		// Europe/Berlin: forward at 2026-03-29 02:00 CET to 03:00 CEST, back
		// at 2026-10-25 03:00 CEST to 02:00 CET.
		{"Berlin gap", "0 15 2 * * *", "Europe/Berlin", "2026-03-28 12:00:00",
			[]string{"2026-03-29T03:00:00+02:00", "2026-03-30T02:15:00+02:00"}},
		{"Berlin overlap", "0 15 2 * * *", "Europe/Berlin", "2026-10-24 12:00:00",
			[]string{"2026-10-25T02:15:00+02:00", "2026-10-26T02:15:00+01:00"}},
		{"Berlin every 30 minutes across the fall-back", "0 */30 * * * *", "Europe/Berlin", "2026-10-25 01:45:00",
			[]string{"2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T03:00:00+01:00"}},
		{"@every ignores DST", "@every 30m", "America/New_York", "2026-03-08 01:10:00",
			[]string{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.spec, c.tz)
			got := fires(t, s, c.tz, at(t, c.tz, c.from), len(c.want))
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("%q in %s from %s:\n got %v\nwant %v", c.spec, c.tz, c.from, got, c.want)
			}
		})
	}
}

// TestNextFromInsideRepeatedHour starts in the second pass through a
// repeated hour (as a node restarted then would): times already fired in
// the first pass do not fire again.
func TestNextFromInsideRepeatedHour(t *testing.T) {
	s := mustParse(t, "0 */15 * * * *", "America/New_York")
	loc, _ := LoadZone("America/New_York")
	// 01:20 EST on 2026-11-01 is 06:20 UTC.
	from := time.Date(2026, 11, 1, 6, 20, 0, 0, time.UTC)
	got := fires(t, s, "America/New_York", from, 2)
	want := []string{"2026-11-01T02:00:00-05:00", "2026-11-01T02:15:00-05:00"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("from %s: got %v, want %v", from.In(loc), got, want)
	}
}

func TestOnce(t *testing.T) {
	s := mustParse(t, "@at 2026-03-08 02:30", "America/New_York")
	got := fires(t, s, "America/New_York", at(t, "UTC", "2026-01-01 00:00:00"), 3)
	// 02:30 does not exist that day: the end of the gap.
	if strings.Join(got, " ") != "2026-03-08T03:00:00-04:00" {
		t.Errorf("@at in a gap: got %v", got)
	}
	s = mustParse(t, "2026-05-01T10:00:00+02:00", "UTC")
	got = fires(t, s, "UTC", at(t, "UTC", "2026-01-01 00:00:00"), 3)
	if strings.Join(got, " ") != "2026-05-01T08:00:00Z" {
		t.Errorf("RFC 3339 one-off: got %v", got)
	}
	if n := s.Next(at(t, "UTC", "2026-05-01 08:00:00")); !n.IsZero() {
		t.Errorf("one-off after its time: got %v, want none", n)
	}
}

func TestNeverFires(t *testing.T) {
	s := mustParse(t, "0 0 0 30 2 *", "UTC")
	if n := s.Next(at(t, "UTC", "2026-01-01 00:00:00")); !n.IsZero() {
		t.Errorf("Feb 30: got %v, want no fire", n)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"":                        "empty",
		"* * * *":                 "want 5 fields",
		"61 * * * * *":            "out of range",
		"* * 24 * * *":            "out of range",
		"* * * 0 * *":             "out of range",
		"* * * * 13 *":            "out of range",
		"*/0 * * * * *":           "step",
		"5-1 * * * * *":           "backwards",
		"x * * * * *":             "not a number",
		"@every 0s":               "at least 1s",
		"@every soon":             "duration",
		"@at tomorrow":            "want 2006-01-02",
		"@weekdays":               "unknown macro",
		"1,,2 * * * * *":          "empty list item",
		"* * * L * *":             "", // L in day-of-month is fine
		"0 0 0 * * MON,WED,FRI":   "",
		"0 0 0 ? * SUN":           "",
		"0 0 0 1 JAN-MAR/2 *":     "",
		"@every 1h":               "",
		"@at 2026-01-01T00:00:00": "",
	}
	for spec, want := range cases {
		_, err := Parse(spec, "UTC")
		switch {
		case want == "" && err != nil:
			t.Errorf("Parse(%q): unexpected error %v", spec, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("Parse(%q): error %v, want one containing %q", spec, err, want)
		}
	}
	if _, err := Parse("* * * * *", "Mars/Olympus"); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("bad zone: error %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/5 * * * * *", "0 0 L * *", "@every 1s", "@at 2026-01-01 00:00", "1-5/2 * * * 1-5", "0 0 0 29 2 *"} {
		f.Add(s, "America/New_York")
	}
	f.Fuzz(func(t *testing.T, spec, tz string) {
		s, err := Parse(spec, tz)
		if err != nil {
			return
		}
		from := time.Date(2026, 3, 8, 6, 0, 0, 0, time.UTC)
		prev := from
		for _, n := range NextN(s, from, 5) {
			if !n.After(prev) {
				t.Fatalf("%q: fire %v not after %v", spec, n, prev)
			}
			prev = n
		}
	})
}
