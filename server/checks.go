package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-db/sluice/check"
	"github.com/sluice-db/sluice/pipeline"
	"github.com/sluice-db/sluice/store"
)

// checkRequest is a consistency check to run, as the API takes it and as
// it is stored with the check.
type checkRequest struct {
	Source           string   `json:"source"`
	Target           string   `json:"target"`
	Tables           []string `json:"tables"`
	Map              []string `json:"map,omitempty"`
	ExcludeColumns   []string `json:"exclude_columns,omitempty"`
	TargetPosition   string   `json:"target_position,omitempty"`
	Pipeline         string   `json:"pipeline,omitempty"`
	MaxRowsPerSecond int64    `json:"max_rows_per_second,omitempty"`
	ChunkTime        string   `json:"chunk_time,omitempty"`
	Repair           string   `json:"repair,omitempty"`
}

type checkJSON struct {
	ID           int64           `json:"id"`
	Status       string          `json:"status"`
	Request      checkRequest    `json:"request"`
	CreatedBy    string          `json:"created_by"`
	RepairOf     *int64          `json:"repair_of"`
	Error        string          `json:"error,omitempty"`
	Rows         int64           `json:"rows"`
	Missing      int64           `json:"missing"`
	Extra        int64           `json:"extra"`
	Different    int64           `json:"different"`
	Unsettled    int64           `json:"unsettled"`
	Repaired     int64           `json:"repaired"`
	HasRepairSQL bool            `json:"has_repair_sql"`
	StartedAt    time.Time       `json:"started_at"`
	FinishedAt   *time.Time      `json:"finished_at"`
	CreatedAt    time.Time       `json:"created_at"`
	Report       json.RawMessage `json:"report,omitempty"`
}

func toCheckJSON(c store.Check, withReport bool) checkJSON {
	out := checkJSON{ID: c.ID, Status: c.Status, CreatedBy: c.CreatedBy, Error: c.Error, Rows: c.Rows, Missing: c.Missing,
		Extra: c.Extra, Different: c.Different, Unsettled: c.Unsettled, Repaired: c.Repaired, HasRepairSQL: c.HasRepairSQL || c.RepairSQL != "",
		StartedAt: c.StartedAt.UTC(), FinishedAt: timePtr(c.FinishedAt), CreatedAt: c.StartedAt.UTC()}
	json.Unmarshal([]byte(c.Request), &out.Request)
	if c.RepairOf != 0 {
		id := c.RepairOf
		out.RepairOf = &id
	}
	if withReport && c.Report != "" && json.Valid([]byte(c.Report)) {
		out.Report = json.RawMessage(c.Report)
	}
	return out
}

// maxStored bounds a stored report and repair script: a check that finds
// millions of differences still stores its counts and the first rows.
const maxStored = 8 << 20

// validate checks a request and fills what a named pipeline implies.
func (s *Server) validateCheck(ctx context.Context, req *checkRequest) error {
	if req.Pipeline != "" {
		p, err := s.Store.PipelineByName(ctx, req.Pipeline)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("pipeline", "pipeline %q does not exist", req.Pipeline)
		}
		if err != nil {
			return err
		}
		var cfg pipelineConfigJSON
		if err := json.Unmarshal([]byte(p.Config), &cfg); err != nil {
			return fmt.Errorf("pipeline %q: stored config: %w", p.Name, err)
		}
		if req.Source == "" {
			req.Source = p.Source
		}
		if req.Target == "" {
			req.Target = p.Target
		}
		if len(req.Tables) == 0 {
			for _, t := range cfg.Tables {
				req.Tables = append(req.Tables, t.Source)
				if t.Target != "" {
					req.Map = append(req.Map, t.Source+":"+t.Target)
				}
				for _, c := range t.ExcludeColumns {
					req.ExcludeColumns = append(req.ExcludeColumns, t.Source+"."+c)
				}
			}
		}
		if req.TargetPosition == "" {
			req.TargetPosition = string(check.PositionPipeline)
		}
	}
	for _, f := range []struct{ field, name string }{{"source", req.Source}, {"target", req.Target}} {
		if f.name == "" {
			return invalid(f.field, "%s: name a data source (or a pipeline to take it from)", f.field)
		}
		if _, err := s.Store.DataSource(ctx, f.name); errors.Is(err, store.ErrNotFound) {
			return invalid(f.field, "%s: data source %q does not exist", f.field, f.name)
		} else if err != nil {
			return err
		}
	}
	if len(req.Tables) == 0 {
		return invalid("tables", "tables: give at least one schema.table pattern, e.g. shop.*")
	}
	for i, t := range req.Tables {
		if err := pipeline.ValidatePattern(t); err != nil {
			return invalid("tables["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
	for i, m := range req.Map {
		if _, err := check.ParseMapRule(m); err != nil {
			return invalid("map["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
	for i, c := range req.ExcludeColumns {
		if strings.Count(c, ".") != 2 {
			return invalid("exclude_columns["+strconv.Itoa(i)+"]", "excluded column %q must be schema.table.column", c)
		}
	}
	switch req.TargetPosition {
	case "", "auto", "replica", "none":
	case "pipeline":
		if req.Pipeline == "" {
			return invalid("target_position", "target_position pipeline needs the pipeline whose checkpoint to read")
		}
	default:
		return invalid("target_position", "target_position %q: want auto, pipeline, replica or none", req.TargetPosition)
	}
	switch req.Repair {
	case "", "apply":
	default:
		return invalid("repair", "repair %q: want \"\" (report only; the repair SQL is kept to download) or \"apply\"", req.Repair)
	}
	if req.MaxRowsPerSecond < 0 {
		return invalid("max_rows_per_second", "max_rows_per_second must not be negative")
	}
	if _, err := parseDuration("chunk_time", req.ChunkTime, 0); err != nil {
		return err
	}
	return nil
}

func (s *Server) runCheck(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req checkRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.validateCheck(r.Context(), &req); err != nil {
		return err
	}
	c, err := s.startCheck(r.Context(), req, p.User.Username, 0)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toCheckJSON(c, false))
	return nil
}

// startCheck records a check and runs it in the background.
func (s *Server) startCheck(ctx context.Context, req checkRequest, by string, repairOf int64) (store.Check, error) {
	b, _ := json.Marshal(req)
	c := store.Check{Status: store.CheckRunning, Request: string(b), CreatedBy: by, RepairOf: repairOf, NodeID: s.nodeID, StartedAt: time.Now()}
	id, err := s.Store.CreateCheck(ctx, c)
	if err != nil {
		return c, err
	}
	c.ID = id
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.executeCheck(s.bgCtx, c, req)
	}()
	return c, nil
}

// executeCheck runs a check and stores its outcome.
func (s *Server) executeCheck(ctx context.Context, c store.Check, req checkRequest) {
	log := s.log.With("check", c.ID)
	var repairSQL bytes.Buffer
	rep, err := s.runCheckPackage(ctx, req, &repairSQL, log)
	c.FinishedAt = time.Now()
	switch {
	case err != nil:
		c.Status, c.Error = store.CheckFailed, err.Error()
	default:
		rows, missing, extra, different, unsettled := rep.Totals()
		c.Rows, c.Missing, c.Extra, c.Different, c.Unsettled = rows, int64(missing), int64(extra), int64(different), int64(unsettled)
		for _, t := range rep.Tables {
			c.Repaired += int64(t.Repaired)
		}
		switch rep.ExitStatus() {
		case 0:
			c.Status = store.CheckEqual
		case 1:
			c.Status = store.CheckDifferent
		default:
			c.Status, c.Error = store.CheckFailed, "some tables could not be compared; see each table's error in the report"
		}
		if req.Repair == "apply" && c.Status == store.CheckDifferent && c.Repaired == c.Missing+c.Extra+c.Different {
			// Every difference found was repaired.
			c.Status = store.CheckEqual
		}
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err == nil {
			c.Report = boundReport(buf.Bytes())
		}
		if repairSQL.Len() <= maxStored {
			c.RepairSQL = repairSQL.String()
		} else {
			c.RepairSQL = repairSQL.String()[:maxStored] + "\n-- the repair script was cut at 8 MiB; run sluice check --repair=print for the whole\n"
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Store.FinishCheck(sctx, c); err != nil {
		log.Error("record check outcome", "error", err)
	}
	log.Info("check finished", "status", c.Status, "missing", c.Missing, "extra", c.Extra, "different", c.Different, "error", c.Error)
	s.metrics.checkRuns.WithLabelValues(c.Status).Inc()
	s.metrics.checkDiffs.WithLabelValues(check.Missing).Add(float64(c.Missing))
	s.metrics.checkDiffs.WithLabelValues(check.Extra).Add(float64(c.Extra))
	s.metrics.checkDiffs.WithLabelValues(check.Different).Add(float64(c.Different))
	if c.Status != store.CheckFailed {
		s.metrics.checkLastDiff.WithLabelValues(req.Source, req.Target).Set(float64(c.Missing + c.Extra + c.Different - c.Repaired))
	}
	cj := toCheckJSON(c, false)
	s.events.publish(streamEvent{Type: "check.finished", Check: &cj})
	s.alerts.checkFinished(sctx, c, req)
}

// runCheckPackage turns a request into check.Options and runs it.
func (s *Server) runCheckPackage(ctx context.Context, req checkRequest, repairSQL *bytes.Buffer, log interface {
	Info(string, ...any)
}) (*check.Report, error) {
	opts := check.Options{
		Tables:           req.Tables,
		ExcludeColumns:   req.ExcludeColumns,
		TargetPosition:   check.PositionMode(req.TargetPosition),
		Pipeline:         req.Pipeline,
		MaxRowsPerSecond: req.MaxRowsPerSecond,
		Logger:           s.log.With("component", "check"),
	}
	if req.Repair == "apply" {
		opts.Repair = check.RepairApply
	} else {
		opts.Repair, opts.RepairOutput = check.RepairPrint, repairSQL
	}
	if req.Pipeline != "" {
		if p, err := s.Store.PipelineByName(ctx, req.Pipeline); err == nil {
			var cfg pipelineConfigJSON
			if json.Unmarshal([]byte(p.Config), &cfg) == nil && cfg.StateSchema != "" {
				opts.CheckpointSchema = cfg.StateSchema
			}
		}
	}
	var err error
	if opts.Source, err = sourceConfig(ctx, s.Store, req.Source); err != nil {
		return nil, err
	}
	if opts.Target, err = sourceConfig(ctx, s.Store, req.Target); err != nil {
		return nil, err
	}
	for _, m := range req.Map {
		rule, err := check.ParseMapRule(m)
		if err != nil {
			return nil, err
		}
		opts.Map = append(opts.Map, rule)
	}
	if req.ChunkTime != "" {
		if opts.ChunkTime, err = time.ParseDuration(req.ChunkTime); err != nil {
			return nil, fmt.Errorf("chunk_time: %w", err)
		}
	}
	log.Info("check started", "source", req.Source, "target", req.Target, "tables", strings.Join(req.Tables, ","))
	rep, err := check.Run(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("check %s against %s: %w", req.Source, req.Target, err)
	}
	return rep, nil
}

// boundReport keeps a report under maxStored by cutting each table's list
// of differing rows; the counts stay whole.
func boundReport(b []byte) string {
	if len(b) <= maxStored {
		return string(b)
	}
	var rep map[string]any
	if json.Unmarshal(b, &rep) != nil {
		return ""
	}
	if tables, ok := rep["tables"].([]any); ok {
		for _, t := range tables {
			if tm, ok := t.(map[string]any); ok {
				if d, ok := tm["differences"].([]any); ok && len(d) > 1000 {
					tm["differences"] = d[:1000]
				}
			}
		}
	}
	ws, _ := rep["warnings"].([]any)
	rep["warnings"] = append(ws, "the stored report lists at most 1000 differing rows per table; the counts are complete")
	out, _ := json.Marshal(rep)
	return string(out)
}

func (s *Server) listChecks(w http.ResponseWriter, r *http.Request, _ *principal) error {
	limit, err := queryInt(r, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	cs, err := s.Store.Checks(r.Context(), limit)
	if err != nil {
		return err
	}
	out := make([]checkJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toCheckJSON(c, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"checks": out})
	return nil
}

func (s *Server) getCheck(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := s.Store.CheckByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toCheckJSON(c, true))
	return nil
}

func (s *Server) deleteCheck(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteCheck(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return err
		}
		return conflict("%v", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) repairSQL(w http.ResponseWriter, r *http.Request, _ *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	c, err := s.Store.CheckByID(r.Context(), id)
	if err != nil {
		return err
	}
	if c.Status == store.CheckRunning {
		return conflict("check %d is still running; its repair SQL is ready when it finishes", id)
	}
	if c.RepairSQL == "" {
		return conflict("check %d has no repair SQL: it found no differences, could not run, or already repaired them", id)
	}
	w.Header().Set("Content-Type", "application/sql; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sluice-check-%d-repair.sql"`, id))
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(c.RepairSQL))
	return nil
}

func (s *Server) applyRepair(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	c, err := s.Store.CheckByID(ctx, id)
	if err != nil {
		return err
	}
	if c.Status != store.CheckDifferent {
		return conflict("check %d is %s: only a check that found differences can be repaired", id, c.Status)
	}
	var req checkRequest
	if err := json.Unmarshal([]byte(c.Request), &req); err != nil {
		return fmt.Errorf("check %d: stored request: %w", id, err)
	}
	req.Repair = "apply"
	if err := s.validateCheck(ctx, &req); err != nil {
		return err
	}
	nc, err := s.startCheck(ctx, req, p.User.Username, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toCheckJSON(nc, false))
	return nil
}
