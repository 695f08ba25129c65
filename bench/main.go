// Command bench runs sluice's benchmarks against their peers, in the same run,
// and prints the ratio with the absolute figures (see docs/benchmarks.md).
// Each benchmark starts what it needs itself: throwaway MariaDB servers,
// sysbench and the peer.
//
//	go run ./bench decode|capture|catchup|lag|snapshot|check|check-live|schedule
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"syscall"
)

// benchmarks maps a name to its runner. Each runner lives in its own file.
var benchmarks = map[string]func(ctx context.Context, args []string) error{
	"decode":     benchDecode,
	"capture":    benchCapture,
	"catchup":    benchCatchup,
	"lag":        benchLag,
	"snapshot":   benchSnapshot,
	"check":      benchCheck,
	"check-live": benchCheckLive,
	"schedule":   benchSchedule,
}

func main() {
	if len(os.Args) < 2 || benchmarks[os.Args[1]] == nil {
		names := make([]string, 0, len(benchmarks))
		for n := range benchmarks {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: go run ./bench NAME [flags]\nnames: %v\n", names)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SLUICE_CPUPROFILE=file profiles the whole benchmark run.
	if path := os.Getenv("SLUICE_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := benchmarks[os.Args[1]](ctx, os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", os.Args[1], err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
