package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// ShellConfig is the config of a shell job.
type ShellConfig struct {
	// Command runs with /bin/sh -c.
	Command string `json:"command"`
	// Dir is the working directory; empty is the server's.
	Dir string `json:"dir,omitempty"`
	// Env adds NAME=value variables.
	Env []string `json:"env,omitempty"`
}

// ShellKind runs a shell command. It is off unless the server was started
// with --enable-shell-jobs: a job row is enough to run anything as the
// server's user, so whoever can write the jobs table must be trusted that
// far, and the operator says so explicitly.
type ShellKind struct {
	Enabled bool
}

// Disabled implements Disabler.
func (k ShellKind) Disabled() string {
	if k.Enabled {
		return ""
	}
	return "shell jobs are disabled on this node (start the server with --enable-shell-jobs)"
}

// Validate implements Kind.
func (ShellKind) Validate(config json.RawMessage) error {
	var c ShellConfig
	if err := decodeStrict(config, &c); err != nil {
		return err
	}
	if c.Command == "" {
		return errors.New("command is empty")
	}
	return nil
}

// Run implements Kind.
func (k ShellKind) Run(ctx context.Context, run RunInfo, config json.RawMessage, out io.Writer) error {
	if reason := k.Disabled(); reason != "" {
		return errors.New(reason)
	}
	var c ShellConfig
	if err := decodeStrict(config, &c); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Command)
	cmd.Dir = c.Dir
	cmd.Env = append(cmd.Environ(), c.Env...)
	cmd.Env = append(cmd.Env,
		"SLUICE_JOB="+run.JobName,
		"SLUICE_RUN_ID="+strconv.FormatInt(run.RunID, 10),
		"SLUICE_SCHEDULED_TIME="+run.ScheduledTime.UTC().Format(time.RFC3339Nano),
		"SLUICE_ATTEMPT="+strconv.Itoa(run.Attempt))
	cmd.Stdout, cmd.Stderr = out, out
	// The command gets its own process group, and a cancelled run kills
	// the whole group: a timeout must not leave children behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("command %q: %w", c.Command, context.Cause(ctx))
		}
		return fmt.Errorf("command %q: %w", c.Command, err)
	}
	return nil
}
