package schedule

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule says when a job fires. Next is pure: no clock, no I/O, and every
// node computes the same times, which is what lets the database key a fire
// by (job, scheduled time).
type Schedule interface {
	// Next returns the first fire strictly after t, or the zero time when
	// there is none (a one-off time in the past, a date that never comes).
	Next(t time.Time) time.Time
}

// Parse reads a schedule spec in the zone named tz ("" is UTC):
//
//	"*/5 * * * * *"         6 fields: second minute hour day-of-month month day-of-week
//	"30 2 * * 1-5"          5 fields: minute hour day-of-month month day-of-week
//	"@hourly" "@daily" "@midnight" "@weekly" "@monthly" "@yearly" "@annually"
//	"@every 1m30s"          a fixed interval, aligned to the Unix epoch
//	"@at 2026-03-08 02:30"  one fire, at a local time (also "@at <RFC 3339>")
//	"2026-03-08T02:30:00Z"  the same, written as a bare RFC 3339 time
//
// Day-of-month accepts L for the month's last day; months and weekdays
// accept JAN-DEC and SUN-SAT; 7 is Sunday too; ? is *. When both
// day-of-month and day-of-week are restricted, a day matching either fires
// (as in Vixie cron).
//
// Daylight saving time, for cron specs and @at: a local time that does not
// exist (skipped when clocks go forward) fires once, at the first instant
// after the gap; a local time that happens twice (clocks go back) fires once,
// at its first occurrence. So in America/New_York `30 2 * * *` fires at
// 03:00 EDT on the spring-forward day, `30 1 * * *` fires once (at 01:30
// EDT) on the fall-back day, and an every-second spec is silent for the
// repeated hour. @every counts real elapsed time and has no DST effects.
func Parse(spec, tz string) (Schedule, error) {
	loc, err := LoadZone(tz)
	if err != nil {
		return nil, err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("schedule is empty")
	}
	if strings.HasPrefix(spec, "@") {
		name, arg, _ := strings.Cut(spec, " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToLower(name) {
		case "@yearly", "@annually":
			return parseCron("0 0 0 1 1 *", loc)
		case "@monthly":
			return parseCron("0 0 0 1 * *", loc)
		case "@weekly":
			return parseCron("0 0 0 * * 0", loc)
		case "@daily", "@midnight":
			return parseCron("0 0 0 * * *", loc)
		case "@hourly":
			return parseCron("0 0 * * * *", loc)
		case "@minutely":
			return parseCron("0 * * * * *", loc)
		case "@every":
			d, err := time.ParseDuration(arg)
			if err != nil {
				return nil, fmt.Errorf("schedule %q: @every wants a duration like 10s or 1h30m: %w", spec, err)
			}
			if d < time.Second {
				return nil, fmt.Errorf("schedule %q: @every must be at least 1s", spec)
			}
			if d%time.Microsecond != 0 {
				return nil, fmt.Errorf("schedule %q: @every must be a whole number of microseconds", spec)
			}
			return Every{Interval: d}, nil
		case "@at":
			return parseOnce(arg, loc)
		}
		return nil, fmt.Errorf("schedule %q: unknown macro %s", spec, name)
	}
	if t, err := time.Parse(time.RFC3339Nano, spec); err == nil {
		return Once{At: t.UTC()}, nil
	}
	s, err := parseCron(spec, loc)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// LoadZone loads an IANA time zone; "" and "UTC" are UTC.
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", tz, err)
	}
	return loc, nil
}

// Every fires at every multiple of Interval since the Unix epoch, so that
// all nodes agree on the times whenever they start.
type Every struct {
	Interval time.Duration
}

// Next implements Schedule.
func (e Every) Next(t time.Time) time.Time {
	d := e.Interval.Microseconds()
	us := t.UnixMicro()
	n := us/d + 1
	if us < 0 && us%d != 0 {
		n = us / d
	}
	return time.UnixMicro(n * d).UTC()
}

// Once fires once, at At.
type Once struct {
	At time.Time
}

// Next implements Schedule.
func (o Once) Next(t time.Time) time.Time {
	if t.Before(o.At) {
		return o.At
	}
	return time.Time{}
}

func parseOnce(arg string, loc *time.Location) (Schedule, error) {
	if t, err := time.Parse(time.RFC3339Nano, arg); err == nil {
		return Once{At: t.UTC()}, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04"} {
		c, err := time.ParseInLocation(layout, arg, time.UTC)
		if err != nil {
			continue
		}
		at, _ := resolve(civilOf(c), loc)
		return Once{At: at}, nil
	}
	return nil, fmt.Errorf("schedule @at %q: want 2006-01-02 15:04[:05] (in the job's zone) or an RFC 3339 time", arg)
}

// Cron is a parsed cron spec in a time zone. Each field is a bit set of the
// values it allows.
type Cron struct {
	second, minute, hour, dom, month, dow uint64
	// lastDOM: the day-of-month field includes L, the month's last day.
	lastDOM bool
	// domStar, dowStar: the field was * or ?, for the either-day rule.
	domStar, dowStar bool
	loc              *time.Location
}

type field struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	secondField = field{name: "second", min: 0, max: 59}
	minuteField = field{name: "minute", min: 0, max: 59}
	hourField   = field{name: "hour", min: 0, max: 23}
	domField    = field{name: "day-of-month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	dowField = field{name: "day-of-week", min: 0, max: 7, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

func parseCron(spec string, loc *time.Location) (*Cron, error) {
	fs := strings.Fields(spec)
	switch len(fs) {
	case 5:
		fs = append([]string{"0"}, fs...)
	case 6:
	default:
		return nil, fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), got %d", len(fs))
	}
	c := &Cron{loc: loc}
	var err error
	if c.second, _, err = parseField(fs[0], secondField, false); err != nil {
		return nil, err
	}
	if c.minute, _, err = parseField(fs[1], minuteField, false); err != nil {
		return nil, err
	}
	if c.hour, _, err = parseField(fs[2], hourField, false); err != nil {
		return nil, err
	}
	if c.dom, c.lastDOM, err = parseField(fs[3], domField, true); err != nil {
		return nil, err
	}
	if c.month, _, err = parseField(fs[4], monthField, false); err != nil {
		return nil, err
	}
	if c.dow, _, err = parseField(fs[5], dowField, false); err != nil {
		return nil, err
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = fs[3] == "*" || fs[3] == "?"
	c.dowStar = fs[5] == "*" || fs[5] == "?"
	return c, nil
}

// parseField reads one comma-separated field into a bit set.
func parseField(s string, f field, allowL bool) (uint64, bool, error) {
	var set uint64
	last := false
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			return 0, false, fmt.Errorf("%s field %q: empty list item", f.name, s)
		}
		if allowL && strings.EqualFold(part, "L") {
			last = true
			continue
		}
		rng, stepText, hasStep := strings.Cut(part, "/")
		lo, hi := f.min, f.max
		if f.name == "day-of-week" {
			hi = 6 // * means Sunday to Saturday once; 7 only as a value
		}
		switch {
		case rng == "*" || rng == "?":
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = fieldValue(a, f); err != nil {
				return 0, false, err
			}
			hi = lo
			if isRange {
				if hi, err = fieldValue(b, f); err != nil {
					return 0, false, err
				}
			} else if hasStep {
				hi = f.max
			}
			if hi < lo {
				return 0, false, fmt.Errorf("%s field %q: range %d-%d runs backwards", f.name, s, lo, hi)
			}
		}
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 {
				return 0, false, fmt.Errorf("%s field %q: step %q must be a positive number", f.name, s, stepText)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, last, nil
}

func fieldValue(s string, f field) (int, error) {
	if v, ok := f.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: not a number or name", f.name, s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s %d: out of range %d-%d", f.name, v, f.min, f.max)
	}
	return v, nil
}

// civil is a wall-clock date and time with no zone. It is kept as a
// time.Time in UTC, where calendar arithmetic has no DST to trip on.
type civil = time.Time

func civilOf(t time.Time) civil {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// resolve maps a wall-clock time in loc to the instant it names. When the
// clock skips it (a DST gap), the instant is the end of the gap and gap is
// true. When the clock shows it twice, the instant is the first.
func resolve(c civil, loc *time.Location) (t time.Time, gap bool) {
	if loc == time.UTC {
		return c, false
	}
	wall := c.Unix()
	// Real zones change offset at most once within a day of any instant, so
	// the offsets in force a day either side cover every candidate.
	var first time.Time
	for _, probe := range []int64{wall - 86400, wall, wall + 86400} {
		_, off := time.Unix(probe, 0).In(loc).Zone()
		cand := time.Unix(wall-int64(off), 0).In(loc)
		if _, o := cand.Zone(); o == off && civilOf(cand).Equal(c) {
			if first.IsZero() || cand.Before(first) {
				first = cand
			}
		}
	}
	if !first.IsZero() {
		return first.UTC(), false
	}
	// In a gap: the first instant of the zone period that follows it.
	_, offBefore := time.Unix(wall-86400, 0).In(loc).Zone()
	start, _ := time.Unix(wall-int64(offBefore), 0).In(loc).ZoneBounds()
	return start.UTC(), true
}

// Next implements Schedule.
func (c *Cron) Next(t time.Time) time.Time {
	// Walk wall-clock times that match the spec, in order, from the wall
	// clock at t. Each is resolved to its instant; one at or before t is
	// skipped (that covers the second pass through a repeated hour, and a
	// gap that collapses to an instant already passed).
	cur := civilOf(t.In(c.loc))
	limit := cur.AddDate(10, 0, 0) // Feb 29 on a Monday can be 11 years away; that is far enough
	var lastGap time.Time
	for i := 0; i < 100000; i++ {
		next, ok := c.nextCivil(cur, limit)
		if !ok {
			return time.Time{}
		}
		at, gap := resolve(next, c.loc)
		if at.After(t) && !(gap && at.Equal(lastGap)) {
			return at
		}
		if gap {
			lastGap = at
		}
		cur = next
	}
	return time.Time{}
}

// nextCivil returns the first wall-clock time after cur (by one second or
// more) that matches the spec, or false past limit.
func (c *Cron) nextCivil(cur, limit civil) (civil, bool) {
	t := cur.Add(time.Second)
	for !t.After(limit) {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
			continue
		}
		if c.minute&(1<<uint(t.Minute())) == 0 {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, time.UTC)
			continue
		}
		if c.second&(1<<uint(t.Second())) == 0 {
			// Jump straight to the next allowed second in this minute.
			rest := c.second >> uint(t.Second())
			if rest == 0 {
				t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, time.UTC)
			} else {
				t = t.Add(time.Duration(bits.TrailingZeros64(rest)) * time.Second)
			}
			continue
		}
		return t, true
	}
	return time.Time{}, false
}

func (c *Cron) dayMatches(t civil) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	if c.lastDOM && t.AddDate(0, 0, 1).Day() == 1 {
		dom = true
	}
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return dow
	case c.dowStar:
		return dom
	}
	return dom || dow
}

// NextN previews the next n fires after t.
func NextN(s Schedule, t time.Time, n int) []time.Time {
	var out []time.Time
	for len(out) < n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}
