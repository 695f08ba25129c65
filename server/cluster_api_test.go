package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-db/sluice/internal/testdb"
	"github.com/sluice-db/sluice/schedule"
	"github.com/sluice-db/sluice/store"
)

// TestChannelsAndSystemRoutes covers channels (members, topology), nodes,
// and the public routes: /healthz, /metrics (and its token), /openapi.yaml.
func TestChannelsAndSystemRoutes(t *testing.T) {
	ts := startServer(t, Config{MetricsToken: "scrape-me"})
	admin := ts.admin()
	for _, n := range []string{"bj", "sh"} {
		admin.mustJSON("POST", "/api/v1/data-sources", map[string]any{"name": n, "host": n + ".example", "user": "repl", "password": "secret-" + n}, 201, nil)
	}
	for _, p := range [][3]string{{"bj-sh", "bj", "sh"}, {"sh-bj", "sh", "bj"}} {
		admin.mustJSON("POST", "/api/v1/pipelines", map[string]any{"name": p[0], "source": p[1], "target": p[2],
			"config": map[string]any{"tables": []map[string]string{{"source": "shop.*"}},
				"two_way": map[string]any{"channel": "shop", "source_site": p[1], "target_site": p[2], "conflicts": map[string]any{"policy": "source-wins"}}}}, 201, nil)
	}
	// An invalid two-way config is refused with the field named.
	admin.mustFail("POST", "/api/v1/pipelines", map[string]any{"name": "bad-tw", "source": "bj", "target": "sh",
		"config": map[string]any{"tables": []map[string]string{{"source": "shop.*"}}, "two_way": map[string]any{"channel": "shop", "source_site": "bj", "target_site": "bj"}}}, 422, codeInvalid, "config.two_way")
	var ch channelJSON
	admin.mustJSON("POST", "/api/v1/channels", map[string]any{"name": "shop", "topology": "two-way", "sites": []string{"bj", "sh"}, "pipelines": []string{"bj-sh", "sh-bj"}}, 201, &ch)
	if len(ch.Pipelines) != 2 || ch.Topology != "two-way" {
		t.Fatalf("channel %+v", ch)
	}
	admin.mustFail("POST", "/api/v1/channels", map[string]any{"name": "shop", "topology": "mesh"}, 409, codeAlreadyExists, "")
	admin.mustFail("POST", "/api/v1/channels", map[string]any{"name": "tw", "topology": "two-way", "sites": []string{"bj"}}, 422, codeInvalid, "sites")
	var pl struct{ Pipelines []pipelineJSON }
	admin.mustJSON("GET", "/api/v1/channels/shop/pipelines", nil, 200, &pl)
	if len(pl.Pipelines) != 2 || pl.Pipelines[0].Channel != "shop" || pl.Pipelines[0].Config.TwoWay == nil || pl.Pipelines[0].Config.TwoWay.Conflicts.Policy != "source-wins" {
		t.Fatalf("members %+v", pl.Pipelines)
	}
	admin.mustJSON("GET", "/api/v1/pipelines?channel=shop", nil, 200, &pl)
	if len(pl.Pipelines) != 2 {
		t.Errorf("pipelines of channel: %d", len(pl.Pipelines))
	}
	var topo struct {
		Topology string
		Nodes    []topologyNode
		Edges    []topologyEdge
	}
	admin.mustJSON("GET", "/api/v1/channels/shop/topology", nil, 200, &topo)
	if topo.Topology != "two-way" || len(topo.Nodes) != 2 || len(topo.Edges) != 2 || topo.Edges[0].State != "stopped" || topo.Nodes[0].Host != "bj.example" {
		t.Fatalf("topology %+v", topo)
	}
	admin.mustJSON("PUT", "/api/v1/channels/shop", map[string]any{"topology": "star", "sites": []string{"sh", "bj"}, "pipelines": []string{"bj-sh"}}, 200, &ch)
	if len(ch.Pipelines) != 1 || ch.Topology != "star" {
		t.Fatalf("edited channel %+v", ch)
	}
	admin.mustJSON("GET", "/api/v1/channels/shop/topology", nil, 200, &topo)
	if !topo.Nodes[0].Hub || topo.Nodes[0].ID != "sh" {
		t.Errorf("star hub %+v", topo.Nodes)
	}
	var chs struct{ Channels []channelJSON }
	admin.mustJSON("GET", "/api/v1/channels", nil, 200, &chs)
	if len(chs.Channels) != 1 {
		t.Errorf("channels %+v", chs)
	}
	admin.mustJSON("DELETE", "/api/v1/channels/shop", nil, 204, nil)
	if p := getPipeline(admin, "bj-sh"); p.Channel != "" {
		t.Errorf("pipeline keeps a deleted channel: %q", p.Channel)
	}

	// The data source passwords appear in no answer.
	for _, path := range []string{"/api/v1/data-sources", "/api/v1/data-sources/bj", "/api/v1/pipelines", "/api/v1/pipelines/bj-sh"} {
		_, b, _ := admin.do("GET", path, nil)
		if strings.Contains(string(b), "secret-") {
			t.Errorf("%s shows a password: %s", path, b)
		}
	}

	var nodes struct{ Nodes []nodeJSON }
	waitFor(t, 10*time.Second, "this node in /nodes", func() (bool, string) {
		admin.mustJSON("GET", "/api/v1/nodes", nil, 200, &nodes)
		return len(nodes.Nodes) == 1 && nodes.Nodes[0].State == "alive", ""
	})

	for path, want := range map[string]int{"/healthz": 200, "/openapi.yaml": 200, "/metrics": 401} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %s", path, resp.StatusCode, want, b)
		}
		if path == "/openapi.yaml" && !strings.Contains(string(b), "openapi: 3.1.0") {
			t.Errorf("openapi.yaml served: %.100s", b)
		}
	}
	req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer scrape-me")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "sluice_job_fire_delay_seconds") || !strings.Contains(string(b), "go_goroutines") {
		t.Errorf("metrics with token: %d %.200s", resp.StatusCode, b)
	}
}

// TestTwoNodesShareAMariaDBMetaStore runs two server nodes on one MariaDB
// meta store. A pipeline started through one node runs on exactly one of
// them, both report the same status, and when its node stops the other
// takes it over and replication goes on.
func TestTwoNodesShareAMariaDBMetaStore(t *testing.T) {
	meta := testdb.Start(t, testdb.Options{NoBinlog: true})
	src := testdb.Start(t, testdb.Options{})
	tgt := testdb.Start(t, testdb.Options{NoBinlog: true})
	src.Exec(t, "CREATE DATABASE app", "CREATE TABLE app.t (id INT PRIMARY KEY)", "INSERT INTO app.t VALUES (1)")
	dsn := "mysql://" + meta.User + "@" + meta.Addr() + "/sluice_meta"
	key := t.TempDir() + "/key"
	if err := store.GenerateSecretKeyFile(key); err != nil {
		t.Fatal(err)
	}
	node := func(id string) *testServer {
		return startServer(t, Config{Meta: dsn, SecretKeyFile: key, NodeID: id, PipelineLease: 2 * time.Second,
			Scheduler: schedule.Options{Heartbeat: 200 * time.Millisecond, Lease: 2 * time.Second, PollInterval: 100 * time.Millisecond}})
	}
	a, b := node("node-a"), node("node-b")
	ca, cb := a.admin(), b.login("admin", testAdminPassword)
	addDataSource(ca, "src", src)
	addDataSource(ca, "tgt", tgt)
	ca.mustJSON("POST", "/api/v1/pipelines", map[string]any{"name": "app", "source": "src", "target": "tgt",
		"config": map[string]any{"from": "start", "tables": []map[string]string{{"source": "app.*"}}}}, 201, nil)
	cb.mustJSON("POST", "/api/v1/pipelines/app/start", nil, 200, nil)
	waitTarget(t, tgt, "SELECT COUNT(*) FROM app.t", "1")
	var owner string
	waitFor(t, 30*time.Second, "both nodes to agree on the owner", func() (bool, string) {
		pa, pb := getPipeline(ca, "app"), getPipeline(cb, "app")
		owner = pa.Status.Node
		return pa.Status.State == "running" && pb.Status.State == "running" && owner != "" && pb.Status.Node == owner, pa.Status.Node + "/" + pb.Status.Node
	})
	if a.S.supervisor.owns("app") == b.S.supervisor.owns("app") {
		t.Fatalf("node a owns %v, node b owns %v: want exactly one", a.S.supervisor.owns("app"), b.S.supervisor.owns("app"))
	}
	ownerNode, survivor, survivorClient := a, b, cb
	if owner == b.S.nodeID {
		ownerNode, survivor, survivorClient = b, a, ca
	}
	ownerNode.stop()
	src.Exec(t, "INSERT INTO app.t VALUES (2)")
	waitTarget(t, tgt, "SELECT COUNT(*) FROM app.t", "2")
	waitFor(t, 30*time.Second, "the survivor to run it", func() (bool, string) {
		p := getPipeline(survivorClient, "app")
		return p.Status.Node == survivor.S.nodeID && p.Status.State == "running", p.Status.Node + " " + p.Status.State
	})
	if !survivor.S.supervisor.owns("app") {
		t.Error("survivor does not own the pipeline")
	}
	survivorClient.mustJSON("POST", "/api/v1/pipelines/app/stop", nil, 200, nil)
	waitPipelineState(t, survivorClient, "app", "stopped")
}
