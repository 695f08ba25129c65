package check

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-db/sluice/mysql/source"
)

// RepairMode says what a check does with the differences it confirms.
type RepairMode string

const (
	RepairNone  RepairMode = ""
	RepairPrint RepairMode = "print" // write REPLACE/DELETE statements
	RepairApply RepairMode = "apply" // apply them, guarded, to the target
)

// PositionMode says how the check learns which source position the target
// has applied, so that rows still in flight are not reported.
type PositionMode string

const (
	// PositionAuto uses the pipeline checkpoint when Pipeline is set, the
	// target's replication status when it is a native replica of the source,
	// and no position otherwise.
	PositionAuto PositionMode = "auto"
	// PositionPipeline reads the pipeline's row in the target's checkpoint
	// table (docs/target-schema.md).
	PositionPipeline PositionMode = "pipeline"
	// PositionReplica waits with MASTER_POS_WAIT on a native replica.
	PositionReplica PositionMode = "replica"
	// PositionNone compares without a position: mismatches are re-checked
	// after RecheckDelay, which is right only when nothing is in flight.
	PositionNone PositionMode = "none"
)

// Mark names the mark table a two-way channel uses to break loops: every
// repair transaction writes one row naming Channel into Table, so that the
// channel's capture on the other side drops the repair.
type Mark struct {
	Table   string // schema.table
	Channel string
}

// Options is one check: what to compare, how, and what to do with the
// differences. The CLI fills it from flags; a pipeline fills it from its
// mapping (Tables, Map and ExcludeColumns use source names).
type Options struct {
	Source source.Config
	Target source.Config

	// Tables are source table patterns "schema.table"; * and ? match within
	// one part ("shop.*").
	Tables []string
	// Map renames source tables on the target, first match wins.
	Map []MapRule
	// ExcludeColumns are "schema.table.column" patterns (source names) of
	// columns left out of the comparison and of repairs.
	ExcludeColumns []string

	// TargetPosition chooses how the target's applied position is learned.
	TargetPosition PositionMode
	// Pipeline is the pipeline whose checkpoint row tells the target's
	// position; CheckpointSchema is the schema holding `checkpoint`.
	Pipeline         string
	CheckpointSchema string
	// WaitTimeout bounds one wait for the target to reach a position.
	WaitTimeout time.Duration

	// ChunkTime is the time one chunk checksum should take on the source;
	// chunk sizes adapt toward it from InitialChunkRows.
	ChunkTime        time.Duration
	InitialChunkRows int64
	MaxChunkRows     int64
	// LeafRows is where narrowing stops splitting a mismatching range and
	// compares per-row hashes.
	LeafRows int64
	// VerifyRounds bounds how often a candidate row whose source image keeps
	// changing is re-read before it is reported as unsettled.
	VerifyRounds int
	// RecheckDelay separates the re-reads of a candidate in PositionNone.
	RecheckDelay time.Duration

	// Parallel is how many tables are compared at once.
	Parallel int

	// MaxRowsPerSecond caps the rate at which source rows are read; 0 is no
	// cap. MaxThreadsRunning pauses the check while the source's
	// Threads_running is above it; 0 turns that off.
	MaxRowsPerSecond  int64
	MaxThreadsRunning int64

	// StateFile, when set, saves progress after each chunk so that a killed
	// check continues from its last finished chunk.
	StateFile string

	Repair       RepairMode
	RepairOutput io.Writer // for RepairPrint
	Mark         *Mark     // for RepairApply in a two-way channel

	// Hash forces the row hash: "auto" (default), "crc" (CRC32 and CRC32C,
	// MariaDB 10.8+) or "md5".
	Hash string

	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TargetPosition == "" {
		o.TargetPosition = PositionAuto
	}
	if o.CheckpointSchema == "" {
		o.CheckpointSchema = "sluice"
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = 5 * time.Minute
	}
	if o.ChunkTime == 0 {
		o.ChunkTime = 500 * time.Millisecond
	}
	if o.InitialChunkRows == 0 {
		o.InitialChunkRows = 2000
	}
	if o.MaxChunkRows == 0 {
		o.MaxChunkRows = 2_000_000
	}
	if o.LeafRows == 0 {
		o.LeafRows = 500
	}
	if o.VerifyRounds == 0 {
		o.VerifyRounds = 10
	}
	if o.RecheckDelay == 0 {
		o.RecheckDelay = time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.Hash == "" {
		o.Hash = "auto"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

func (o *Options) validate() error {
	var errs []string
	if o.Source.Host == "" {
		errs = append(errs, "a source is required")
	}
	if o.Target.Host == "" {
		errs = append(errs, "a target is required")
	}
	if len(o.Tables) == 0 {
		errs = append(errs, "at least one table pattern is required")
	}
	for _, p := range o.Tables {
		if _, _, err := splitTablePattern(p); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, p := range o.ExcludeColumns {
		if strings.Count(p, ".") != 2 {
			errs = append(errs, fmt.Sprintf("excluded column %q must be schema.table.column", p))
		}
	}
	switch o.TargetPosition {
	case PositionAuto, PositionNone, PositionReplica:
	case PositionPipeline:
		if o.Pipeline == "" {
			errs = append(errs, "target position \"pipeline\" needs a pipeline name")
		}
	default:
		errs = append(errs, fmt.Sprintf("target position must be auto, pipeline, replica or none, not %q", o.TargetPosition))
	}
	switch o.Repair {
	case RepairNone, RepairApply:
	case RepairPrint:
		if o.RepairOutput == nil {
			errs = append(errs, "repair print needs an output")
		}
	default:
		errs = append(errs, fmt.Sprintf("repair must be print or apply, not %q", o.Repair))
	}
	if o.Mark != nil {
		if strings.Count(o.Mark.Table, ".") != 1 {
			errs = append(errs, fmt.Sprintf("mark table %q must be schema.table", o.Mark.Table))
		}
		if o.Mark.Channel == "" {
			errs = append(errs, "a mark table needs a channel name")
		}
	}
	switch o.Hash {
	case "auto", "crc", "md5":
	default:
		errs = append(errs, fmt.Sprintf("hash must be auto, crc or md5, not %q", o.Hash))
	}
	if o.ChunkTime < 0 || o.InitialChunkRows < 0 || o.MaxChunkRows < 0 || o.LeafRows < 0 || o.MaxRowsPerSecond < 0 || o.MaxThreadsRunning < 0 {
		errs = append(errs, "sizes, rates and times must not be negative")
	}
	if len(errs) > 0 {
		return errors.New("check options: " + strings.Join(errs, "; "))
	}
	return nil
}
