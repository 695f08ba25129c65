package schedule

import (
	"context"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kind is a kind of job: what one attempt of a run does. Adding a kind is
// implementing this and registering it in Kinds.
type Kind interface {
	// Validate checks a job's config when the job is saved or loaded.
	Validate(config json.RawMessage) error
	// Run performs one attempt. It writes what a person wants to read
	// afterwards to out (the scheduler keeps the first 64 KiB), honours ctx
	// (cancelled on timeout, replace, or when the node loses its lease),
	// and returns an error when the attempt failed.
	Run(ctx context.Context, run RunInfo, config json.RawMessage, out io.Writer) error
}

// Disabler is implemented by a kind that a node may have switched off
// (shell jobs without --enable-shell-jobs).
type Disabler interface {
	// Disabled returns why the kind is off on this node, or "".
	Disabled() string
}

// RunInfo tells a kind which run it performs.
type RunInfo struct {
	RunID         int64
	JobID         int64
	JobName       string
	ScheduledTime time.Time
	Attempt       int
	NodeID        string
}

// Kinds maps kind names to kinds.
type Kinds map[string]Kind

func (k Kinds) names() string {
	var ns []string
	for n := range k {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

// disabled reports why a kind cannot run on this node, or "".
func (k Kinds) disabled(name string) string {
	kind, ok := k[name]
	if !ok {
		return "unknown job kind " + name
	}
	if d, ok := kind.(Disabler); ok {
		return d.Disabled()
	}
	return ""
}

// MaxOutput is how much of a run's output is kept.
const MaxOutput = 64 << 10

// boundedOutput keeps the first max bytes written to it and notes that the
// rest was cut. It is safe for concurrent writers (a command's stdout and
// stderr).
type boundedOutput struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated int64
}

func (b *boundedOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.buf)
	if room >= len(p) {
		b.buf = append(b.buf, p...)
	} else {
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		b.truncated += int64(len(p) - max(room, 0))
	}
	return len(p), nil
}

// len is how much was kept.
func (b *boundedOutput) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) + int(min(b.truncated, 1))
}

func (b *boundedOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.ToValidUTF8(string(b.buf), "\uFFFD")
	if b.truncated > 0 {
		s += "\n[output truncated: " + itoa(b.truncated) + " more bytes]"
	}
	return s
}
