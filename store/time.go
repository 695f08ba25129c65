package store

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is how times are written to the meta store: UTC with
// microseconds and a fixed width, so that SQLite's text comparison orders
// them as time orders them.
const timeLayout = "2006-01-02 15:04:05.000000"

// FormatTime renders t as the meta store writes times (timeLayout). It is
// written out by hand: the scheduler formats several times per fire, at
// thousands of fires a second, and time.Format is several times slower.
func FormatTime(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timeLayout)
	}
	h, mi, s := t.Clock()
	var b [26]byte
	put := func(at, v, width int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	b[4] = '-'
	put(5, int(mo), 2)
	b[7] = '-'
	put(8, d, 2)
	b[10] = ' '
	put(11, h, 2)
	b[13] = ':'
	put(14, mi, 2)
	b[16] = ':'
	put(17, s, 2)
	b[19] = '.'
	put(20, t.Nanosecond()/1000, 6)
	return string(b[:])
}

// ParseTime reads a time as the meta store returns it.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{timeLayout, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("parse meta store time %q: unknown format", s)
}

// NullTime scans a nullable time written by either dialect.
type NullTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (n *NullTime) Scan(v any) error {
	n.Valid = false
	n.Time = time.Time{}
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		n.Time, n.Valid = x.UTC(), true
		return nil
	case string:
		if x == "" {
			return nil
		}
		t, err := ParseTime(x)
		if err != nil {
			return err
		}
		n.Time, n.Valid = t, true
		return nil
	case []byte:
		return n.Scan(string(x))
	}
	return fmt.Errorf("scan meta store time: unsupported type %T", v)
}

// Value implements driver.Valuer.
func (n NullTime) Value() (driver.Value, error) {
	if !n.Valid {
		return nil, nil
	}
	return FormatTime(n.Time), nil
}

func nullTime(t time.Time) NullTime { return NullTime{Time: t, Valid: !t.IsZero()} }
