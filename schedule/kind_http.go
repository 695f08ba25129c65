package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPConfig is the config of an http job.
type HTTPConfig struct {
	Method  string            `json:"method,omitempty"` // default GET
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// ExpectStatus lists the statuses that mean success; empty means any
	// 2xx.
	ExpectStatus []int `json:"expect_status,omitempty"`
}

// HTTPKind sends one HTTP request per attempt. Each request carries
// X-Sluice-Job, X-Sluice-Run, X-Sluice-Scheduled-Time and X-Sluice-Attempt,
// so that a receiver can tell a retry from a new fire.
type HTTPKind struct {
	Client *http.Client
}

func decodeStrict(config json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(config)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return nil
}

func (HTTPKind) parse(config json.RawMessage) (HTTPConfig, error) {
	var c HTTPConfig
	if err := decodeStrict(config, &c); err != nil {
		return c, err
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	c.Method = strings.ToUpper(c.Method)
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("url %q: want an http or https URL", c.URL)
	}
	for _, s := range c.ExpectStatus {
		if s < 100 || s > 599 {
			return c, fmt.Errorf("expect_status %d: not an HTTP status", s)
		}
	}
	return c, nil
}

// Validate implements Kind.
func (k HTTPKind) Validate(config json.RawMessage) error {
	_, err := k.parse(config)
	return err
}

// Run implements Kind.
func (k HTTPKind) Run(ctx context.Context, run RunInfo, config json.RawMessage, out io.Writer) error {
	c, err := k.parse(config)
	if err != nil {
		return err
	}
	var body io.Reader
	if c.Body != "" {
		body = strings.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, body)
	if err != nil {
		return fmt.Errorf("build request %s %s: %w", c.Method, c.URL, err)
	}
	for h, v := range c.Headers {
		req.Header.Set(h, v)
	}
	req.Header.Set("User-Agent", "sluice-scheduler")
	req.Header.Set("X-Sluice-Job", run.JobName)
	req.Header.Set("X-Sluice-Run", strconv.FormatInt(run.RunID, 10))
	req.Header.Set("X-Sluice-Scheduled-Time", run.ScheduledTime.UTC().Format(time.RFC3339Nano))
	req.Header.Set("X-Sluice-Attempt", strconv.Itoa(run.Attempt))
	client := k.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", c.Method, c.URL, err)
	}
	defer resp.Body.Close()
	fmt.Fprintf(out, "%s %s\n", resp.Proto, resp.Status)
	// Keep what the output can hold and drain the rest so the connection
	// is reused.
	if _, err := io.Copy(out, io.LimitReader(resp.Body, MaxOutput)); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s %s: read response: %w", c.Method, c.URL, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 16<<20))
	if len(c.ExpectStatus) == 0 {
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s %s: status %d, want 2xx", c.Method, c.URL, resp.StatusCode)
		}
		return nil
	}
	for _, s := range c.ExpectStatus {
		if resp.StatusCode == s {
			return nil
		}
	}
	return fmt.Errorf("%s %s: status %d, want one of %v", c.Method, c.URL, resp.StatusCode, c.ExpectStatus)
}
