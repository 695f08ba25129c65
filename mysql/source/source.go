// Package source parses and holds the address of a MySQL or MariaDB server a
// pipeline reads from or writes to: the data source URL users type
// (mysql://user:pass@host:port/db?tls=...), and the connection settings
// derived from it. It owns no connections.
package source

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is a parsed data source.
type Config struct {
	Host     string
	Port     int
	User     string
	Password string
	// Database is the default database, often empty.
	Database string
	// TLS is "" or "false" (no TLS), "true" (verify), "skip-verify" or
	// "preferred", as go-sql-driver/mysql names them.
	TLS string
	// Timeout bounds connecting; 0 means 10s.
	Timeout time.Duration
	// Params are other query parameters, passed to the driver as is.
	Params map[string]string
}

// Parse reads a data source URL: mysql://user:pass@host:port/db?tls=true.
// The scheme may also be mariadb. The port defaults to 3306; a password may
// be left out and supplied separately.
func Parse(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("parse data source %q: %w", Redact(raw), err)
	}
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return Config{}, fmt.Errorf("data source %q: scheme must be mysql:// or mariadb://", Redact(raw))
	}
	c := Config{Host: u.Hostname(), Port: 3306, Params: map[string]string{}}
	if c.Host == "" {
		return Config{}, fmt.Errorf("data source %q: missing host", Redact(raw))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return Config{}, fmt.Errorf("data source %q: bad port %q", Redact(raw), p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.User = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	c.Database = strings.Trim(u.Path, "/")
	for k, vs := range u.Query() {
		v := ""
		if len(vs) > 0 {
			v = vs[len(vs)-1]
		}
		switch k {
		case "tls":
			switch v {
			case "", "false", "true", "skip-verify", "preferred":
				c.TLS = v
			default:
				return Config{}, fmt.Errorf("data source %q: tls must be true, false, skip-verify or preferred", Redact(raw))
			}
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return Config{}, fmt.Errorf("data source %q: bad timeout: %w", Redact(raw), err)
			}
			c.Timeout = d
		default:
			c.Params[k] = v
		}
	}
	return c, nil
}

// Addr is host:port.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// String is the URL without the password, for logs and messages.
func (c Config) String() string {
	u := url.URL{Scheme: "mysql", Host: c.Addr(), Path: "/" + c.Database}
	if c.User != "" {
		u.User = url.User(c.User)
	}
	if c.Database == "" {
		u.Path = ""
	}
	return u.String()
}

// URL is the full URL, password included.
func (c Config) URL() string {
	u := url.URL{Scheme: "mysql", Host: c.Addr(), Path: "/" + c.Database}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	} else if c.User != "" {
		u.User = url.User(c.User)
	}
	if c.Database == "" {
		u.Path = ""
	}
	q := url.Values{}
	if c.TLS != "" {
		q.Set("tls", c.TLS)
	}
	for k, v := range c.Params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// DSN is a go-sql-driver/mysql DSN for this source. extra are driver
// parameters such as "interpolateParams=true".
func (c Config) DSN(extra ...string) string {
	var b strings.Builder
	b.WriteString(c.User)
	if c.Password != "" {
		b.WriteByte(':')
		b.WriteString(c.Password)
	}
	b.WriteString("@tcp(")
	b.WriteString(c.Addr())
	b.WriteString(")/")
	b.WriteString(c.Database)
	params := url.Values{}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	params.Set("timeout", timeout.String())
	if c.TLS != "" {
		params.Set("tls", c.TLS)
	}
	for k, v := range c.Params {
		params.Set(k, v)
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		params.Set(k, v)
	}
	b.WriteByte('?')
	b.WriteString(params.Encode())
	return b.String()
}

// Redact hides the password of a URL for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
