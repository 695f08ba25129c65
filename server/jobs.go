package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

type jobInput struct {
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Schedule         string          `json:"schedule"`
	TimeZone         string          `json:"time_zone"`
	Kind             string          `json:"kind"`
	Config           json.RawMessage `json:"config"`
	Paused           bool            `json:"paused"`
	MisfirePolicy    string          `json:"misfire_policy"`
	MisfireCatchUp   int             `json:"misfire_catch_up"`
	MisfireThreshold string          `json:"misfire_threshold"`
	OverlapPolicy    string          `json:"overlap_policy"`
	MaxRetries       int             `json:"max_retries"`
	RetryBackoff     string          `json:"retry_backoff"`
	Timeout          string          `json:"timeout"`
	AlertURL         string          `json:"alert_url"`
}

type jobJSON struct {
	ID               int64           `json:"id"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Schedule         string          `json:"schedule"`
	TimeZone         string          `json:"time_zone"`
	Kind             string          `json:"kind"`
	Config           json.RawMessage `json:"config"`
	Paused           bool            `json:"paused"`
	MisfirePolicy    string          `json:"misfire_policy"`
	MisfireCatchUp   int             `json:"misfire_catch_up"`
	MisfireThreshold string          `json:"misfire_threshold"`
	OverlapPolicy    string          `json:"overlap_policy"`
	MaxRetries       int             `json:"max_retries"`
	RetryBackoff     string          `json:"retry_backoff"`
	Timeout          string          `json:"timeout"`
	AlertURL         string          `json:"alert_url"`
	NextFire         *time.Time      `json:"next_fire"`
	LastRun          *runJSON        `json:"last_run"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

type runJSON struct {
	ID              int64      `json:"id"`
	JobID           int64      `json:"job_id"`
	Job             string     `json:"job,omitempty"`
	ScheduledTime   time.Time  `json:"scheduled_time"`
	Node            string     `json:"node"`
	Status          string     `json:"status"`
	Attempt         int        `json:"attempt"`
	Misfire         bool       `json:"misfire"`
	ClaimedAt       *time.Time `json:"claimed_at"`
	StartedAt       *time.Time `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	DurationSeconds *float64   `json:"duration_seconds"`
	CancelRequested bool       `json:"cancel_requested"`
	Output          string     `json:"output,omitempty"`
	Error           string     `json:"error,omitempty"`
}

func toRunJSON(r store.Run, job string, withOutput bool) runJSON {
	out := runJSON{ID: r.ID, JobID: r.JobID, Job: job, ScheduledTime: r.ScheduledTime.UTC(), Node: r.NodeID, Status: r.Status,
		Attempt: r.Attempt, Misfire: r.Misfire, ClaimedAt: timePtr(r.ClaimedAt), StartedAt: timePtr(r.StartedAt),
		FinishedAt: timePtr(r.FinishedAt), CancelRequested: r.CancelRequested, Error: r.Error}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		d := r.FinishedAt.Sub(r.StartedAt).Seconds()
		out.DurationSeconds = &d
	}
	if withOutput {
		out.Output = r.Output
	}
	return out
}

func (s *Server) toJobJSON(ctx context.Context, j store.Job, withLastRun bool) (jobJSON, error) {
	out := jobJSON{ID: j.ID, Name: j.Name, Description: j.Description, Schedule: j.Schedule, TimeZone: j.TimeZone, Kind: j.Kind,
		Config: json.RawMessage(j.Config), Paused: j.Paused, MisfirePolicy: j.MisfirePolicy, MisfireCatchUp: j.MisfireCatchUp,
		MisfireThreshold: durationString(j.MisfireThreshold), OverlapPolicy: j.OverlapPolicy, MaxRetries: j.MaxRetries,
		RetryBackoff: durationString(j.RetryBackoff), Timeout: durationString(j.Timeout), AlertURL: j.AlertURL,
		CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC()}
	if !json.Valid(out.Config) {
		out.Config = json.RawMessage("{}")
	}
	if !j.Paused {
		if next, err := schedule.Preview(j, s.Scheduler.Now(), 1); err == nil && len(next) == 1 {
			out.NextFire = timePtr(next[0])
		}
	}
	if withLastRun {
		runs, err := s.Store.JobRuns(ctx, j.ID, 1)
		if err != nil {
			return out, err
		}
		if len(runs) == 1 {
			r := toRunJSON(runs[0], j.Name, false)
			out.LastRun = &r
		}
	}
	return out, nil
}

// toStore validates a job input field by field, so that each error names
// its field, then as a whole with the scheduler's own check.
func (s *Server) jobFromInput(in jobInput) (store.Job, error) {
	j := store.JobDefaults()
	j.Name, j.Description, j.Schedule, j.TimeZone, j.Kind, j.Paused = in.Name, in.Description, in.Schedule, in.TimeZone, in.Kind, in.Paused
	j.MaxRetries, j.MisfireCatchUp, j.AlertURL = in.MaxRetries, in.MisfireCatchUp, in.AlertURL
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 191 {
		return j, invalid("name", "name is required (at most 191 characters)")
	}
	if j.TimeZone == "" {
		j.TimeZone = "UTC"
	}
	if _, err := schedule.LoadZone(j.TimeZone); err != nil {
		return j, invalid("time_zone", "time_zone: %v", err)
	}
	if in.Schedule == "" {
		return j, invalid("schedule", "schedule is required: a cron spec (\"0 */5 * * * *\"), @every 10s, @hourly, or a time")
	}
	if _, err := schedule.Parse(in.Schedule, j.TimeZone); err != nil {
		return j, invalid("schedule", "%v", err)
	}
	if in.MisfirePolicy != "" {
		j.MisfirePolicy = in.MisfirePolicy
	}
	if in.OverlapPolicy != "" {
		j.OverlapPolicy = in.OverlapPolicy
	}
	var err error
	if j.MisfireThreshold, err = parseDuration("misfire_threshold", in.MisfireThreshold, j.MisfireThreshold); err != nil {
		return j, err
	}
	if j.RetryBackoff, err = parseDuration("retry_backoff", in.RetryBackoff, j.RetryBackoff); err != nil {
		return j, err
	}
	if j.Timeout, err = parseDuration("timeout", in.Timeout, 0); err != nil {
		return j, err
	}
	if err := (schedule.Policy{Misfire: schedule.MisfirePolicy(j.MisfirePolicy), CatchUp: j.MisfireCatchUp, Threshold: j.MisfireThreshold}).Validate(); err != nil {
		return j, invalid("misfire_policy", "%v", err)
	}
	if err := schedule.ValidOverlap(schedule.OverlapPolicy(j.OverlapPolicy)); err != nil {
		return j, invalid("overlap_policy", "%v", err)
	}
	if j.MaxRetries < 0 || j.MaxRetries > 100 {
		return j, invalid("max_retries", "max_retries %d: want 0 to 100", j.MaxRetries)
	}
	if j.AlertURL != "" {
		if u, err := url.Parse(j.AlertURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return j, invalid("alert_url", "alert_url %q: want an http or https URL", j.AlertURL)
		}
	}
	kind, ok := s.kinds[in.Kind]
	if !ok {
		names := make([]string, 0, len(s.kinds))
		for n := range s.kinds {
			names = append(names, n)
		}
		slices.Sort(names)
		return j, invalid("kind", "kind %q: want one of %s", in.Kind, strings.Join(names, ", "))
	}
	cfg := in.Config
	if len(cfg) == 0 || string(cfg) == "null" {
		cfg = json.RawMessage("{}")
	}
	if cfg[0] != '{' {
		return j, invalid("config", "config must be a JSON object with the %s kind's options", in.Kind)
	}
	if err := kind.Validate(cfg); err != nil {
		return j, invalid("config", "config of a %s job: %v", in.Kind, err)
	}
	j.Config = string(cfg)
	if _, err := schedule.Compile(j, s.kinds); err != nil {
		return j, invalid("", "%v", err)
	}
	return j, nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	js, err := s.Store.Jobs(ctx)
	if err != nil {
		return err
	}
	out := make([]jobJSON, 0, len(js))
	for _, j := range js {
		jj, err := s.toJobJSON(ctx, j, true)
		if err != nil {
			return err
		}
		out = append(out, jj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
	return nil
}

func (s *Server) answerJob(w http.ResponseWriter, r *http.Request, id int64, status int) error {
	j, err := s.Store.Job(r.Context(), id)
	if err != nil {
		return err
	}
	jj, err := s.toJobJSON(r.Context(), j, true)
	if err != nil {
		return err
	}
	writeJSON(w, status, jj)
	return nil
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return s.answerJob(w, r, id, http.StatusOK)
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in jobInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	j, err := s.jobFromInput(in)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.Store.JobByName(ctx, j.Name); err == nil {
		return errorf(http.StatusConflict, codeAlreadyExists, "job %q already exists", j.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	id, err := s.Store.CreateJob(ctx, j)
	if err != nil {
		return err
	}
	return s.answerJob(w, r, id, http.StatusCreated)
}

func (s *Server) updateJob(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in jobInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.Store.Job(ctx, id); err != nil {
		return err
	}
	j, err := s.jobFromInput(in)
	if err != nil {
		return err
	}
	if other, err := s.Store.JobByName(ctx, j.Name); err == nil && other.ID != id {
		return errorf(http.StatusConflict, codeAlreadyExists, "another job (id %d) is named %q", other.ID, j.Name)
	}
	j.ID = id
	if err := s.Store.UpdateJob(ctx, j); err != nil {
		return err
	}
	return s.answerJob(w, r, id, http.StatusOK)
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteJob(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) pauseJob(w http.ResponseWriter, r *http.Request, _ *principal) error {
	return s.setJobPaused(w, r, true)
}

func (s *Server) resumeJob(w http.ResponseWriter, r *http.Request, _ *principal) error {
	return s.setJobPaused(w, r, false)
}

func (s *Server) setJobPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.SetJobPaused(r.Context(), id, paused); err != nil {
		return err
	}
	return s.answerJob(w, r, id, http.StatusOK)
}

func (s *Server) runJobNow(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	j, err := s.Store.Job(ctx, id)
	if err != nil {
		return err
	}
	run, err := s.Scheduler.RunNow(ctx, id)
	if errors.Is(err, schedule.ErrJobNotScheduled) {
		return conflict("%v", err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toRunJSON(run, j.Name, false))
	return nil
}

type schedulePreview struct {
	Schedule string `json:"schedule"`
	TimeZone string `json:"time_zone"`
	Count    int    `json:"count"`
}

func (s *Server) previewSchedule(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req schedulePreview
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Count == 0 {
		req.Count = 5
	}
	if req.Count < 1 || req.Count > 100 {
		return invalid("count", "count %d: want 1 to 100", req.Count)
	}
	if req.TimeZone == "" {
		req.TimeZone = "UTC"
	}
	if _, err := schedule.LoadZone(req.TimeZone); err != nil {
		return invalid("time_zone", "time_zone: %v", err)
	}
	sch, err := schedule.Parse(req.Schedule, req.TimeZone)
	if err != nil {
		return invalid("schedule", "%v", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"fires": utcTimes(schedule.NextN(sch, s.Scheduler.Now(), req.Count))})
	return nil
}

func utcTimes(ts []time.Time) []time.Time {
	out := make([]time.Time, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.UTC())
	}
	return out
}

func (s *Server) nextFires(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	n, err := queryInt(r, "count", 5, 1, 100)
	if err != nil {
		return err
	}
	j, err := s.Store.Job(r.Context(), id)
	if err != nil {
		return err
	}
	var fires []time.Time
	if !j.Paused {
		if fires, err = schedule.Preview(j, s.Scheduler.Now(), n); err != nil {
			return invalid("schedule", "%v", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"fires": utcTimes(fires)})
	return nil
}

func (s *Server) jobRuns(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	ctx := r.Context()
	j, err := s.Store.Job(ctx, id)
	if err != nil {
		return err
	}
	runs, err := s.Store.JobRuns(ctx, id, limit)
	if err != nil {
		return err
	}
	out := make([]runJSON, 0, len(runs))
	for _, run := range runs {
		out = append(out, toRunJSON(run, j.Name, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	run, err := s.Store.Run(ctx, id)
	if err != nil {
		return err
	}
	name := ""
	if j, err := s.Store.Job(ctx, run.JobID); err == nil {
		name = j.Name
	}
	writeJSON(w, http.StatusOK, toRunJSON(run, name, true))
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	run, err := s.Store.Run(ctx, id)
	if err != nil {
		return err
	}
	if !slices.Contains(store.ActiveRunStatuses, run.Status) {
		return conflict("run %d is %s: only claimed, running, queued or retrying runs can be cancelled", id, run.Status)
	}
	if err := s.Store.RequestCancel(ctx, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"cancel_requested": true})
	return nil
}
