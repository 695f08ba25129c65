-- Scheduler tables: jobs, their runs and the nodes that fire them.
-- Times are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. See docs/jobs.md.
CREATE TABLE IF NOT EXISTS jobs (
  id                   INTEGER PRIMARY KEY AUTOINCREMENT,
  name                 TEXT     NOT NULL UNIQUE,
  description          TEXT     NOT NULL DEFAULT '',
  schedule             TEXT     NOT NULL,
  time_zone            TEXT     NOT NULL DEFAULT 'UTC',
  kind                 TEXT     NOT NULL,
  config               TEXT     NULL,
  paused               INTEGER  NOT NULL DEFAULT 0,
  misfire_policy       TEXT     NOT NULL DEFAULT 'fire_once',
  misfire_catch_up     INTEGER  NOT NULL DEFAULT 0,
  misfire_threshold_ms INTEGER  NOT NULL DEFAULT 5000,
  overlap_policy       TEXT     NOT NULL DEFAULT 'allow',
  max_retries          INTEGER  NOT NULL DEFAULT 0,
  retry_backoff_ms     INTEGER  NOT NULL DEFAULT 1000,
  timeout_ms           INTEGER  NOT NULL DEFAULT 0,
  alert_url            TEXT     NOT NULL DEFAULT '',
  created_at           DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
  updated_at           DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_jobs_updated ON jobs (updated_at);

-- An edit made with plain SQL moves updated_at, as MySQL's ON UPDATE does, so
-- that the scheduler notices it.
CREATE TRIGGER IF NOT EXISTS jobs_touch AFTER UPDATE ON jobs
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
  UPDATE jobs SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = NEW.id;
END;

CREATE TABLE IF NOT EXISTS job_runs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id           INTEGER  NOT NULL,
  scheduled_time   DATETIME NOT NULL,
  node_id          TEXT     NOT NULL DEFAULT '',
  status           TEXT     NOT NULL,
  attempt          INTEGER  NOT NULL DEFAULT 1,
  misfire          INTEGER  NOT NULL DEFAULT 0,
  claim_token      INTEGER  NOT NULL DEFAULT 0,
  claimed_at       DATETIME NULL,
  started_at       DATETIME NULL,
  finished_at      DATETIME NULL,
  retry_at         DATETIME NULL,
  cancel_requested INTEGER  NOT NULL DEFAULT 0,
  output           TEXT     NULL,
  error            TEXT     NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_job_runs_fire ON job_runs (job_id, scheduled_time);
CREATE INDEX IF NOT EXISTS idx_job_runs_node ON job_runs (node_id, status);
CREATE INDEX IF NOT EXISTS idx_job_runs_job_status ON job_runs (job_id, status);

CREATE TABLE IF NOT EXISTS nodes (
  id               TEXT     PRIMARY KEY,
  host             TEXT     NOT NULL DEFAULT '',
  pid              INTEGER  NOT NULL DEFAULT 0,
  version          TEXT     NOT NULL DEFAULT '',
  state            TEXT     NOT NULL DEFAULT 'alive',
  started_at       DATETIME NOT NULL,
  heartbeat_at     DATETIME NOT NULL,
  lease_expires_at DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_nodes_state ON nodes (state, lease_expires_at);
