package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/cmd/parleybench/internal/seqtrack"
	"github.com/parley-go/parley/cmd/parleybench/internal/stats"
	"github.com/parley-go/parley/reverse"
)

// startBench serves a bench server on a loopback port for the test.
func startBench(t *testing.T) (*benchServer, string) {
	t.Helper()
	b := newBenchServer(reverse.WithTransports(reverse.Transports{PollInterval: 20 * time.Millisecond}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: b.handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		b.hub.Close()
		_ = srv.Close()
	})
	return b, "http://" + ln.Addr().String() + "/parley/"
}

// TestLoaderAccounts runs a few pages of each kind against an in-process
// bench server and checks what they account for: every quote once, in
// order, to every push page; the latest quote to pull pages.
func TestLoaderAccounts(t *testing.T) {
	for _, mode := range []string{modeLongPoll, modePoll, modePull} {
		t.Run(mode, func(t *testing.T) {
			b, url := startBench(t)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, err := newLoader(loadConfig{URL: url, Pages: 3, Mode: mode, Interval: 20 * time.Millisecond, Opening: 2})
			if err != nil {
				t.Fatal(err)
			}
			l.start(ctx)
			if got := l.ready.Load(); got != 3 {
				t.Fatalf("%d pages ready, want 3", got)
			}
			const n = 4
			if r := b.publish(ctx, publishRequest{Run: "r", Count: n, Interval: 50 * time.Millisecond}); r.Published != n {
				t.Fatalf("published %+v", r)
			}
			all := Snapshot{Pages: 3}
			for ctx.Err() == nil {
				all.Merge(l.snapshot())
				if d := all.Runs["r"]; d != nil && (d.Delivered == 3*n || mode == modePull && d.Delivered >= 3) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			d := all.Runs["r"]
			if d == nil {
				t.Fatal("no quotes arrived")
			}
			if d.Duplicates != 0 || d.OutOfOrder != 0 || len(d.TripsMicros) != int(d.Delivered) {
				t.Fatalf("run accounting %+v with %d trips", d.Counts, len(d.TripsMicros))
			}
			if mode != modePull && d.Lost(3, n) != 0 {
				t.Fatalf("%d quotes lost", d.Lost(3, n))
			}
			if all.Requests == 0 || all.Bytes == 0 || all.Pages != 3 {
				t.Fatalf("snapshot %+v", all)
			}
		})
	}
}

func TestLoaderRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"http://10.0.0.1:8080/parley/", "http://example.com/parley/", "https://example.com/parley/"} {
		if _, err := newLoader(loadConfig{URL: url, Pages: 1, Mode: modeLongPoll}); err == nil {
			t.Errorf("newLoader(%q) accepted", url)
		}
	}
	if _, err := newLoader(loadConfig{URL: "http://127.0.0.1:1/parley/", Pages: 1, Mode: "carrier-pigeon"}); err == nil {
		t.Error("an unknown transport was accepted")
	}
	if err := cmdServe([]string{"-addr", "0.0.0.0:0"}); err == nil {
		t.Error("serve listened on a non-loopback address")
	}
}

func TestSnapshotMerge(t *testing.T) {
	t.Parallel()
	a := Snapshot{Pages: 2, Ready: 2, Requests: 5, Bytes: 100, Runs: map[string]*RunData{
		"r": {Counts: seqtrack.Counts{Delivered: 2}, TripsMicros: []int64{1000, 3000}},
	}}
	a.Merge(Snapshot{Pages: 1, Ready: 1, Requests: 1, Bytes: 10, Gaps: 1, Runs: map[string]*RunData{
		"r": {Counts: seqtrack.Counts{Delivered: 1, Duplicates: 1}, TripsMicros: []int64{2000}},
		"s": {Counts: seqtrack.Counts{Delivered: 1}, TripsMicros: []int64{5}},
	}})
	if a.Pages != 2 || a.Ready != 2 || a.Requests != 6 || a.Bytes != 110 || a.Gaps != 1 || len(a.Runs) != 2 {
		t.Fatalf("merged %+v", a)
	}
	r := a.Runs["r"]
	if r.Delivered != 3 || r.Duplicates != 1 {
		t.Fatalf("run r %+v", r.Counts)
	}
	if got := r.Trips(); got != (stats.Summary{N: 3, Mean: 0.002, P50: 0.002, P99: 0.003, Max: 0.003}) {
		t.Fatalf("trips %+v", got)
	}
}

func TestPaperMarkdown(t *testing.T) {
	t.Parallel()
	row := func(mode string, users int, iv time.Duration, missed uint64) paperRow {
		return paperRow{Mode: mode, Users: users, Ready: users, Interval: iv, Scaled: iv / 100, Published: 10,
			Delivered: uint64(users*10) - missed, Missed: missed, Trip: stats.Summary{Mean: 0.004, P99: 0.02},
			Requests: 1000, Bytes: 150_000, Server: procfs.Usage{CPUSeconds: 0.5, Wall: time.Second, PeakRSS: 30 << 20}}
	}
	res := paperResult{Machine: procfs.Machine{CPU: "Test CPU", Cores: 2}, Scale: 0.01, Pull: 15 * time.Second, Rows: []paperRow{
		row("push", 100, 15*time.Second, 0), row("pull", 100, 15*time.Second, 250), row("push", 1000, 15*time.Second, 0),
	}}
	var b strings.Builder
	if err := paperMarkdown(&b, res, 15*time.Second, 100); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"# Push versus pull", "Test CPU", "Time scale 0.01", "150ms",
		"| mode | users | interval |", "| push | 100 | 15s | 150ms | 10 | 0.0% | 4.00 ms | 20.0 ms | 0.50 s | 50 |",
		"| pull | 100 | 15s | 150ms | 10 | 25.0% |", "paper-trip.svg", "paper-cpu.svg", "paper-missed.svg",
		"No page saw a quote out of order",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if got := strings.Count(md, "\n| "); got != 4 { // the header and three rows
		t.Errorf("%d table lines, want 4", got)
	}
	dir := t.TempDir()
	if err := writePaperReport(dir, res, 15*time.Second, 100); err != nil {
		t.Fatal(err)
	}
}

func TestFanoutAndIdleMarkdown(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	fres := fanoutResult{Rows: []fanoutRow{{Transport: "longpoll", Pages: 1000, Ready: 990, Repeats: 3,
		Trip: stats.Summary{P50: 0.1, P99: 0.3}, AllHave: stats.Summary{Mean: 0.3, Max: 0.35}, PerSecond: 3300, ServerCPU: 0.2}}}
	if err := fanoutMarkdown(&b, fres, time.Second); err != nil {
		t.Fatal(err)
	}
	if want := "| longpoll | 1000 (990 open) | 3 | 100 ms | 300 ms | 300 ms | 350 ms | 3300 | 0 | 0 | 0.200 s |"; !strings.Contains(b.String(), want) {
		t.Errorf("fanout report lacks %q:\n%s", want, b.String())
	}
	dir := t.TempDir()
	if err := fanoutCharts(dir, fres); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fanout-p99.svg", "fanout-rate.svg"} {
		if svg, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !strings.Contains(string(svg), "<svg") {
			t.Errorf("%s: %v, %.40q", name, err, svg)
		}
	}

	b.Reset()
	ires := idleResult{Hold: time.Second, Heartbeat: 2 * time.Second, Rows: []idleRow{{Transport: "sse", Pages: 1000, Ready: 1000, Held: 1000,
		NaturalBefore: 12 << 20, NaturalAfter: 12<<20 + 6144*1000,
		RSSBefore: 10 << 20, RSSAfter: 10<<20 + 4096*1000, HeapBefore: 1 << 20, HeapAfter: 1<<20 + 2048*1000}},
		Releases: []releaseRow{
			{Transport: "sse", Cause: causeFIN, Pages: 200, Released: 200, Timeout: 40 * time.Second, Times: stats.Summary{P50: 0.002, P99: 0.005, Max: 0.006}},
			{Transport: "sse", Cause: causeSilent, Pages: 200, Timeout: 40 * time.Second, Skipped: "not root"},
		}}
	if err := idleMarkdown(&b, ires); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| sse | 1000 | 1000 | 12.0 MiB | 17.9 MiB | 6.0 KiB | 4.0 KiB | 2.0 KiB |",
		"| sse | fin | 200 | 200 in 40s | 2.00 ms | 5.00 ms | 6.00 ms |",
		"| sse | silent | 200 | skipped: not root |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("idle report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestChartCommand draws the charts of a fanout results file, and refuses
// a file with no rows.
func TestChartCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := fanoutResult{Rows: []fanoutRow{
		{Transport: "sse", Pages: 100, Trip: stats.Summary{P99: 0.01}, PerSecond: 9000},
		{Transport: "sse", Pages: 1000, Trip: stats.Summary{P99: 0.05}, PerSecond: 20000},
		{Transport: modeRaw, Pages: 100, Trip: stats.Summary{P99: 0.002}, PerSecond: 50000},
	}}
	if err := writeJSON(dir, "fanout.json", res); err != nil {
		t.Fatal(err)
	}
	if err := cmdChart([]string{"-in", filepath.Join(dir, "fanout.json")}); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "fanout-rate.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "raw floor") {
		t.Error("the rate chart has no raw floor line")
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.json"), []byte(`{"rows":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmdChart([]string{"-in", filepath.Join(dir, "empty.json")}); err == nil {
		t.Error("charts were drawn from no rows")
	}
}
