package source

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse("mysql://repl:p%40ss@127.0.0.1:3307/shop?tls=skip-verify&charset=utf8mb4")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "127.0.0.1" || c.Port != 3307 || c.User != "repl" || c.Password != "p@ss" || c.Database != "shop" || c.TLS != "skip-verify" || c.Params["charset"] != "utf8mb4" {
		t.Fatalf("parsed %+v", c)
	}
	if s := c.String(); strings.Contains(s, "p@ss") || strings.Contains(s, "p%40ss") {
		t.Fatalf("String() leaks the password: %s", s)
	}
	dsn := c.DSN("interpolateParams=true")
	for _, want := range []string{"repl:p@ss@tcp(127.0.0.1:3307)/shop?", "tls=skip-verify", "interpolateParams=true", "charset=utf8mb4"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN %q lacks %q", dsn, want)
		}
	}
	back, err := Parse(c.URL())
	if err != nil || back.Password != "p@ss" || back.Port != 3307 {
		t.Fatalf("URL round trip: %+v %v", back, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"postgres://h", "mysql://", "mysql://h:99999", "mysql://h?tls=maybe", "mysql://u:secret@h?timeout=x"} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", in)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks password: %v", err)
		}
	}
	c, err := Parse("mariadb://root@db1")
	if err != nil || c.Port != 3306 {
		t.Fatalf("default port: %+v %v", c, err)
	}
}
