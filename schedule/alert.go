package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sluice-db/sluice/store"
)

// Alert is the JSON body POSTed to a job's alert_url (or the server's
// default webhook) when a run fails for good or fires are missed. Only the
// node that wrote the run row sends it, so each event is sent once (delivery
// is retried a few times, then dropped with a log line).
type Alert struct {
	Event         string    `json:"event"` // "job.failed" or "job.missed"
	Job           string    `json:"job"`
	JobID         int64     `json:"job_id"`
	RunID         int64     `json:"run_id,omitempty"`
	ScheduledTime time.Time `json:"scheduled_time"`
	Status        string    `json:"status,omitempty"`
	Attempt       int       `json:"attempt,omitempty"`
	Error         string    `json:"error,omitempty"`
	// Missed counts the missed fires this alert reports; ScheduledTime is
	// the latest of them.
	Missed int       `json:"missed,omitempty"`
	Node   string    `json:"node"`
	Time   time.Time `json:"time"`
}

type alertMsg struct {
	url   string
	alert Alert
}

// alerter delivers alerts off the scheduling path.
type alerter struct {
	s  *Scheduler
	ch chan alertMsg
}

func newAlerter(s *Scheduler) *alerter {
	return &alerter{s: s, ch: make(chan alertMsg, 1024)}
}

func (a *alerter) send(job Compiled, al Alert) {
	url := job.Job.AlertURL
	if url == "" && a.s.opts.AlertURLFunc != nil {
		url = a.s.opts.AlertURLFunc()
	}
	if url == "" {
		url = a.s.opts.AlertURL
	}
	if url == "" {
		return
	}
	al.Job, al.JobID, al.Node, al.Time = job.Job.Name, job.Job.ID, a.s.NodeID(), a.s.clock.Now().UTC()
	select {
	case a.ch <- alertMsg{url: url, alert: al}:
	default:
		a.s.log.Warn("alert queue full; alert dropped", "job", job.Job.Name, "event", al.Event)
	}
}

func (a *alerter) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-a.ch:
			a.deliver(ctx, m)
		}
	}
}

func (a *alerter) deliver(ctx context.Context, m alertMsg) {
	body, err := json.Marshal(m.alert)
	if err != nil {
		a.s.log.Warn("encode alert", "err", err)
		return
	}
	var last error
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(try) * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
		if err != nil {
			a.s.log.Warn("alert webhook", "url", m.url, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.s.opts.HTTPClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return
		}
		last = fmt.Errorf("status %d", resp.StatusCode)
	}
	a.s.log.Warn("alert webhook failed; alert dropped", "url", m.url, "job", m.alert.Job, "event", m.alert.Event, "err", last)
}

func (s *Scheduler) alertFailed(job *Compiled, r store.Run, up store.RunUpdate) {
	s.alerts.send(*job, Alert{Event: "job.failed", RunID: r.ID, ScheduledTime: r.ScheduledTime.UTC(), Status: up.Status, Attempt: up.Attempt, Error: up.Error})
}

func (s *Scheduler) alertMissed(job Compiled, rs []store.Run) {
	if len(rs) == 0 {
		return
	}
	last := rs[len(rs)-1]
	s.alerts.send(job, Alert{Event: "job.missed", RunID: last.ID, ScheduledTime: last.ScheduledTime.UTC(), Status: store.RunMissed, Missed: len(rs), Error: last.Error})
}
