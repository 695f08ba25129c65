// Command sluice keeps MySQL data in step across data centers: it tails
// binlogs, syncs one server to another one-way or two-way, checks that copies
// match, and runs a server with a web console and a scheduler.
//
// Each subcommand lives in its own file.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a process exit status out of a subcommand, for commands
// whose status means something (sluice check exits 1 on differences).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			os.Exit(code)
		}
	}
	fmt.Fprintln(os.Stderr, "sluice:", err)
	os.Exit(code)
}

// globalFlags are the options every subcommand shares.
type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Keep MySQL data in step across data centers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(
		newVersionCommand(),
		newCheckCommand(g),
		newTailCommand(g),
		newServerCommand(g),
		newJobCommand(g),
		newSyncCommand(g),
		newDemoCommand(g),
	)
	return root
}

// logger builds the process logger from the flags. Logs go to stderr; stdout
// belongs to the command's output.
func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)
}
