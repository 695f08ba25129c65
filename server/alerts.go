package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/pipeline"
	"github.com/sluice-db/sluice/store"
)

// alertSettings are the alert rules, kept in the settings table so that
// every node follows the same.
type alertSettings struct {
	WebhookURL       string  `json:"webhook_url"`
	LagSeconds       float64 `json:"lag_seconds"`
	LagFor           string  `json:"lag_for"`
	PipelinePaused   bool    `json:"pipeline_paused"`
	CheckDifferences bool    `json:"check_differences"`
}

const alertSettingsKey = "alerts"

// alertEvent is the body POSTed to the webhook for pipeline and check
// events (job events keep the scheduler's body).
type alertEvent struct {
	Event            string           `json:"event"`
	Pipeline         string           `json:"pipeline,omitempty"`
	LagSeconds       float64          `json:"lag_seconds,omitempty"`
	ThresholdSeconds float64          `json:"threshold_seconds,omitempty"`
	Error            string           `json:"error,omitempty"`
	Position         *change.Position `json:"position,omitempty"`
	CheckID          int64            `json:"check_id,omitempty"`
	Source           string           `json:"source,omitempty"`
	Target           string           `json:"target,omitempty"`
	Missing          int64            `json:"missing,omitempty"`
	Extra            int64            `json:"extra,omitempty"`
	Different        int64            `json:"different,omitempty"`
	Message          string           `json:"message"`
	Node             string           `json:"node"`
	Time             time.Time        `json:"time"`
}

// alerter evaluates the alert rules and delivers alerts off the request
// and sampling paths, retrying each a few times.
type alerter struct {
	st         *store.Store
	log        *slog.Logger
	node       string
	defaultURL string
	client     *http.Client
	metrics    *metrics
	// retryWait is the wait before the first retry; it doubles.
	retryWait time.Duration
	tries     int

	mu       sync.Mutex
	settings alertSettings
	loadedAt time.Time
	lag      map[string]*lagWatch

	queue chan alertEvent
}

// lagWatch tracks one pipeline's lag against its threshold.
type lagWatch struct {
	above   time.Time // when the lag went above the threshold, or zero
	alerted bool
}

func newAlerter(st *store.Store, log *slog.Logger, node, defaultURL string, m *metrics) *alerter {
	return &alerter{st: st, log: log.With("component", "alerts"), node: node, defaultURL: defaultURL,
		client: &http.Client{Timeout: 10 * time.Second}, metrics: m, retryWait: time.Second, tries: 3,
		lag: map[string]*lagWatch{}, queue: make(chan alertEvent, 1024)}
}

func defaultAlertSettings(url string) alertSettings {
	return alertSettings{WebhookURL: url, LagFor: "1m", PipelinePaused: true, CheckDifferences: true}
}

// current returns the settings, re-read from the meta store every few
// seconds so that a change made on another node applies here too.
func (a *alerter) current(ctx context.Context) alertSettings {
	a.mu.Lock()
	fresh := time.Since(a.loadedAt) < 5*time.Second
	cur := a.settings
	a.mu.Unlock()
	if fresh {
		return cur
	}
	s, err := loadAlertSettings(ctx, a.st, a.defaultURL)
	if err != nil {
		a.log.Warn("read alert settings", "error", err)
		return cur
	}
	a.mu.Lock()
	a.settings, a.loadedAt = s, time.Now()
	a.mu.Unlock()
	return s
}

func (a *alerter) set(s alertSettings) {
	a.mu.Lock()
	a.settings, a.loadedAt = s, time.Now()
	a.mu.Unlock()
}

// webhookURL is where alerts go now; the scheduler asks it for job alerts.
func (a *alerter) webhookURL() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return a.current(ctx).WebhookURL
}

func loadAlertSettings(ctx context.Context, st *store.Store, defaultURL string) (alertSettings, error) {
	s := defaultAlertSettings(defaultURL)
	v, ok, err := st.Setting(ctx, alertSettingsKey)
	if err != nil || !ok {
		return s, err
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return defaultAlertSettings(defaultURL), fmt.Errorf("alert settings: %w", err)
	}
	return s, nil
}

// validate checks settings given through the API.
func (s alertSettings) validate() error {
	if s.WebhookURL != "" {
		u, err := url.Parse(s.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("webhook_url", "webhook_url %q: want an http or https URL", s.WebhookURL)
		}
	}
	if s.LagSeconds < 0 {
		return invalid("lag_seconds", "lag_seconds must not be negative (0 turns lag alerts off)")
	}
	if _, err := parseDuration("lag_for", s.LagFor, 0); err != nil {
		return err
	}
	return nil
}

// send queues an alert; a full queue drops it with a log line.
func (a *alerter) send(ctx context.Context, e alertEvent) {
	e.Node, e.Time = a.node, time.Now().UTC()
	select {
	case a.queue <- e:
	default:
		a.log.Warn("alert queue full; alert dropped", "event", e.Event, "pipeline", e.Pipeline)
	}
}

// loop delivers queued alerts until ctx ends.
func (a *alerter) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-a.queue:
			url := a.current(ctx).WebhookURL
			if url == "" {
				continue
			}
			if err := a.deliver(ctx, url, e); err != nil {
				a.log.Warn("alert webhook failed; alert dropped", "event", e.Event, "error", err)
			}
		}
	}
}

// deliver POSTs one alert, retrying with backoff on errors and non-2xx
// answers.
func (a *alerter) deliver(ctx context.Context, url string, e alertEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode alert: %w", err)
	}
	var last error
	wait := a.retryWait
	for try := 0; try < a.tries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("alert webhook: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "sluice-alerts")
		resp, err := a.client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			a.metrics.alertsSent.WithLabelValues(e.Event, "sent").Inc()
			return nil
		}
		last = fmt.Errorf("webhook answered %s", resp.Status)
	}
	a.metrics.alertsSent.WithLabelValues(e.Event, "failed").Inc()
	if last == nil {
		last = errors.New("no attempt made")
	}
	return fmt.Errorf("deliver %s alert after %d tries: %w", e.Event, a.tries, last)
}

// observe applies the pipeline rules to a new status sample: a pipeline
// that paused, and lag above the threshold for the configured time (and
// its recovery).
func (a *alerter) observe(ctx context.Context, p store.Pipeline, cur, prev pipelineStatusJSON) {
	set := a.current(ctx)
	if set.PipelinePaused && cur.State == string(pipeline.Paused) && prev.State != string(pipeline.Paused) {
		a.send(ctx, alertEvent{Event: "pipeline.paused", Pipeline: p.Name, Error: cur.Error, Position: cur.Position,
			Message: fmt.Sprintf("pipeline %s paused: %s; fix the cause and resume it, or skip the transaction", p.Name, cur.Error)})
	}
	threshold, lagFor := set.LagSeconds, time.Minute
	if d, err := time.ParseDuration(set.LagFor); err == nil && set.LagFor != "" {
		lagFor = d
	}
	if p.AlertLagSeconds > 0 {
		threshold = p.AlertLagSeconds
	}
	if p.AlertLagFor > 0 {
		lagFor = p.AlertLagFor
	}
	a.mu.Lock()
	w := a.lag[p.Name]
	if w == nil {
		w = &lagWatch{}
		a.lag[p.Name] = w
	}
	var send *alertEvent
	switch {
	case threshold <= 0 || cur.State == string(pipeline.Stopped):
		if w.alerted && threshold > 0 {
			send = &alertEvent{Event: "pipeline.lag_recovered", Pipeline: p.Name, ThresholdSeconds: threshold,
				Message: fmt.Sprintf("pipeline %s stopped; its lag alert is over", p.Name)}
		}
		*w = lagWatch{}
	case cur.LagSeconds > threshold:
		if w.above.IsZero() {
			w.above = time.Now()
		}
		if !w.alerted && time.Since(w.above) >= lagFor {
			w.alerted = true
			send = &alertEvent{Event: "pipeline.lag", Pipeline: p.Name, LagSeconds: cur.LagSeconds, ThresholdSeconds: threshold, Position: cur.Position,
				Message: fmt.Sprintf("pipeline %s lags %.1fs behind its source, above %.1fs for %s", p.Name, cur.LagSeconds, threshold, lagFor)}
		}
	default:
		if w.alerted {
			send = &alertEvent{Event: "pipeline.lag_recovered", Pipeline: p.Name, LagSeconds: cur.LagSeconds, ThresholdSeconds: threshold,
				Message: fmt.Sprintf("pipeline %s lag is back to %.1fs, under %.1fs", p.Name, cur.LagSeconds, threshold)}
		}
		*w = lagWatch{}
	}
	a.mu.Unlock()
	if send != nil {
		a.send(ctx, *send)
	}
}

// checkFinished alerts on a check that found differences.
func (a *alerter) checkFinished(ctx context.Context, c store.Check, req checkRequest) {
	if c.Status != store.CheckDifferent || !a.current(ctx).CheckDifferences {
		return
	}
	a.send(ctx, alertEvent{Event: "check.differences", CheckID: c.ID, Source: req.Source, Target: req.Target,
		Missing: c.Missing, Extra: c.Extra, Different: c.Different,
		Message: fmt.Sprintf("check %d of %s against %s found %d missing, %d extra and %d different rows", c.ID, req.Source, req.Target, c.Missing, c.Extra, c.Different)})
}

func (s *Server) getAlertSettings(w http.ResponseWriter, r *http.Request, p *principal) error {
	set, err := loadAlertSettings(r.Context(), s.Store, s.Config.AlertWebhook)
	if err != nil {
		return err
	}
	if !p.Role.allows(RoleAdmin) {
		set.WebhookURL = "" // it may hold a secret token in its path
	}
	writeJSON(w, http.StatusOK, set)
	return nil
}

func (s *Server) putAlertSettings(w http.ResponseWriter, r *http.Request, _ *principal) error {
	set := defaultAlertSettings("")
	if err := decodeJSON(w, r, &set); err != nil {
		return err
	}
	if set.LagFor == "" {
		set.LagFor = "1m"
	}
	if err := set.validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(set)
	if err := s.Store.PutSetting(r.Context(), alertSettingsKey, string(b)); err != nil {
		return err
	}
	s.alerts.set(set)
	writeJSON(w, http.StatusOK, set)
	return nil
}

func (s *Server) testAlert(w http.ResponseWriter, r *http.Request, p *principal) error {
	set, err := loadAlertSettings(r.Context(), s.Store, s.Config.AlertWebhook)
	if err != nil {
		return err
	}
	if set.WebhookURL == "" {
		return conflict("no webhook is configured; set webhook_url with PUT /api/v1/alerts/settings first")
	}
	e := alertEvent{Event: "test", Message: fmt.Sprintf("test alert sent by %s", p.User.Username), Node: s.nodeID, Time: time.Now().UTC()}
	if err := s.alerts.deliver(r.Context(), set.WebhookURL, e); err != nil {
		return errorf(http.StatusUnprocessableEntity, codeConnectionFailed, "%v", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
