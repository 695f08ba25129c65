-- Server tables: users, their sessions and API tokens, pipelines and the
-- leases that say which node runs each, channels, check reports, and
-- settings. Times are UTC text. See docs/server.md.
CREATE TABLE IF NOT EXISTS users (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  username      TEXT     NOT NULL UNIQUE,
  password_hash TEXT     NOT NULL,
  role          TEXT     NOT NULL,
  disabled      INTEGER  NOT NULL DEFAULT 0,
  last_login_at DATETIME NULL,
  created_at    DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
  updated_at    DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);

CREATE TABLE IF NOT EXISTS sessions (
  id           TEXT     PRIMARY KEY,
  user_id      INTEGER  NOT NULL,
  csrf_token   TEXT     NOT NULL,
  created_at   DATETIME NOT NULL,
  last_seen_at DATETIME NOT NULL,
  expires_at   DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS idx_sessions_expires ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS api_tokens (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id      INTEGER  NOT NULL,
  name         TEXT     NOT NULL,
  token_hash   TEXT     NOT NULL UNIQUE,
  prefix       TEXT     NOT NULL,
  role         TEXT     NOT NULL,
  expires_at   DATETIME NULL,
  last_used_at DATETIME NULL,
  created_at   DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_api_tokens_user ON api_tokens (user_id);

CREATE TABLE IF NOT EXISTS pipelines (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  name              TEXT     NOT NULL UNIQUE,
  description       TEXT     NOT NULL DEFAULT '',
  source            TEXT     NOT NULL,
  target            TEXT     NOT NULL,
  channel           TEXT     NOT NULL DEFAULT '',
  config            TEXT     NOT NULL,
  desired_state     TEXT     NOT NULL DEFAULT 'stopped',
  alert_lag_seconds REAL     NOT NULL DEFAULT 0,
  alert_lag_for_ms  INTEGER  NOT NULL DEFAULT 0,
  config_version    INTEGER  NOT NULL DEFAULT 1,
  resume_seq        INTEGER  NOT NULL DEFAULT 0,
  created_at        DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
  updated_at        DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_pipelines_channel ON pipelines (channel);

CREATE TABLE IF NOT EXISTS pipeline_leases (
  pipeline    TEXT     PRIMARY KEY,
  node_id     TEXT     NOT NULL,
  acquired_at DATETIME NOT NULL,
  expires_at  DATETIME NOT NULL,
  status      TEXT     NULL
);
CREATE INDEX IF NOT EXISTS idx_pipeline_leases_node ON pipeline_leases (node_id);

CREATE TABLE IF NOT EXISTS channels (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  name        TEXT     NOT NULL UNIQUE,
  description TEXT     NOT NULL DEFAULT '',
  topology    TEXT     NOT NULL,
  sites       TEXT     NULL,
  created_at  DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
  updated_at  DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);

CREATE TABLE IF NOT EXISTS checks (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  status        TEXT     NOT NULL,
  request       TEXT     NOT NULL,
  created_by    TEXT     NOT NULL DEFAULT '',
  repair_of     INTEGER  NULL,
  node_id       TEXT     NOT NULL DEFAULT '',
  error         TEXT     NULL,
  rows_compared INTEGER  NOT NULL DEFAULT 0,
  missing       INTEGER  NOT NULL DEFAULT 0,
  extra         INTEGER  NOT NULL DEFAULT 0,
  different     INTEGER  NOT NULL DEFAULT 0,
  unsettled     INTEGER  NOT NULL DEFAULT 0,
  repaired      INTEGER  NOT NULL DEFAULT 0,
  report        TEXT     NULL,
  repair_sql    TEXT     NULL,
  started_at    DATETIME NOT NULL,
  finished_at   DATETIME NULL
);
CREATE INDEX IF NOT EXISTS idx_checks_status ON checks (status);

CREATE TABLE IF NOT EXISTS settings (
  name       TEXT     PRIMARY KEY,
  value      TEXT     NOT NULL,
  updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);
