package pipeline

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	t.Setenv("SLUICE_TEST_PW", "s3cret")
	c, err := ParseConfig([]byte(`
name: shop-sync
source: mysql://repl:${SLUICE_TEST_PW}@10.0.0.1:3306
target: mysql://app@10.0.1.1
tables:
  - shop.*
  - source: crm.users
    target: crm_copy.users
    exclude_columns: [password]
exclude: [shop.tmp_*]
ops: [insert, update]
heartbeat: 500ms
apply:
  workers: 8
skip:
  - gtid: 0-1-42
`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Source, "s3cret") {
		t.Errorf("env var not expanded: %s", c.Source)
	}
	if len(c.Tables) != 2 || c.Tables[0].Source != "shop.*" || c.Tables[1].ExcludeColumns[0] != "password" {
		t.Errorf("tables %+v", c.Tables)
	}
	if c.Snapshot != "auto" || c.DDL != "replicate" || c.StateSchema != "sluice" || c.Apply.Workers != 8 || c.Heartbeat.String() != "500ms" {
		t.Errorf("defaults/values: %+v", c)
	}
	sel := c.Selection()
	if sel.Ops.Delete || !sel.Ops.Insert {
		t.Errorf("ops %+v", sel.Ops)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := "name: p\nsource: mysql://h\ntarget: mysql://t\ntables: [a.b]\n"
	cases := []struct{ yaml, want string }{
		{base + "tabels: [x.y]\n", "field tabels not found"},
		{base + "snapshot: sometimes\n", "snapshot"},
		{base + "ddl: maybe\n", "ddl"},
		{base + "heartbeat: soon\n", "not a duration"},
		{base + "apply:\n  workers: 100\n", "apply.workers"},
		{base + "ops: [insert, truncate]\n", "ops"},
		{base + "skip:\n  - position: nonsense\n", "skip[0]"},
		{"name: p\nsource: postgres://h\ntarget: mysql://t\ntables: [a.b]\n", "source"},
		{"name: p\nsource: mysql://h\ntarget: mysql://t\ntables: [nodot]\n", "tables"},
		{"source: mysql://h\ntarget: mysql://t\ntables: [a.b]\n", "name"},
		{"name: 'bad name!'\nsource: mysql://h\ntarget: mysql://t\ntables: [a.b]\n", "name"},
		{"", "empty"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: want error containing %q, got %v", c.yaml, c.want, err)
		}
	}
}
