package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// childEnv, set in the environment, makes the test binary run as
// parleybench itself: the cluster test's servers, NATS and loaders are
// this binary started again with a command's arguments.
const childEnv = "PARLEYBENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestClusterRun runs a small cluster, two servers sharing sessions
// through NATS and a few hundred WebSocket pages whose sessions each move
// once, and checks that every page received every quote once, in order,
// and that the report was written.
func TestClusterRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers, NATS and loaders as processes")
	}
	t.Setenv(childEnv, "1")
	out := t.TempDir()
	err := cmdCluster([]string{"-nodes", "2", "-pages", "300", "-repeat", "2", "-transports", "websocket", "-timeout", "30s", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "cluster.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res clusterResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	setups := map[string]clusterRow{}
	for _, r := range res.Rows {
		setups[r.Setup] = r
	}
	for _, name := range []string{setupMemory, setupNATS, setupCluster} {
		r, ok := setups[name]
		if !ok {
			t.Fatalf("no %s row in %s", name, b)
		}
		if !r.ok() || r.Delivered != 600 {
			t.Errorf("%s: %+v, want 300 pages each receiving 2 quotes once, in order", name, r)
		}
		if r.Probe.Call.N != probeCount || r.Probe.Poll.N != probeCount {
			t.Errorf("%s: probe of %d calls and %d polls, want %d each", name, r.Probe.Call.N, r.Probe.Poll.N, probeCount)
		}
	}
	if c := setups[setupCluster]; c.Nodes != 2 || len(c.Servers) != 2 || c.VsMemory == nil {
		t.Errorf("cluster row: %d servers, %d server rows, vs in-memory %v", c.Nodes, len(c.Servers), c.VsMemory)
	}
	md, err := os.ReadFile(filepath.Join(out, "cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| cluster | websocket | 2 | 300 |", "## Extra round trips", "nothing lost"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("cluster.md lacks %q:\n%s", want, md)
		}
	}
}

// TestClusterFlags checks that cluster refuses bad flags before starting
// anything.
func TestClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"one node", []string{"-nodes", "1"}},
		{"no pages", []string{"-pages", "0"}},
		{"poll", []string{"-transports", "poll"}},
		{"balancer", []string{"-balancer", "nginx"}},
		{"loader too big", []string{"-per-process", "20000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := cmdCluster(append(tc.args, "-out", t.TempDir())); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
