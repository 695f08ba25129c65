package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sluice-db/sluice/store"
)

// Compiled is a job row checked and parsed: its schedule and policies.
type Compiled struct {
	Job      store.Job
	Schedule Schedule
	Policy   Policy
	Overlap  OverlapPolicy
	// kind and config are what a run needs, looked up and converted once.
	kind   Kind
	config json.RawMessage
}

// Compile checks a job row (as written by sluice or by hand with SQL) and
// parses what the scheduler needs. kinds may be nil to skip the kind's own
// check of its config.
func Compile(j store.Job, kinds Kinds) (Compiled, error) {
	c := Compiled{Job: j}
	where := fmt.Sprintf("job %q (id %d)", j.Name, j.ID)
	if j.Name == "" {
		return c, errors.New("job name is empty")
	}
	s, err := Parse(j.Schedule, j.TimeZone)
	if err != nil {
		return c, fmt.Errorf("%s: %w", where, err)
	}
	c.Schedule = s
	c.Policy = Policy{Misfire: MisfirePolicy(j.MisfirePolicy), CatchUp: j.MisfireCatchUp, Threshold: j.MisfireThreshold}
	if err := c.Policy.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", where, err)
	}
	c.Overlap = OverlapPolicy(j.OverlapPolicy)
	if err := ValidOverlap(c.Overlap); err != nil {
		return c, fmt.Errorf("%s: %w", where, err)
	}
	if j.MaxRetries < 0 || j.MaxRetries > 100 {
		return c, fmt.Errorf("%s: max_retries %d: want 0 to 100", where, j.MaxRetries)
	}
	if j.RetryBackoff < 0 {
		return c, fmt.Errorf("%s: retry backoff %s is negative", where, j.RetryBackoff)
	}
	if j.Timeout < 0 {
		return c, fmt.Errorf("%s: timeout %s is negative", where, j.Timeout)
	}
	if j.AlertURL != "" {
		if u, err := url.Parse(j.AlertURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("%s: alert_url %q: want an http or https URL", where, j.AlertURL)
		}
	}
	c.config = json.RawMessage(j.Config)
	if !json.Valid(c.config) {
		return c, fmt.Errorf("%s: config is not valid JSON", where)
	}
	if kinds != nil {
		k, ok := kinds[j.Kind]
		if !ok {
			return c, fmt.Errorf("%s: unknown kind %q (known: %s)", where, j.Kind, kinds.names())
		}
		c.kind = k
		if err := k.Validate(json.RawMessage(j.Config)); err != nil {
			return c, fmt.Errorf("%s: %s config: %w", where, j.Kind, err)
		}
	}
	return c, nil
}

// sameTiming says whether two versions of a job fire at the same times, so
// that an edit to anything else keeps the job's place in its schedule.
func sameTiming(a, b store.Job) bool {
	return a.Schedule == b.Schedule && a.TimeZone == b.TimeZone && a.Paused == b.Paused &&
		a.MisfirePolicy == b.MisfirePolicy && a.MisfireCatchUp == b.MisfireCatchUp &&
		a.MisfireThreshold == b.MisfireThreshold
}

// Preview lists a job's next n fires after t.
func Preview(j store.Job, t time.Time, n int) ([]time.Time, error) {
	s, err := Parse(j.Schedule, j.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", j.Name, err)
	}
	return NextN(s, t, n), nil
}
