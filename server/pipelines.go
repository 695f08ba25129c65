package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/sluice-db/sluice/apply"
	"github.com/sluice-db/sluice/change"
	"github.com/sluice-db/sluice/mysql/capture"
	"github.com/sluice-db/sluice/pipeline"
	"github.com/sluice-db/sluice/store"
)

// pipelineConfigJSON is the sync options of a pipeline as the API takes
// them: pipeline.Config's YAML keys, less name, source and target, which
// the pipeline resource holds (source and target as data source names).
type pipelineConfigJSON struct {
	From        string               `json:"from,omitempty"`
	Snapshot    string               `json:"snapshot,omitempty"`
	Tables      []pipeline.TableRule `json:"tables"`
	Exclude     []string             `json:"exclude,omitempty"`
	Ops         []string             `json:"ops,omitempty"`
	DDL         string               `json:"ddl,omitempty"`
	StateSchema string               `json:"state_schema,omitempty"`
	ServerID    uint32               `json:"server_id,omitempty"`
	Heartbeat   string               `json:"heartbeat,omitempty"`
	Apply       applyJSON            `json:"apply"`
	Skip        []skipRuleJSON       `json:"skip,omitempty"`
	// TwoWay makes the pipeline one direction of a two-way or multi-site
	// channel (docs/two-way.md).
	TwoWay *pipeline.TwoWayConfig `json:"two_way,omitempty"`
}

type applyJSON struct {
	Workers          int  `json:"workers,omitempty"`
	MaxGroupRows     int  `json:"max_group_rows,omitempty"`
	MaxGroupTxns     int  `json:"max_group_txns,omitempty"`
	ForeignKeyChecks bool `json:"foreign_key_checks,omitempty"`
}

type skipRuleJSON struct {
	GTID     string `json:"gtid,omitempty"`
	Position string `json:"position,omitempty"`
}

type pipelineInput struct {
	Name            string             `json:"name"`
	Description     string             `json:"description"`
	Source          string             `json:"source"`
	Target          string             `json:"target"`
	Channel         string             `json:"channel"`
	Config          pipelineConfigJSON `json:"config"`
	AlertLagSeconds float64            `json:"alert_lag_seconds"`
	AlertLagFor     string             `json:"alert_lag_for"`
}

type pipelineJSON struct {
	Name            string             `json:"name"`
	Description     string             `json:"description"`
	Source          string             `json:"source"`
	Target          string             `json:"target"`
	Channel         string             `json:"channel"`
	Config          pipelineConfigJSON `json:"config"`
	AlertLagSeconds float64            `json:"alert_lag_seconds"`
	AlertLagFor     string             `json:"alert_lag_for"`
	DesiredState    string             `json:"desired_state"`
	Status          pipelineStatusJSON `json:"status"`
	CreatedAt       time.Time          `json:"created_at"`
	UpdatedAt       time.Time          `json:"updated_at"`
}

// pipelineStatusJSON is a pipeline's status as the API, the event stream
// and the lease row (for other nodes) carry it.
type pipelineStatusJSON struct {
	Name          string           `json:"name"`
	State         string           `json:"state"`
	Node          string           `json:"node,omitempty"`
	Position      *change.Position `json:"position,omitempty"`
	ReadPosition  *change.Position `json:"read_position,omitempty"`
	LagSeconds    float64          `json:"lag_seconds"`
	RowsPerSecond float64          `json:"rows_per_second"`
	TxnsPerSecond float64          `json:"txns_per_second"`
	RowsApplied   uint64           `json:"rows_applied"`
	TxnsApplied   uint64           `json:"txns_applied"`
	DDLsApplied   uint64           `json:"ddls_applied"`
	TxnsSkipped   uint64           `json:"txns_skipped"`
	Conflicts     uint64           `json:"conflicts"`
	Restarts      int              `json:"restarts"`
	Error         string           `json:"error,omitempty"`
	ErrorTime     *time.Time       `json:"error_time"`
	StartedAt     *time.Time       `json:"started_at"`
	LastCommitAt  *time.Time       `json:"last_commit_at"`
	SampledAt     time.Time        `json:"sampled_at"`
}

// Pipeline states the API adds to the runner's.
const (
	statePending  = "pending"
	stateStopping = "stopping"
	desiredRun    = "running"
	desiredStop   = "stopped"
)

// runtimeConfig is the pipeline.Config for a stored config and the URLs
// of its data sources.
func (c pipelineConfigJSON) runtimeConfig(name, srcURL, tgtURL string) (*pipeline.Config, error) {
	cfg := &pipeline.Config{Name: name, Source: srcURL, Target: tgtURL, From: c.From, Snapshot: c.Snapshot,
		Tables: c.Tables, Exclude: c.Exclude, Ops: c.Ops, DDL: c.DDL, StateSchema: c.StateSchema, ServerID: c.ServerID,
		Apply: pipeline.ApplyConfig{Workers: c.Apply.Workers, MaxGroupRows: c.Apply.MaxGroupRows, MaxGroupTxns: c.Apply.MaxGroupTxns,
			ForeignKeyChecks: c.Apply.ForeignKeyChecks}, TwoWay: c.TwoWay}
	if c.Heartbeat != "" {
		d, err := time.ParseDuration(c.Heartbeat)
		if err != nil {
			return nil, fmt.Errorf("heartbeat: %q is not a duration (e.g. 1s)", c.Heartbeat)
		}
		cfg.Heartbeat = pipeline.Duration(d)
	}
	for _, sk := range c.Skip {
		cfg.Skip = append(cfg.Skip, pipeline.SkipRule{GTID: sk.GTID, Position: sk.Position})
	}
	return cfg, nil
}

// fieldToken is one "field: " prefix of a pipeline.Config.Validate error
// ("tables: tables[0]: ...", "apply.workers: ...").
var fieldToken = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)?(?:\[\d+\])?): `)

// pipelineValidationError turns an error of pipeline.Config.Validate into
// a 422 naming the API's field path: the innermost field its message
// starts with.
func pipelineValidationError(err error) error {
	msg := err.Error()
	field, rest := "", msg
	for {
		m := fieldToken.FindStringSubmatch(rest)
		if m == nil {
			break
		}
		field, rest = m[1], rest[len(m[0]):]
	}
	switch field {
	case "name", "source", "target":
	case "":
		field = "config"
	default:
		field = "config." + field
	}
	return invalid(field, "%s", msg)
}

// validatePipeline checks an input as `sluice sync` checks a YAML file,
// and that the data sources and channel it names exist. It returns the
// config with defaults filled in, as it is stored.
func (s *Server) validatePipeline(ctx context.Context, in *pipelineInput) error {
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	for _, f := range []struct{ field, name string }{{"source", in.Source}, {"target", in.Target}} {
		if f.name == "" {
			return invalid(f.field, "%s: name the data source to %s (create it under /api/v1/data-sources first)", f.field, map[string]string{"source": "read from", "target": "write to"}[f.field])
		}
		if _, err := s.Store.DataSource(ctx, f.name); errors.Is(err, store.ErrNotFound) {
			return invalid(f.field, "%s: data source %q does not exist", f.field, f.name)
		} else if err != nil {
			return err
		}
	}
	if in.Channel != "" {
		if _, err := s.Store.ChannelByName(ctx, in.Channel); errors.Is(err, store.ErrNotFound) {
			return invalid("channel", "channel %q does not exist", in.Channel)
		} else if err != nil {
			return err
		}
	}
	if in.AlertLagSeconds < 0 {
		return invalid("alert_lag_seconds", "alert_lag_seconds must not be negative")
	}
	if _, err := parseDuration("alert_lag_for", in.AlertLagFor, 0); err != nil {
		return err
	}
	if in.Config.Heartbeat != "" {
		if _, err := parseDuration("config.heartbeat", in.Config.Heartbeat, 0); err != nil {
			return err
		}
	}
	// Validate sees placeholder URLs: the data sources were checked above,
	// and their passwords must not be needed to check a config.
	cfg, err := in.Config.runtimeConfig(in.Name, "mysql://source.invalid", "mysql://target.invalid")
	if err != nil {
		return invalid("config.heartbeat", "%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return pipelineValidationError(err)
	}
	if in.Config.From != "" {
		if err := validateFrom(in.Config.From); err != nil {
			return invalid("config.from", "from: %v", err)
		}
	}
	in.Config.Snapshot, in.Config.DDL, in.Config.StateSchema = cfg.Snapshot, cfg.DDL, cfg.StateSchema
	return nil
}

func (s *Server) pipelineJSON(ctx context.Context, p store.Pipeline, leases map[string]store.PipelineLease) (pipelineJSON, error) {
	out := pipelineJSON{Name: p.Name, Description: p.Description, Source: p.Source, Target: p.Target, Channel: p.Channel,
		AlertLagSeconds: p.AlertLagSeconds, AlertLagFor: durationString(p.AlertLagFor), DesiredState: p.DesiredState,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
	if err := json.Unmarshal([]byte(p.Config), &out.Config); err != nil {
		return out, fmt.Errorf("pipeline %q: stored config: %w", p.Name, err)
	}
	if out.Config.Tables == nil {
		out.Config.Tables = []pipeline.TableRule{}
	}
	out.Status = s.statusOf(p, leases)
	return out, nil
}

// statusOf is a pipeline's status: this node's latest sample when it runs
// the pipeline, else the sample its owner stored in the lease row.
func (s *Server) statusOf(p store.Pipeline, leases map[string]store.PipelineLease) pipelineStatusJSON {
	if st, ok := s.supervisor.sample(p.Name); ok {
		return st
	}
	var st pipelineStatusJSON
	l, ok := leases[p.Name]
	if ok && l.Status != "" {
		json.Unmarshal([]byte(l.Status), &st)
	}
	st.Name = p.Name
	switch {
	case ok && l.Live:
		st.Node = l.NodeID
	case p.DesiredState == desiredRun:
		st.State, st.Node, st.LagSeconds, st.RowsPerSecond, st.TxnsPerSecond = statePending, "", 0, 0, 0
	default:
		st.State, st.Node, st.LagSeconds, st.RowsPerSecond, st.TxnsPerSecond = string(pipeline.Stopped), "", 0, 0, 0
	}
	if st.SampledAt.IsZero() {
		st.SampledAt = time.Now().UTC()
	}
	return st
}

func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	channel := r.URL.Query().Get("channel")
	out, err := s.pipelinesJSON(ctx, channel)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": out})
	return nil
}

func (s *Server) pipelinesJSON(ctx context.Context, channel string) ([]pipelineJSON, error) {
	ps, err := s.Store.Pipelines(ctx, channel)
	if err != nil {
		return nil, err
	}
	leases, err := s.Store.PipelineLeases(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]pipelineJSON, 0, len(ps))
	for _, p := range ps {
		pj, err := s.pipelineJSON(ctx, p, leases)
		if err != nil {
			return nil, err
		}
		out = append(out, pj)
	}
	return out, nil
}

// answerPipeline writes a pipeline as it is now.
func (s *Server) answerPipeline(w http.ResponseWriter, r *http.Request, name string, status int) error {
	ctx := r.Context()
	p, err := s.Store.PipelineByName(ctx, name)
	if err != nil {
		return err
	}
	leases, err := s.Store.PipelineLeases(ctx)
	if err != nil {
		return err
	}
	pj, err := s.pipelineJSON(ctx, p, leases)
	if err != nil {
		return err
	}
	writeJSON(w, status, pj)
	return nil
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	return s.answerPipeline(w, r, r.PathValue("name"), http.StatusOK)
}

func (s *Server) pipelineStatus(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	p, err := s.Store.PipelineByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	leases, err := s.Store.PipelineLeases(ctx)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.statusOf(p, leases))
	return nil
}

func (in pipelineInput) toStore() (store.Pipeline, error) {
	b, err := json.Marshal(in.Config)
	if err != nil {
		return store.Pipeline{}, fmt.Errorf("encode pipeline config: %w", err)
	}
	lagFor, _ := time.ParseDuration(in.AlertLagFor)
	return store.Pipeline{Name: in.Name, Description: in.Description, Source: in.Source, Target: in.Target, Channel: in.Channel,
		Config: string(b), AlertLagSeconds: in.AlertLagSeconds, AlertLagFor: lagFor}, nil
}

func (s *Server) createPipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in pipelineInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.validatePipeline(ctx, &in); err != nil {
		return err
	}
	p, err := in.toStore()
	if err != nil {
		return err
	}
	p.DesiredState = desiredStop
	if _, err := s.Store.CreatePipeline(ctx, p); errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, codeAlreadyExists, "pipeline %q already exists", in.Name)
	} else if err != nil {
		return err
	}
	s.log.Info("pipeline created", "pipeline", in.Name, "source", in.Source, "target", in.Target)
	return s.answerPipeline(w, r, in.Name, http.StatusCreated)
}

func (s *Server) updatePipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in pipelineInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if in.Name == "" {
		in.Name = name
	}
	if in.Name != name {
		return invalid("name", "name %q differs from the path's %q: a pipeline cannot be renamed (its checkpoint is keyed by the name)", in.Name, name)
	}
	ctx := r.Context()
	if _, err := s.Store.PipelineByName(ctx, name); err != nil {
		return err
	}
	if err := s.validatePipeline(ctx, &in); err != nil {
		return err
	}
	p, err := in.toStore()
	if err != nil {
		return err
	}
	if err := s.Store.UpdatePipeline(ctx, p); err != nil {
		return err
	}
	s.supervisor.kick()
	return s.answerPipeline(w, r, name, http.StatusOK)
}

// runningAnywhere says whether some node still runs the pipeline.
func (s *Server) runningAnywhere(ctx context.Context, name string) (bool, error) {
	if s.supervisor.owns(name) {
		return true, nil
	}
	leases, err := s.Store.PipelineLeases(ctx)
	if err != nil {
		return false, err
	}
	return leases[name].Live, nil
}

func (s *Server) deletePipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := s.Store.PipelineByName(ctx, name)
	if err != nil {
		return err
	}
	running, err := s.runningAnywhere(ctx, name)
	if err != nil {
		return err
	}
	if p.DesiredState == desiredRun || running {
		return conflict("pipeline %q is running; stop it first (POST /api/v1/pipelines/%s/stop)", name, name)
	}
	if err := s.Store.DeletePipeline(ctx, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) startPipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := s.Store.PipelineByName(ctx, name)
	if err != nil {
		return err
	}
	if p.DesiredState != desiredRun {
		// Refuse a start that could only fail: both servers must answer.
		for _, ds := range []string{p.Source, p.Target} {
			d, err := s.Store.DataSource(ctx, ds)
			if err != nil {
				return err
			}
			db, err := openDataSource(ctx, d)
			if err != nil {
				return err
			}
			db.Close()
		}
		if err := s.Store.SetPipelineDesired(ctx, name, desiredRun); err != nil {
			return err
		}
		s.log.Info("pipeline start requested", "pipeline", name)
		s.supervisor.kick()
	}
	return s.answerPipeline(w, r, name, http.StatusOK)
}

func (s *Server) stopPipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	name := r.PathValue("name")
	if err := s.Store.SetPipelineDesired(r.Context(), name, desiredStop); err != nil {
		return err
	}
	s.log.Info("pipeline stop requested", "pipeline", name)
	s.supervisor.kick()
	return s.answerPipeline(w, r, name, http.StatusOK)
}

func (s *Server) resumePipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := s.Store.PipelineByName(ctx, name)
	if err != nil {
		return err
	}
	if p.DesiredState != desiredRun {
		return conflict("pipeline %q is stopped; start it instead (POST /api/v1/pipelines/%s/start)", name, name)
	}
	if err := s.Store.RequestPipelineResume(ctx, name); err != nil {
		return err
	}
	s.supervisor.kick()
	return s.answerPipeline(w, r, name, http.StatusOK)
}

func (s *Server) skipTransaction(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var rule skipRuleJSON
	if err := decodeJSON(w, r, &rule); err != nil {
		return err
	}
	if (rule.GTID == "") == (rule.Position == "") {
		return invalid("gtid", "give exactly one of gtid (the transaction's GTID) or position (its end, FILE:POS)")
	}
	if rule.Position != "" {
		if _, ok := change.ParseFilePos(rule.Position); !ok {
			return invalid("position", "position %q must be FILE:POS, e.g. mysql-bin.000003:1234", rule.Position)
		}
	}
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := s.Store.PipelineByName(ctx, name)
	if err != nil {
		return err
	}
	var in pipelineInput
	in.Name, in.Description, in.Source, in.Target, in.Channel = p.Name, p.Description, p.Source, p.Target, p.Channel
	in.AlertLagSeconds, in.AlertLagFor = p.AlertLagSeconds, durationString(p.AlertLagFor)
	if err := json.Unmarshal([]byte(p.Config), &in.Config); err != nil {
		return fmt.Errorf("pipeline %q: stored config: %w", name, err)
	}
	for _, have := range in.Config.Skip {
		if have == rule {
			return s.answerPipeline(w, r, name, http.StatusOK)
		}
	}
	in.Config.Skip = append(in.Config.Skip, rule)
	np, err := in.toStore()
	if err != nil {
		return err
	}
	// The new config version makes the owner restart the runner from its
	// checkpoint with the rule, which also ends a pause.
	if err := s.Store.UpdatePipeline(ctx, np); err != nil {
		return err
	}
	s.log.Warn("skip rule added", "pipeline", name, "gtid", rule.GTID, "position", rule.Position)
	s.supervisor.kick()
	return s.answerPipeline(w, r, name, http.StatusOK)
}

type resetRequest struct {
	Position string `json:"position"`
	GTID     string `json:"gtid"`
	Start    string `json:"start"`
}

func (s *Server) resetPipeline(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req resetRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	n := 0
	for _, v := range []string{req.Position, req.GTID, req.Start} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return invalid("position", "give exactly one of position (FILE:POS), gtid (a GTID set) or start (\"now\")")
	}
	var pos change.Position
	switch {
	case req.Position != "":
		p, ok := change.ParseFilePos(req.Position)
		if !ok {
			return invalid("position", "position %q must be FILE:POS, e.g. mysql-bin.000003:4", req.Position)
		}
		pos = p
	case req.GTID != "":
		st, err := capture.ParseStart(req.GTID, time.UTC)
		if err != nil || st.Kind != capture.StartPosition || st.Position.GTID == "" {
			return invalid("gtid", "gtid %q is not a GTID set (MariaDB 0-1-42, MySQL uuid:1-42)", req.GTID)
		}
		pos = st.Position
	case req.Start != "now":
		return invalid("start", "start %q: only \"now\" is supported", req.Start)
	}
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := s.Store.PipelineByName(ctx, name)
	if err != nil {
		return err
	}
	running, err := s.runningAnywhere(ctx, name)
	if err != nil {
		return err
	}
	if p.DesiredState == desiredRun || running {
		return conflict("pipeline %q must be stopped before its position is reset; stop it and wait until its state is stopped", name)
	}
	var cfg pipelineConfigJSON
	if err := json.Unmarshal([]byte(p.Config), &cfg); err != nil {
		return fmt.Errorf("pipeline %q: stored config: %w", name, err)
	}
	if req.Start == "now" {
		src, err := s.Store.DataSource(ctx, p.Source)
		if err != nil {
			return err
		}
		if pos, err = currentPosition(ctx, src); err != nil {
			return err
		}
	}
	tgt, err := s.Store.DataSource(ctx, p.Target)
	if err != nil {
		return err
	}
	db, err := openDataSource(ctx, tgt)
	if err != nil {
		return err
	}
	defer db.Close()
	schema := cfg.StateSchema
	if schema == "" {
		schema = "sluice"
	}
	if err := apply.ResetCheckpoint(ctx, db, schema, name, pos); err != nil {
		return connectionFailed("reset the checkpoint of pipeline %q in data source %q: %v", name, p.Target, err)
	}
	s.log.Warn("pipeline checkpoint reset", "pipeline", name, "position", pos.String())
	s.supervisor.forgetSample(name, pos)
	return s.answerPipeline(w, r, name, http.StatusOK)
}

// currentPosition reads a source's current binlog position.
func currentPosition(ctx context.Context, d store.DataSource) (change.Position, error) {
	db, err := openDataSource(ctx, d)
	if err != nil {
		return change.Position{}, err
	}
	defer db.Close()
	for _, q := range []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			continue // MariaDB and MySQL before 8.2 know only the second
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		var file string
		var pos uint64
		for i := range vals {
			vals[i] = new(any)
		}
		vals[0], vals[1] = &file, &pos
		ok := rows.Next()
		if ok {
			err = rows.Scan(vals...)
		}
		rows.Close()
		if err != nil {
			return change.Position{}, connectionFailed("data source %q: %s: %v", d.Name, q, err)
		}
		if !ok {
			return change.Position{}, connectionFailed("data source %q has no binary log (log_bin is off): it cannot be a source", d.Name)
		}
		return change.Position{File: file, Offset: pos}, nil
	}
	return change.Position{}, connectionFailed("data source %q: cannot read its binlog position (SHOW MASTER STATUS needs the REPLICATION CLIENT privilege)", d.Name)
}

type previewRequest struct {
	Source  string               `json:"source"`
	Tables  []pipeline.TableRule `json:"tables"`
	Exclude []string             `json:"exclude"`
}

type previewTable struct {
	Source  string   `json:"source"`
	Target  string   `json:"target"`
	Columns []string `json:"columns,omitempty"`
}

func (s *Server) previewSelection(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req previewRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	sel := &pipeline.Selection{Rules: req.Tables, Exclude: req.Exclude, Ops: pipeline.AllOps()}
	if err := sel.Validate(); err != nil {
		return pipelineValidationError(fmt.Errorf("tables: %w", err))
	}
	ctx := r.Context()
	d, err := s.Store.DataSource(ctx, req.Source)
	if errors.Is(err, store.ErrNotFound) {
		return invalid("source", "source: data source %q does not exist", req.Source)
	}
	if err != nil {
		return err
	}
	ts, err := sourceTables(ctx, d)
	if err != nil {
		return err
	}
	out := []previewTable{}
	for _, t := range ts {
		rule := sel.Match(t.Schema, t.Table)
		if rule == nil {
			continue
		}
		tsch, ttab := rule.TargetName(t.Schema, t.Table)
		out = append(out, previewTable{Source: t.Schema + "." + t.Table, Target: tsch + "." + ttab, Columns: rule.Columns})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": out})
	return nil
}

// validateFrom checks a pipeline's from the way the runner reads it.
func validateFrom(from string) error {
	_, err := capture.ParseStart(from, time.UTC)
	return err
}
