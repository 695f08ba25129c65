package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// CheckConfig is the config of a check job: a consistency check between two
// data sources, with the options `sluice check` takes.
type CheckConfig struct {
	Source         string   `json:"source"` // data source name
	Target         string   `json:"target"` // data source name
	Tables         []string `json:"tables"` // "schema.table" patterns, * and ? allowed
	Map            []string `json:"map,omitempty"`
	ExcludeColumns []string `json:"exclude_columns,omitempty"`
	// TargetPosition: auto, pipeline, replica or none.
	TargetPosition string `json:"target_position,omitempty"`
	Pipeline       string `json:"pipeline,omitempty"`
	// Repair: "" (report only) or "apply".
	Repair           string `json:"repair,omitempty"`
	MaxRowsPerSecond int64  `json:"max_rows_per_second,omitempty"`
	ChunkTime        string `json:"chunk_time,omitempty"` // Go duration
}

// CheckRunner runs one consistency check for a check job and writes its
// report to out; it returns an error when the check could not run or found
// differences. The server supplies it from the check package.
type CheckRunner func(ctx context.Context, cfg CheckConfig, out io.Writer) error

// CheckKind runs a consistency check with stored options.
type CheckKind struct {
	Runner CheckRunner
}

// Disabled implements Disabler.
func (k CheckKind) Disabled() string {
	if k.Runner == nil {
		return "check jobs need the check package's runner, which this build does not wire in yet"
	}
	return ""
}

// Validate implements Kind.
func (CheckKind) Validate(config json.RawMessage) error {
	var c CheckConfig
	if err := decodeStrict(config, &c); err != nil {
		return err
	}
	if c.Source == "" || c.Target == "" {
		return errors.New("source and target data sources are required")
	}
	if len(c.Tables) == 0 {
		return errors.New("at least one table pattern is required")
	}
	switch c.TargetPosition {
	case "", "auto", "pipeline", "replica", "none":
	default:
		return errors.New("target_position must be auto, pipeline, replica or none")
	}
	if c.TargetPosition == "pipeline" && c.Pipeline == "" {
		return errors.New("target_position pipeline needs a pipeline")
	}
	switch c.Repair {
	case "", "apply":
	default:
		return errors.New(`repair must be "" or "apply"`)
	}
	if c.ChunkTime != "" {
		if _, err := time.ParseDuration(c.ChunkTime); err != nil {
			return errors.New("chunk_time must be a duration like 500ms")
		}
	}
	return nil
}

// Run implements Kind.
func (k CheckKind) Run(ctx context.Context, run RunInfo, config json.RawMessage, out io.Writer) error {
	if reason := k.Disabled(); reason != "" {
		return errors.New(reason)
	}
	var c CheckConfig
	if err := decodeStrict(config, &c); err != nil {
		return err
	}
	return k.Runner(ctx, c, out)
}
