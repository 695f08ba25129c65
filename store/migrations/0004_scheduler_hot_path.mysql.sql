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
--
-- MySQL has no ADD COLUMN IF NOT EXISTS: each change is one ALTER (atomic),
-- made only if it is not there yet, so that running this file again after
-- it was cut short is harmless.
SET @sluice_ddl = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'nodes' AND column_name = 'claimed_through') = 0,
  'ALTER TABLE nodes ADD COLUMN kinds VARCHAR(1024) NOT NULL DEFAULT '''', ADD COLUMN members_hash BIGINT NOT NULL DEFAULT 0, ADD COLUMN claimed_through DATETIME(6) NULL, ADD COLUMN runs_from BIGINT NOT NULL DEFAULT 0, ADD COLUMN old_runs MEDIUMTEXT NULL',
  'DO 0');
PREPARE sluice_ddl FROM @sluice_ddl;
EXECUTE sluice_ddl;
DEALLOCATE PREPARE sluice_ddl;

SET @sluice_ddl = IF((SELECT COUNT(*) FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'job_runs' AND index_name = 'idx_job_runs_node') > 0,
  'ALTER TABLE job_runs DROP INDEX idx_job_runs_node, DROP INDEX idx_job_runs_job_status',
  'DO 0');
PREPARE sluice_ddl FROM @sluice_ddl;
EXECUTE sluice_ddl;
DEALLOCATE PREPARE sluice_ddl;
