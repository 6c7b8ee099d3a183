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
// once, and the raw floor at the same scale, and checks that every page
// received every quote once, in order, that the servers listed one
// session per page, and that the report was written.
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
	for _, name := range []string{setupMemory, setupNATS, setupFloor, setupCluster} {
		r, ok := setups[name]
		if !ok {
			t.Fatalf("no %s row in %s", name, b)
		}
		if !r.ok() || r.Delivered != 600 {
			t.Errorf("%s: %+v, want 300 pages each receiving 2 quotes once, in order", name, r)
		}
		if name == setupFloor {
			continue
		}
		if r.Probe.Call.N != probeCount || r.Probe.Poll.N != probeCount {
			t.Errorf("%s: probe of %d calls and %d polls, want %d each", name, r.Probe.Call.N, r.Probe.Poll.N, probeCount)
		}
		if sc := r.Sessions; sc == nil || sc.Distinct != 300 || sc.Opened != 300 {
			t.Errorf("%s: sessions %+v, want 300 distinct and opened", name, sc)
		}
	}
	if c := setups[setupCluster]; c.Nodes != 2 || len(c.Servers) != 2 || c.VsMemory == nil || c.VsFloor == nil {
		t.Errorf("cluster row: %d servers, %d server rows, vs in-memory %v, vs floor %v", c.Nodes, len(c.Servers), c.VsMemory, c.VsFloor)
	}
	if f := setups[setupFloor]; f.Nodes != 2 || len(f.Servers) != 2 || f.Servers[0].Held+f.Servers[1].Held != 300 {
		t.Errorf("raw floor row: %d servers holding %+v, want 2 holding 300 connections", f.Nodes, f.Servers)
	}
	md, err := os.ReadFile(filepath.Join(out, "cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| cluster | websocket | 2 | 300 |", "| raw floor | websocket | 2 | 300 |", "## The cluster against the raw floor", "## Sessions against pages", "## Extra round trips", "nothing lost"} {
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
