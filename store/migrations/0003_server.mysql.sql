-- Server tables: users, their sessions and API tokens, pipelines and the
-- leases that say which node runs each, channels, check reports, and
-- settings. Times are UTC, DATETIME(6). See docs/server.md.
CREATE TABLE IF NOT EXISTS users (
  id            BIGINT        NOT NULL AUTO_INCREMENT,
  username      VARCHAR(64)   NOT NULL,
  password_hash VARCHAR(255)  NOT NULL,
  role          VARCHAR(16)   NOT NULL,
  disabled      TINYINT       NOT NULL DEFAULT 0,
  last_login_at DATETIME(6)   NULL,
  created_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- id is the SHA-256 of the session cookie's value: a leaked table does not
-- give working cookies.
CREATE TABLE IF NOT EXISTS sessions (
  id           CHAR(64)     NOT NULL,
  user_id      BIGINT       NOT NULL,
  csrf_token   CHAR(64)     NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  last_seen_at DATETIME(6)  NOT NULL,
  expires_at   DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY idx_sessions_user (user_id),
  KEY idx_sessions_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS api_tokens (
  id           BIGINT        NOT NULL AUTO_INCREMENT,
  user_id      BIGINT        NOT NULL,
  name         VARCHAR(128)  NOT NULL,
  token_hash   CHAR(64)      NOT NULL,
  prefix       VARCHAR(16)   NOT NULL,
  role         VARCHAR(16)   NOT NULL,
  expires_at   DATETIME(6)   NULL,
  last_used_at DATETIME(6)   NULL,
  created_at   DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_api_tokens_hash (token_hash),
  KEY idx_api_tokens_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS pipelines (
  id                BIGINT        NOT NULL AUTO_INCREMENT,
  name              VARCHAR(128)  NOT NULL,
  description       VARCHAR(1024) NOT NULL DEFAULT '',
  source            VARCHAR(191)  NOT NULL,
  target            VARCHAR(191)  NOT NULL,
  channel           VARCHAR(128)  NOT NULL DEFAULT '',
  config            MEDIUMTEXT    NOT NULL,
  desired_state     VARCHAR(16)   NOT NULL DEFAULT 'stopped',
  alert_lag_seconds DOUBLE        NOT NULL DEFAULT 0,
  alert_lag_for_ms  BIGINT        NOT NULL DEFAULT 0,
  config_version    BIGINT        NOT NULL DEFAULT 1,
  resume_seq        BIGINT        NOT NULL DEFAULT 0,
  created_at        DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at        DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_pipelines_name (name),
  KEY idx_pipelines_channel (channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per pipeline some node runs: the node holds it while expires_at
-- (the meta store's clock) is ahead. status is the owner's latest status
-- sample as JSON, for the API of other nodes.
CREATE TABLE IF NOT EXISTS pipeline_leases (
  pipeline    VARCHAR(128)  NOT NULL,
  node_id     VARCHAR(64)   NOT NULL,
  acquired_at DATETIME(6)   NOT NULL,
  expires_at  DATETIME(6)   NOT NULL,
  status      TEXT          NULL,
  PRIMARY KEY (pipeline),
  KEY idx_pipeline_leases_node (node_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS channels (
  id          BIGINT        NOT NULL AUTO_INCREMENT,
  name        VARCHAR(128)  NOT NULL,
  description VARCHAR(1024) NOT NULL DEFAULT '',
  topology    VARCHAR(16)   NOT NULL,
  sites       TEXT          NULL,
  created_at  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_channels_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS checks (
  id          BIGINT       NOT NULL AUTO_INCREMENT,
  status      VARCHAR(16)  NOT NULL,
  request     TEXT         NOT NULL,
  created_by  VARCHAR(64)  NOT NULL DEFAULT '',
  repair_of   BIGINT       NULL,
  node_id     VARCHAR(64)  NOT NULL DEFAULT '',
  error       TEXT         NULL,
  rows_compared BIGINT      NOT NULL DEFAULT 0,
  missing     BIGINT       NOT NULL DEFAULT 0,
  extra       BIGINT       NOT NULL DEFAULT 0,
  different   BIGINT       NOT NULL DEFAULT 0,
  unsettled   BIGINT       NOT NULL DEFAULT 0,
  repaired    BIGINT       NOT NULL DEFAULT 0,
  report      LONGTEXT     NULL,
  repair_sql  LONGTEXT     NULL,
  started_at  DATETIME(6)  NOT NULL,
  finished_at DATETIME(6)  NULL,
  PRIMARY KEY (id),
  KEY idx_checks_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS settings (
  name       VARCHAR(64)  NOT NULL,
  value      TEXT         NOT NULL,
  updated_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
