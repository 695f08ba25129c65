-- The scheduler's hot path (docs/jobs.md, "Exactly once across nodes").
--
-- Each node publishes, with its lease: the kinds it runs; the view of the
-- alive nodes it schedules by and the time through which it has claimed
-- every fire of the jobs it owns in that view (so that the other nodes
-- insert nothing for those fires); and where the runs it still holds are:
-- every run row of the node that is not final has an id of at least
-- runs_from, or is listed in old_runs (comma-separated ids).
--
-- With that, job_runs needs no index on what changes with a run's state:
-- a fire's final write touches the row alone, not secondary indexes.
-- (SQLite applies a migration in one transaction: no re-run guards.)
ALTER TABLE nodes ADD COLUMN kinds TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN members_hash INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN claimed_through DATETIME NULL;
ALTER TABLE nodes ADD COLUMN runs_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN old_runs TEXT NULL;

DROP INDEX IF EXISTS idx_job_runs_node;
DROP INDEX IF EXISTS idx_job_runs_job_status;
