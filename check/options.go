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
// repair transaction also writes a mark row naming Channel, so that the
// channel's pipeline reading the target drops the repair instead of sending
// it back. The default layout is the two-way sync's (docs/two-way.md); the
// column names are configurable.
type Mark struct {
	Table   string // schema.table; default sluice.mark
	Channel string
	// Writer and Origin fill the row's writer (pipeline) and origin
	// columns. The check writes a row of its own (writer Writer, worker 0),
	// so that it never waits on a pipeline's. Both default to
	// "sluice-check"; in a star or mesh, Origin may name the source's site.
	Writer string
	Origin string
	// Columns names the table's columns.
	Columns MarkColumns
}

// MarkColumns are the mark table's column names; "-" leaves an optional
// one out.
type MarkColumns struct {
	Channel string // default "channel"
	Writer  string // default "pipeline"; optional
	Worker  string // default "worker", set to 0; optional
	Origin  string // default "origin"; optional
	// Counter (default "n") is incremented on every write, so that the
	// write is always a real change and its row event reaches the binlog.
	Counter string
}

func (m *Mark) setDefaults() {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&m.Table, "sluice.mark")
	def(&m.Writer, "sluice-check")
	def(&m.Origin, "sluice-check")
	def(&m.Columns.Channel, "channel")
	def(&m.Columns.Writer, "pipeline")
	def(&m.Columns.Worker, "worker")
	def(&m.Columns.Origin, "origin")
	def(&m.Columns.Counter, "n")
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
	// compares per-row hashes. A larger leaf means fewer round trips and
	// more rows transferred; it also bounds the memory one narrowing holds.
	LeafRows int64
	// VerifyRounds bounds how often a candidate row whose source image keeps
	// changing is re-read before it is reported as unsettled.
	VerifyRounds int
	// RecheckDelay separates the re-reads of a candidate in PositionNone.
	RecheckDelay time.Duration

	// Parallel is how many chunk checksums run at once on each server (and
	// how many tables are open at once). A chunk's source and target
	// checksums run at the same time when the target already holds the
	// chunk's source position.
	Parallel int

	// MaxRowsPerSecond caps the rate at which source rows are read; 0 is no
	// cap. MaxThreadsRunning pauses the check while the source's
	// Threads_running is above it; 0 turns that off.
	MaxRowsPerSecond  int64
	MaxThreadsRunning int64

	// StateFile, when set, saves progress after each chunk so that a killed
	// check continues from its last finished chunk.
	StateFile string
	// StateName, when set, saves the same progress in the target, in
	// StateSchema.check_progress under this name (docs/check.md), so that a
	// check run from any machine or by the scheduler resumes.
	StateName   string
	StateSchema string

	Repair       RepairMode
	RepairOutput io.Writer // for RepairPrint
	Mark         *Mark     // for RepairApply in a two-way channel

	// Hash forces the row hash: "auto" (default), "crc" (CRC32 and CRC32C,
	// MariaDB 10.8+) or "md5".
	Hash string

	Logger *slog.Logger

	// hooks are for tests in this package: they observe or steer a run.
	hooks hooks
}

// hooks let tests interrupt a check at a known point and drive its clock.
type hooks struct {
	// afterChunk runs each time a table's finished prefix grows, with the
	// table's source name and its finished chunk count.
	afterChunk func(table string, chunks int64)
	// clock replaces the real clock of the throttle, and probeEvery its
	// one-second load probe interval.
	clock      clock
	probeEvery time.Duration
	// onPause and onResume run when the throttle pauses for source load
	// and when it resumes.
	onPause, onResume func(threadsRunning int64)
	// onSplit runs each time narrowing cuts a mismatching range into parts.
	onSplit func(parts int)
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
		o.LeafRows = 10000
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
	if o.StateName != "" && o.StateSchema == "" {
		o.StateSchema = "sluice"
	}
	if o.Mark != nil {
		m := *o.Mark
		m.setDefaults()
		o.Mark = &m
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
		if o.Mark.Columns.Channel == "-" || o.Mark.Columns.Counter == "-" {
			errs = append(errs, "the mark table's channel and counter columns cannot be left out")
		}
	}
	if o.StateName != "" && len(o.StateName) > 191 {
		errs = append(errs, "the state name is longer than 191 characters")
	}
	switch o.Hash {
	case "auto", "crc", "md5":
	default:
		errs = append(errs, fmt.Sprintf("hash must be auto, crc or md5, not %q", o.Hash))
	}
	if o.ChunkTime < 0 || o.InitialChunkRows < 0 || o.MaxChunkRows < 0 || o.LeafRows < 0 || o.MaxRowsPerSecond < 0 || o.MaxThreadsRunning < 0 || o.Parallel < 0 {
		errs = append(errs, "sizes, rates and times must not be negative")
	}
	if len(errs) > 0 {
		return errors.New("check options: " + strings.Join(errs, "; "))
	}
	return nil
}
