-- Scheduler tables: jobs, their runs and the nodes that fire them.
-- Times are UTC, DATETIME(6). See docs/jobs.md for what each column means.
CREATE TABLE IF NOT EXISTS jobs (
  id                   BIGINT        NOT NULL AUTO_INCREMENT,
  name                 VARCHAR(191)  NOT NULL,
  description          VARCHAR(1024) NOT NULL DEFAULT '',
  schedule             VARCHAR(255)  NOT NULL,
  time_zone            VARCHAR(64)   NOT NULL DEFAULT 'UTC',
  kind                 VARCHAR(32)   NOT NULL,
  config               TEXT          NULL,
  paused               TINYINT       NOT NULL DEFAULT 0,
  misfire_policy       VARCHAR(16)   NOT NULL DEFAULT 'fire_once',
  misfire_catch_up     INT           NOT NULL DEFAULT 0,
  misfire_threshold_ms INT           NOT NULL DEFAULT 5000,
  overlap_policy       VARCHAR(16)   NOT NULL DEFAULT 'allow',
  max_retries          INT           NOT NULL DEFAULT 0,
  retry_backoff_ms     INT           NOT NULL DEFAULT 1000,
  timeout_ms           INT           NOT NULL DEFAULT 0,
  alert_url            VARCHAR(1024) NOT NULL DEFAULT '',
  created_at           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at           DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_jobs_name (name),
  KEY idx_jobs_updated (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS job_runs (
  id               BIGINT       NOT NULL AUTO_INCREMENT,
  job_id           BIGINT       NOT NULL,
  scheduled_time   DATETIME(6)  NOT NULL,
  node_id          VARCHAR(64)  NOT NULL DEFAULT '',
  status           VARCHAR(16)  NOT NULL,
  attempt          INT          NOT NULL DEFAULT 1,
  misfire          TINYINT      NOT NULL DEFAULT 0,
  claim_token      BIGINT       NOT NULL DEFAULT 0,
  claimed_at       DATETIME(6)  NULL,
  started_at       DATETIME(6)  NULL,
  finished_at      DATETIME(6)  NULL,
  retry_at         DATETIME(6)  NULL,
  cancel_requested TINYINT      NOT NULL DEFAULT 0,
  output           MEDIUMTEXT   NULL,
  error            TEXT         NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_job_runs_fire (job_id, scheduled_time),
  KEY idx_job_runs_node (node_id, status),
  KEY idx_job_runs_job_status (job_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS nodes (
  id               VARCHAR(64)  NOT NULL,
  host             VARCHAR(255) NOT NULL DEFAULT '',
  pid              INT          NOT NULL DEFAULT 0,
  version          VARCHAR(64)  NOT NULL DEFAULT '',
  state            VARCHAR(16)  NOT NULL DEFAULT 'alive',
  started_at       DATETIME(6)  NOT NULL,
  heartbeat_at     DATETIME(6)  NOT NULL,
  lease_expires_at DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY idx_nodes_state (state, lease_expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
