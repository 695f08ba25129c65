package check

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Checker runs one check (Options) over its tables.
type Checker struct {
	opts     *Options
	src, tgt *server
	waiter   positionWaiter
	throttle *throttle
	progress []progressStore // the state file and/or the target's table
	repairer *repairer

	// srcSlots and tgtSlots bound the checksum and row-hash queries running
	// on each server (Options.Parallel); inflight bounds the chunks read
	// but not finished (waiting for the target, being narrowed), and so the
	// memory they hold.
	srcSlots, tgtSlots chan struct{}
	inflight           chan struct{}

	// sizer carries the learned rows per chunk from one table to the next.
	sizerMu sync.Mutex
	sizer   *sizer
}

// Run compares the source and the target as opts say and returns the
// report. It returns an error only when the check cannot start (bad
// options, a server that cannot be reached); a table that cannot be
// compared has its Error set in the report instead.
func Run(ctx context.Context, opts Options) (*Report, error) {
	o := &opts
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	rep := &Report{Source: o.Source.String(), Target: o.Target.String(), Started: time.Now()}
	ck := &Checker{opts: o,
		srcSlots: make(chan struct{}, o.Parallel),
		tgtSlots: make(chan struct{}, o.Parallel),
		inflight: make(chan struct{}, 16*o.Parallel),
	}
	var err error
	if ck.src, err = openServer(ctx, "source", o.Source); err != nil {
		return nil, err
	}
	defer ck.src.close()
	if ck.tgt, err = openServer(ctx, "target", o.Target); err != nil {
		return nil, err
	}
	defer ck.tgt.close()
	f := features{
		crc32c:        ck.src.feat.crc32c && ck.tgt.feat.crc32c,
		jsonNormalize: ck.src.feat.jsonNormalize && ck.tgt.feat.jsonNormalize,
	}
	switch o.Hash {
	case "crc":
		if !f.crc32c {
			return nil, fmt.Errorf("hash crc needs CRC32C() on both servers (MariaDB 10.8 or later)")
		}
	case "md5":
		f.crc32c = false
	}
	var warnings []string
	if ck.waiter, warnings, err = chooseWaiter(ctx, o, ck.src, ck.tgt); err != nil {
		return nil, err
	}
	rep.Position = ck.waiter.String()
	rep.Warnings = append(rep.Warnings, warnings...)
	// The throttle runs before a chunk takes its source slot, so the slots
	// held are the check's own queries running on the source.
	ck.throttle = newThrottle(ck.src.db, o, func() int64 { return int64(len(ck.srcSlots)) })
	fp := fingerprint(o)
	if o.StateFile != "" {
		st, err := openState(o.StateFile, fp)
		if err != nil {
			return nil, err
		}
		ck.progress = append(ck.progress, st)
	}
	if o.StateName != "" {
		st, warning, err := openTargetState(ctx, ck.tgt.db, o.StateSchema, o.StateName, fp)
		if err != nil {
			return nil, err
		}
		if warning != "" {
			rep.Warnings = append(rep.Warnings, warning)
		}
		ck.progress = append(ck.progress, st)
	}
	if o.Repair != RepairNone {
		if ck.repairer, err = newRepairer(ctx, ck); err != nil {
			return nil, err
		}
	}
	names, err := listTables(ctx, ck.src.db, o.Tables)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", o.Source, err)
	}
	if len(names) == 0 {
		rep.Warnings = append(rep.Warnings, "no source table matches the table patterns")
	}
	// Several tables are open at once and their chunks share the slots, so
	// that one table's last chunks, or its chunks waiting for the target,
	// overlap the next tables' first.
	rep.Tables = make([]*TableReport, len(names))
	sem := make(chan struct{}, 4*o.Parallel)
	var wg sync.WaitGroup
	for i, n := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rep.Tables[i] = ck.checkTable(ctx, n, f)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(rep.Started)
	// A run that went through every table leaves no progress behind: the
	// next run is a new check, not a resumption. A table that failed keeps
	// its progress, so that the run can be resumed once the cause is fixed.
	if rep.ExitStatus() != 2 {
		for _, st := range ck.progress {
			if err := st.clear(ctx); err != nil {
				rep.Warnings = append(rep.Warnings, err.Error())
			}
		}
	}
	return rep, nil
}

// checkTable compares one source table with its target table, then repairs
// it when asked.
func (ck *Checker) checkTable(ctx context.Context, n tableName, f features) *TableReport {
	start := time.Now()
	target := mapTable(ck.opts.Map, n)
	fail := func(err error) *TableReport {
		return &TableReport{Source: n.String(), Target: target.String(), Error: err.Error(), Elapsed: time.Since(start)}
	}
	srcDef, err := loadTable(ctx, ck.src.db, n)
	if err != nil {
		return fail(fmt.Errorf("source: %w", err))
	}
	if srcDef == nil {
		return fail(fmt.Errorf("source table %s disappeared", n))
	}
	tgtDef, err := loadTable(ctx, ck.tgt.db, target)
	if err != nil {
		return fail(fmt.Errorf("target: %w", err))
	}
	if tgtDef == nil {
		return fail(fmt.Errorf("target table %s does not exist", target))
	}
	p, err := newPair(ck.opts, srcDef, tgtDef, f)
	if err != nil {
		return fail(err)
	}
	tc := &tableCheck{ck: ck, p: p, rep: p.newReport()}
	var after []string
	for _, st := range ck.progress {
		ts := st.table(n.String())
		if ts == nil {
			continue
		}
		after = ts.restore(tc.rep)
		if ts.Done {
			tc.rep.Warnings = append(tc.rep.Warnings, "taken from the saved progress of an interrupted run")
			tc.rep.Elapsed = time.Since(start)
			return tc.rep
		}
		break
	}
	ck.opts.Logger.Info("checking table", "source", n.String(), "target", target.String(), "key", p.key, "resume_after", after)
	if err := tc.run(ctx, after); err != nil {
		tc.rep.Error = err.Error()
		tc.rep.Elapsed = time.Since(start)
		return tc.rep
	}
	if err := ck.saveProgress(ctx, tc.rep, tc.after, true); err != nil {
		tc.rep.Error = err.Error()
	}
	if ck.repairer != nil && tc.rep.Differs() {
		if err := ck.repairer.repair(ctx, p, tc.rep); err != nil {
			tc.rep.Error = fmt.Sprintf("repair: %v", err)
		}
	}
	tc.rep.Elapsed = time.Since(start)
	ck.opts.Logger.Info("checked table", "source", n.String(), "rows", tc.rep.Rows, "missing", tc.rep.Missing,
		"extra", tc.rep.Extra, "different", tc.rep.Different, "elapsed", tc.rep.Elapsed)
	return tc.rep
}

// saveProgress writes a table's progress to every store.
func (ck *Checker) saveProgress(ctx context.Context, rep *TableReport, after []string, done bool) error {
	for _, st := range ck.progress {
		if err := st.saveTable(ctx, rep, after, done); err != nil {
			return err
		}
	}
	return nil
}

// acquire takes a slot of a semaphore channel, or fails when ctx ends.
func acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release(sem chan struct{}) { <-sem }
