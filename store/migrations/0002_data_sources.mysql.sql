-- Named connections to MySQL servers. password_enc is AES-256-GCM sealed with
-- the server's secret key (see store/secret.go); the clear password is never
-- stored.
CREATE TABLE IF NOT EXISTS data_sources (
  id            BIGINT        NOT NULL AUTO_INCREMENT,
  name          VARCHAR(191)  NOT NULL,
  kind          VARCHAR(32)   NOT NULL DEFAULT 'mysql',
  host          VARCHAR(255)  NOT NULL,
  port          INT           NOT NULL DEFAULT 3306,
  username      VARCHAR(255)  NOT NULL DEFAULT '',
  password_enc  TEXT          NULL,
  database_name VARCHAR(255)  NOT NULL DEFAULT '',
  params        VARCHAR(1024) NOT NULL DEFAULT '',
  created_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at    DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_data_sources_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
