package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/grid"
	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/cmd/parleybench/internal/report"
	"github.com/parley-go/parley/cmd/parleybench/internal/stats"
)

// idleRow is the server's memory with pages held idle on one transport.
type idleRow struct {
	Transport string `json:"transport"`
	// NoParking: held pages waited on handler goroutines (the baseline).
	NoParking bool `json:"noParking,omitempty"`
	Pages     int  `json:"pages"`
	Ready     int  `json:"ready"`
	// Held is the number of connections the server held at the end.
	Held int `json:"held"`
	// Files is the number of files, sockets included, the server had
	// open with the pages held.
	Files int `json:"files,omitempty"`
	// NaturalBefore and NaturalAfter are the server's resident memory
	// with no pages and with the pages held, as ps and top show it: no
	// collection is forced.
	NaturalBefore uint64 `json:"naturalBefore"`
	NaturalAfter  uint64 `json:"naturalAfter"`
	// RSSBefore and RSSAfter are the same after a forced garbage
	// collection that returns free memory to the system.
	RSSBefore uint64 `json:"rssBefore"`
	RSSAfter  uint64 `json:"rssAfter"`
	// HeapBefore and HeapAfter are the Go heap in use at the same times.
	HeapBefore uint64 `json:"heapBefore"`
	HeapAfter  uint64 `json:"heapAfter"`
	// Load is the machine's one-minute load average with the pages held:
	// the machine may be shared, and a loaded one opens pages slower.
	Load float64 `json:"load"`
}

// perPage returns the growth of after over before, per open page.
func (r idleRow) perPage(before, after uint64) float64 {
	if r.Ready == 0 {
		return 0
	}
	return (float64(after) - float64(before)) / float64(r.Ready)
}

// label names the row's transport, and marks the baseline.
func (r idleRow) label() string {
	if r.NoParking {
		return r.Transport + ", not parked (baseline)"
	}
	return r.Transport
}

// releaseRow is how long the server took to release held pages that went
// away, on one transport.
type releaseRow struct {
	Transport string `json:"transport"`
	// Cause is "fin" (the page closed its TCP connection) or "silent"
	// (the page's packets stopped: no FIN, no RST, no ACK).
	Cause string `json:"cause"`
	// Pages is the number of pages held when they went away; Released,
	// how many the server released within Timeout.
	Pages    int           `json:"pages"`
	Released int           `json:"released"`
	Timeout  time.Duration `json:"timeout"`
	// Times summarises the released pages' times, in seconds.
	Times stats.Summary `json:"times"`
	// Skipped says why the row was not measured, if it was not.
	Skipped string `json:"skipped,omitempty"`
}

// idleResult is everything idle writes to idle.json.
type idleResult struct {
	Machine procfs.Machine `json:"machine"`
	Hold    time.Duration  `json:"hold"`
	Rows    []idleRow      `json:"rows"`
	// Heartbeat is the server's heartbeat in the release runs.
	Heartbeat time.Duration `json:"heartbeat"`
	Releases  []releaseRow  `json:"releases,omitempty"`
	// Conns are the connections left open between requests.
	Conns []connsRow `json:"conns,omitempty"`
}

func cmdIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	pages := fs.Int("pages", 18000, "number of pages held")
	transports := fs.String("transports", "longpoll,sse,websocket,sse-h2,poll,passive", "transports to measure: longpoll, sse, websocket, sse-h2 (SSE over HTTP/2 with TLS), poll, passive")
	hold := fs.Duration("hold", 3*time.Second, "how long the pages are held before the server is measured")
	perProc := fs.Int("per-process", 9000, "pages per loader process")
	out := fs.String("out", "cmd/parleybench/results", "directory for idle.md and idle.json")
	baseline := fs.Bool("baseline", false, "also hold long-poll and SSE pages with parking off, on a handler goroutine each as plain net/http does: the baseline")
	releases := fs.String("release", "longpoll,sse,websocket", "held transports whose release times are measured (empty: none)")
	releasePages := fs.Int("release-pages", 200, "pages that go away at once in each release run")
	heartbeat := fs.Duration("heartbeat", 2*time.Second, "the server's heartbeat in the release runs")
	releaseTimeout := fs.Duration("release-timeout", 40*time.Second, "longest wait for the server to release the pages of a release run")
	conns := fs.Int("conns", 5000, "connections left open between requests, after a session open and after an ack, whose memory is measured (0: none)")
	heapDir := fs.String("heap-profile", "", "directory for the server's heap profile with the pages held, heap-TRANSPORT.pprof (heap-TRANSPORT-baseline.pprof with parking off) (empty: none); run with GODEBUG=memprofilerate=N for finer samples")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pages < 1 || *pages > 100_000 {
		return fmt.Errorf("-pages %d is not in 1..100000", *pages)
	}
	if *hold <= 0 || *hold > 20*time.Second {
		return fmt.Errorf("-hold %v must be above 0 and at most 20s, below the long-poll hold of 25s", *hold)
	}
	if *conns < 0 || *conns > 15_000 {
		return fmt.Errorf("-conns %d is not in 0..15000", *conns)
	}
	if *releasePages < 1 || *releasePages > 5000 || *releaseTimeout <= 0 || *releaseTimeout > 5*time.Minute {
		return fmt.Errorf("-release-pages must be in 1..5000 and -release-timeout in (0, 5m]")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	res := idleResult{Machine: procfs.DescribeMachine(), Hold: *hold, Heartbeat: *heartbeat}
	var failed []error // runs that failed; the others are still reported
	for _, t := range grid.ParseList(*transports) {
		if !validMode(t) || t == modePull {
			return fmt.Errorf("idle measures longpoll, sse, websocket, sse-h2, poll and passive, not %q", t)
		}
		variants := []bool{false}
		if *baseline && (t == "longpoll" || t == "sse") {
			variants = append(variants, true)
		}
		for _, noParking := range variants {
			row, err := runIdle(t, *pages, *hold, *perProc, noParking, *heapDir)
			if err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", t, err))
				log.Print(failed[len(failed)-1])
				continue
			}
			log.Printf("idle: %s: %d pages, %s RSS per page (%s after a forced GC)", row.label(), row.Ready,
				report.Bytes(row.perPage(row.NaturalBefore, row.NaturalAfter)), report.Bytes(row.perPage(row.RSSBefore, row.RSSAfter)))
			res.Rows = append(res.Rows, row)
		}
	}
	for _, t := range grid.ParseList(*releases) {
		if t != modeLongPoll && t != modeSSE && t != modeWebSocket {
			return fmt.Errorf("release times are measured on longpoll, sse and websocket, not %q", t)
		}
		for _, cause := range []string{causeFIN, causeSilent} {
			row, err := runRelease(t, cause, *releasePages, *heartbeat, *releaseTimeout)
			if err != nil {
				failed = append(failed, fmt.Errorf("release of %s pages (%s): %w", t, cause, err))
				log.Print(failed[len(failed)-1])
				continue
			}
			if row.Skipped != "" {
				log.Printf("idle: release of %s pages (%s) skipped: %s", t, cause, row.Skipped)
			} else {
				log.Printf("idle: release of %s pages (%s): %d of %d released, p50 %s, p99 %s, max %s",
					t, cause, row.Released, row.Pages, report.Millis(row.Times.P50), report.Millis(row.Times.P99), report.Millis(row.Times.Max))
			}
			res.Releases = append(res.Releases, row)
		}
	}
	for _, last := range []string{connsAfterSession, connsAfterAck} {
		if *conns == 0 {
			break
		}
		row, err := runConns(last, *conns, *hold)
		if err != nil {
			failed = append(failed, fmt.Errorf("connections after %s: %w", last, err))
			log.Print(failed[len(failed)-1])
			continue
		}
		log.Printf("idle: %d connections quiet after %s: %s RSS per connection, %d server goroutines", row.Conns, last, report.Bytes(row.perConn()), row.Goroutines)
		res.Conns = append(res.Conns, row)
	}
	if err := writeResults(*out, "idle", res, func(w io.Writer) error { return idleMarkdown(w, res) }); err != nil {
		return err
	}
	return errors.Join(failed...)
}

// The causes of a release run.
const (
	causeFIN    = "fin"
	causeSilent = "silent"
)

// releaseSource is the loopback address release pages connect from; the
// silent runs make its packets vanish.
var releaseSource = netip.AddrFrom4([4]byte{127, 0, 0, 250})

// runRelease holds pages pages of transport t, in this process, on a
// server with the given heartbeat; then they all go away at once, by
// cause, and the server's held count is watched until it reaches 0 or
// timeout passes. Each drop of the count is a page released.
func runRelease(t, cause string, pages int, heartbeat, timeout time.Duration) (releaseRow, error) {
	row := releaseRow{Transport: t, Cause: cause, Pages: pages, Timeout: timeout}
	srv, err := startServer(idlePoll, "-heartbeat", heartbeat.String())
	if err != nil {
		return row, err
	}
	defer srv.stop()
	l, err := newLoader(loadConfig{URL: srv.info.URL, Pages: pages, Mode: t, Interval: idlePoll,
		Sources: []netip.Addr{releaseSource}, Opening: 64, Abrupt: true})
	if err != nil {
		return row, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := make(chan struct{})
	go func() {
		l.start(ctx)
		close(opened)
	}()
	select {
	case <-opened:
	case <-time.After(openTimeout(pages)):
		return row, errors.New("the pages did not open")
	}
	if err := l.err(); err != nil {
		return row, err
	}
	held := func() (int, error) {
		var st serverStats
		err := srv.call("stats", nil, &st)
		return st.Held, err
	}
	if err := waitHeld(held, pages, 10*time.Second); err != nil {
		return row, err
	}
	if cause == causeSilent {
		_, port, _ := net.SplitHostPort(srv.info.Addr)
		p, _ := strconv.Atoi(port)
		undo, err := silence(releaseSource, p)
		if err != nil {
			row.Skipped = err.Error()
			return row, nil
		}
		defer undo()
	}
	start := time.Now()
	if cause == causeFIN {
		cancel()
	}
	var times []float64
	released := 0
	for released < pages && time.Since(start) < timeout {
		n, err := held()
		if err != nil {
			return row, err
		}
		now := time.Since(start).Seconds()
		for ; released < pages-n; released++ {
			times = append(times, now)
		}
		if cause == causeSilent && time.Since(start) > 100*time.Millisecond {
			cancel() // the pages' own FINs vanish too
		}
		time.Sleep(5 * time.Millisecond)
	}
	row.Released, row.Times = released, stats.Summarize(times)
	return row, nil
}

// waitHeld waits until held reports want connections, for at most wait.
func waitHeld(held func() (int, error), want int, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		n, err := held()
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server holds %d connections, want %d", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idlePoll is the poll interval of idle polling pages: long, so that they
// are idle as the held ones are.
const idlePoll = 10 * time.Second

// runIdle holds pages on transport t and measures the server before and
// after; noParking runs the server with parking off. With heapDir set, it
// saves the server's heap profile there once the server is measured.
func runIdle(t string, pages int, hold time.Duration, perProc int, noParking bool, heapDir string) (idleRow, error) {
	row := idleRow{Transport: t, Pages: pages, NoParking: noParking}
	extra := serverArgs(t)
	if noParking {
		extra = append(extra, "-no-parking")
	}
	srv, err := startServer(idlePoll, extra...)
	if err != nil {
		return row, err
	}
	defer srv.stop()
	var st serverStats
	if err := checkOpenFiles(srv.info, pages); err != nil {
		return row, err
	}
	if row.NaturalBefore, err = procfs.ReadRSS(srv.info.PID); err != nil {
		return row, err
	}
	if err := srv.call("gc", struct{}{}, &st); err != nil {
		return row, err
	}
	row.HeapBefore = st.HeapInuse
	if row.RSSBefore, err = procfs.ReadRSS(srv.info.PID); err != nil {
		return row, err
	}
	fl, ready, err := startFleet(srv.info.URL, pages, perProc, t, idlePoll, openTimeout(pages), srv.loaderArgs()...)
	if err != nil {
		return row, err
	}
	defer fl.stop()
	row.Ready = ready
	time.Sleep(hold)
	if row.NaturalAfter, err = procfs.ReadRSS(srv.info.PID); err != nil {
		return row, err
	}
	row.Load = loadAverage()
	if row.Files, err = procfs.ReadOpenFiles(srv.info.PID); err != nil {
		return row, err
	}
	if err := srv.call("gc", struct{}{}, &st); err != nil {
		return row, err
	}
	row.HeapAfter, row.Held = st.HeapInuse, st.Held
	if row.RSSAfter, err = procfs.ReadRSS(srv.info.PID); err != nil || heapDir == "" {
		return row, err
	}
	name := "heap-" + t
	if noParking {
		name += "-baseline"
	}
	return row, saveHeap(srv, filepath.Join(heapDir, name+".pprof"))
}

// saveHeap writes the server's heap profile to the file name.
func saveHeap(srv *benchProc, name string) error {
	base, _, _ := strings.Cut(srv.info.URL, "/parley/")
	res, err := srv.control.Get(base + "/bench/heap")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("bench server: heap profile: %s", res.Status)
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func idleMarkdown(w io.Writer, res idleResult) error {
	fmt.Fprintf(w, "# Idle pages: server memory per page\n\n")
	if err := report.WriteMachine(w, res.Machine); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nPages open a script session and wait; nothing is published. The server is measured with no pages and again after the pages have been held for %v. ", res.Hold)
	fmt.Fprintf(w, "*RSS per page* is the growth of the server's resident memory (`VmRSS`) over the open pages as an operator reads it with `ps` or `top`: no collection is forced. ")
	fmt.Fprintf(w, "*after GC* is the same growth when each reading follows a forced garbage collection that returns free memory to the system; *heap per page* is the growth of the Go heap in use after it; *server files* is the files, sockets included, the server had open with the pages held; *load* is the machine's one-minute load average then. ")
	fmt.Fprintf(w, "Kernel socket buffers are in none of them. *%s* is SSE over HTTP/2 with TLS, the server allowing 100 streams per connection. Polling pages poll every %v; passive pages never ask.\n\n", modeSSEH2, idlePoll)
	t := report.Table{
		Header: []string{"transport", "pages", "held", "RSS before", "RSS after", "RSS per page", "after GC", "heap per page", "server files", "load"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true},
	}
	for _, r := range res.Rows {
		pages := strconv.Itoa(r.Pages)
		if r.Ready != r.Pages {
			pages = fmt.Sprintf("%d (%d open)", r.Pages, r.Ready)
		}
		t.Add(r.label(), pages, strconv.Itoa(r.Held), report.Bytes(float64(r.NaturalBefore)), report.Bytes(float64(r.NaturalAfter)),
			report.Bytes(r.perPage(r.NaturalBefore, r.NaturalAfter)), report.Bytes(r.perPage(r.RSSBefore, r.RSSAfter)),
			report.Bytes(r.perPage(r.HeapBefore, r.HeapAfter)), strconv.Itoa(r.Files), strconv.FormatFloat(r.Load, 'f', 2, 64))
	}
	if err := t.WriteMarkdown(w); err != nil {
		return err
	}
	if len(res.Conns) > 0 {
		if err := connsMarkdown(w, res.Conns, res.Hold); err != nil {
			return err
		}
	}
	if len(res.Releases) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n## Pages that go away\n\n")
	fmt.Fprintf(w, "A server with a heartbeat of %v holds the pages of one loader; then all go away at once, and the server's held count is read every 5 ms until it reaches 0. ", res.Heartbeat)
	fmt.Fprintf(w, "Each page's time is from its going away to the count's drop that released it. ")
	fmt.Fprintf(w, "*fin*: the page closes its TCP connection (WebSocket pages without a close frame). ")
	fmt.Fprintf(w, "*silent*: the page's packets vanish on the loopback interface (tc), so the server sees no FIN, no RST and no ACK, as when a laptop lid closes or a network goes away.\n\n")
	rt := report.Table{
		Header: []string{"transport", "cause", "pages", "released", "p50", "p99", "max"},
		Right:  map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true},
	}
	for _, r := range res.Releases {
		if r.Skipped != "" {
			rt.Add(r.Transport, r.Cause, strconv.Itoa(r.Pages), "skipped: "+r.Skipped, "", "", "")
			continue
		}
		released := fmt.Sprintf("%d in %v", r.Released, r.Timeout)
		if r.Released == 0 {
			rt.Add(r.Transport, r.Cause, strconv.Itoa(r.Pages), released, "", "", "")
			continue
		}
		rt.Add(r.Transport, r.Cause, strconv.Itoa(r.Pages), released, report.Millis(r.Times.P50), report.Millis(r.Times.P99), report.Millis(r.Times.Max))
	}
	return rt.WriteMarkdown(w)
}
