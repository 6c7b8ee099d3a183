package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/grid"
	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/cmd/parleybench/internal/report"
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
	// RSSBefore and RSSAfter are the server's resident memory with no
	// pages and with the pages held, after a garbage collection.
	RSSBefore uint64 `json:"rssBefore"`
	RSSAfter  uint64 `json:"rssAfter"`
	// HeapBefore and HeapAfter are the Go heap in use at the same times.
	HeapBefore uint64 `json:"heapBefore"`
	HeapAfter  uint64 `json:"heapAfter"`
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

// idleResult is everything idle writes to idle.json.
type idleResult struct {
	Machine procfs.Machine `json:"machine"`
	Hold    time.Duration  `json:"hold"`
	Rows    []idleRow      `json:"rows"`
}

func cmdIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	pages := fs.Int("pages", 10000, "number of pages held")
	transports := fs.String("transports", "longpoll,sse,poll,passive", "transports to measure")
	hold := fs.Duration("hold", 3*time.Second, "how long the pages are held before the server is measured")
	perProc := fs.Int("per-process", 9000, "pages per loader process")
	out := fs.String("out", "cmd/parleybench/results", "directory for idle.md and idle.json")
	baseline := fs.Bool("baseline", false, "also hold long-poll and SSE pages with parking off, on a handler goroutine each as plain net/http does: the baseline")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pages < 1 || *pages > 100_000 {
		return fmt.Errorf("-pages %d is not in 1..100000", *pages)
	}
	if *hold <= 0 || *hold > 20*time.Second {
		return fmt.Errorf("-hold %v must be above 0 and at most 20s, below the long-poll hold of 25s", *hold)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	res := idleResult{Machine: procfs.DescribeMachine(), Hold: *hold}
	for _, t := range grid.ParseList(*transports) {
		if !validMode(t) || t == modePull {
			return fmt.Errorf("idle measures longpoll, sse, poll and passive, not %q", t)
		}
		variants := []bool{false}
		if *baseline && (t == "longpoll" || t == "sse") {
			variants = append(variants, true)
		}
		for _, noParking := range variants {
			row, err := runIdle(t, *pages, *hold, *perProc, noParking)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			log.Printf("idle: %s: %d pages, %s RSS per page", row.label(), row.Ready, report.Bytes(row.perPage(row.RSSBefore, row.RSSAfter)))
			res.Rows = append(res.Rows, row)
		}
	}
	return writeResults(*out, "idle", res, func(w io.Writer) error { return idleMarkdown(w, res) })
}

// idlePoll is the poll interval of idle polling pages: long, so that they
// are idle as the held ones are.
const idlePoll = 10 * time.Second

// runIdle holds pages on transport t and measures the server before and
// after; noParking runs the server with parking off.
func runIdle(t string, pages int, hold time.Duration, perProc int, noParking bool) (idleRow, error) {
	row := idleRow{Transport: t, Pages: pages, NoParking: noParking}
	var extra []string
	if noParking {
		extra = append(extra, "-no-parking")
	}
	srv, err := startServer(idlePoll, extra...)
	if err != nil {
		return row, err
	}
	defer srv.stop()
	var st serverStats
	if err := srv.call("gc", struct{}{}, &st); err != nil {
		return row, err
	}
	row.HeapBefore = st.HeapInuse
	if row.RSSBefore, err = procfs.ReadRSS(srv.info.PID); err != nil {
		return row, err
	}
	fl, ready, err := startFleet(srv.info.URL, pages, perProc, t, idlePoll, openTimeout(pages))
	if err != nil {
		return row, err
	}
	defer fl.stop()
	row.Ready = ready
	time.Sleep(hold)
	if err := srv.call("gc", struct{}{}, &st); err != nil {
		return row, err
	}
	row.HeapAfter, row.Held = st.HeapInuse, st.Held
	row.RSSAfter, err = procfs.ReadRSS(srv.info.PID)
	return row, err
}

func idleMarkdown(w io.Writer, res idleResult) error {
	fmt.Fprintf(w, "# Idle pages: server memory per page\n\n")
	if err := report.WriteMachine(w, res.Machine); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nPages open a script session and wait; nothing is published. The server is measured with no pages and again after the pages have been held for %v, ", res.Hold)
	fmt.Fprintf(w, "each time after a garbage collection that returns free memory to the system. *RSS per page* is the growth of the server's resident memory (`VmRSS`) over the open pages; ")
	fmt.Fprintf(w, "*heap per page* is the growth of the Go heap in use. Kernel socket buffers are not in either. Polling pages poll every %v; passive pages never ask.\n\n", idlePoll)
	t := report.Table{
		Header: []string{"transport", "pages", "held", "RSS before", "RSS after", "RSS per page", "heap per page"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true},
	}
	for _, r := range res.Rows {
		pages := strconv.Itoa(r.Pages)
		if r.Ready != r.Pages {
			pages = fmt.Sprintf("%d (%d open)", r.Pages, r.Ready)
		}
		t.Add(r.label(), pages, strconv.Itoa(r.Held), report.Bytes(float64(r.RSSBefore)), report.Bytes(float64(r.RSSAfter)),
			report.Bytes(r.perPage(r.RSSBefore, r.RSSAfter)), report.Bytes(r.perPage(r.HeapBefore, r.HeapAfter)))
	}
	return t.WriteMarkdown(w)
}
