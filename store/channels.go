package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Channel groups the pipelines of one topology (two-way, star, mesh).
// Sites are the data sources it connects; for a star the first is the hub.
// Its members are the pipelines whose channel column names it.
type Channel struct {
	ID          int64
	Name        string
	Description string
	Topology    string
	Sites       []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func scanChannel(sc interface{ Scan(...any) error }) (Channel, error) {
	var c Channel
	var sites sql.NullString
	var created, updated NullTime
	if err := sc.Scan(&c.ID, &c.Name, &c.Description, &c.Topology, &sites, &created, &updated); err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = created.Time, updated.Time
	if sites.Valid && sites.String != "" {
		if err := json.Unmarshal([]byte(sites.String), &c.Sites); err != nil {
			return c, fmt.Errorf("channel %q: sites: %w", c.Name, err)
		}
	}
	return c, nil
}

const channelColumns = "id, name, description, topology, sites, created_at, updated_at"

func sitesJSON(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// CreateChannel inserts a channel.
func (s *Store) CreateChannel(ctx context.Context, c Channel) (int64, error) {
	res, err := s.db.ExecContext(ctx, "INSERT INTO channels (name, description, topology, sites) VALUES (?, ?, ?, ?)",
		c.Name, c.Description, c.Topology, sitesJSON(c.Sites))
	if isDuplicate(err) {
		return 0, fmt.Errorf("create channel %q: %w", c.Name, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("create channel %q: %w", c.Name, err)
	}
	return res.LastInsertId()
}

// UpdateChannel rewrites a channel by name.
func (s *Store) UpdateChannel(ctx context.Context, c Channel) error {
	now, args := s.nowSQL()
	res, err := s.db.ExecContext(ctx, "UPDATE channels SET description = ?, topology = ?, sites = ?, updated_at = "+now+" WHERE name = ?",
		append(append([]any{c.Description, c.Topology, sitesJSON(c.Sites)}, args...), c.Name)...)
	if err != nil {
		return fmt.Errorf("update channel %q: %w", c.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update channel %q: %w", c.Name, ErrNotFound)
	}
	return nil
}

// ChannelByName reads a channel.
func (s *Store) ChannelByName(ctx context.Context, name string) (Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, "SELECT "+channelColumns+" FROM channels WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("channel %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("read channel %q: %w", name, err)
	}
	return c, nil
}

// Channels lists channels by name.
func (s *Store) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+channelColumns+" FROM channels ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	var out []Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteChannel removes a channel; its pipelines stay, without a channel.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM channels WHERE name = ?", name)
		if err != nil {
			return fmt.Errorf("delete channel %q: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete channel %q: %w", name, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE pipelines SET channel = '' WHERE channel = ?", name); err != nil {
			return fmt.Errorf("delete channel %q: %w", name, err)
		}
		return nil
	})
}

// Setting reads a server setting; ok is false when it was never set.
func (s *Store) Setting(ctx context.Context, name string) (value string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", name).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", name, err)
	}
	return value, true, nil
}

// PutSetting writes a server setting.
func (s *Store) PutSetting(ctx context.Context, name, value string) error {
	now, args := s.nowSQL()
	q := "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, " + now + ")"
	if s.dialect == MySQL {
		q += " ON DUPLICATE KEY UPDATE value = VALUES(value)"
	} else {
		q += " ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
	}
	if _, err := s.db.ExecContext(ctx, q, append([]any{name, value}, args...)...); err != nil {
		return fmt.Errorf("write setting %s: %w", name, err)
	}
	return nil
}
