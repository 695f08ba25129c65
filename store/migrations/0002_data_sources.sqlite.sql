-- Named connections to MySQL servers. password_enc is AES-256-GCM sealed with
-- the server's secret key (see store/secret.go); the clear password is never
-- stored.
CREATE TABLE IF NOT EXISTS data_sources (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  name          TEXT     NOT NULL UNIQUE,
  kind          TEXT     NOT NULL DEFAULT 'mysql',
  host          TEXT     NOT NULL,
  port          INTEGER  NOT NULL DEFAULT 3306,
  username      TEXT     NOT NULL DEFAULT '',
  password_enc  TEXT     NULL,
  database_name TEXT     NOT NULL DEFAULT '',
  params        TEXT     NOT NULL DEFAULT '',
  created_at    DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
  updated_at    DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);
CREATE TRIGGER IF NOT EXISTS data_sources_touch AFTER UPDATE ON data_sources
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
  UPDATE data_sources SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now') WHERE id = NEW.id;
END;
