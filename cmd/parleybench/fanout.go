package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/grid"
	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/cmd/parleybench/internal/report"
	"github.com/parley-go/parley/cmd/parleybench/internal/stats"
)

// fanoutRow is the result of repeated publishes to one set of pages.
type fanoutRow struct {
	Transport string `json:"transport"`
	Pages     int    `json:"pages"`
	Ready     int    `json:"ready"`
	Repeats   int    `json:"repeats"`
	// Trip summarises every page's trip time over all repeats, in seconds.
	Trip stats.Summary `json:"trip"`
	// AllHave summarises, over the repeats, the time until the last page
	// had the quote, in seconds.
	AllHave stats.Summary `json:"allHave"`
	// PerSecond is the mean over repeats of pages reached per second
	// until the last had it.
	PerSecond float64 `json:"perSecond"`
	// Missed counts deliveries that had not happened when a repeat timed out.
	Missed uint64 `json:"missed"`
	// ServerCPU is the server's CPU seconds per publish.
	ServerCPU float64 `json:"serverCPU"`
	// Delivered counts the deliveries over all repeats: Ready × Repeats
	// when none was missed.
	Delivered uint64 `json:"delivered"`
	// CPUPerDelivery is the server's CPU microseconds per delivery, over
	// all repeats.
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
	// Floor compares the row with the raw floor at the same number of
	// pages; it is absent from the floor's own rows, and when the floor
	// was not measured.
	Floor *floorRatio `json:"floor,omitempty"`
}

// floorRatio is a transport's figures as ratios of the raw floor's.
type floorRatio struct {
	// PerSecond is the transport's deliveries per second over the
	// floor's: 1 is the floor's speed.
	PerSecond float64 `json:"perSecond"`
	// CPUPerDelivery is the transport's server CPU per delivery over the
	// floor's: 1 costs what the floor costs; 0 if the floor's was too
	// small to measure.
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
}

// compareWithFloor sets Floor on every transport row that has a raw floor
// row with the same number of pages.
func compareWithFloor(rows []fanoutRow) {
	floors := map[int]fanoutRow{}
	for _, r := range rows {
		if r.Transport == modeRaw {
			floors[r.Pages] = r
		}
	}
	for i := range rows {
		r := &rows[i]
		f, ok := floors[r.Pages]
		if r.Transport == modeRaw || !ok || f.PerSecond <= 0 {
			continue
		}
		r.Floor = &floorRatio{PerSecond: r.PerSecond / f.PerSecond}
		if f.CPUPerDelivery > 0 {
			r.Floor.CPUPerDelivery = r.CPUPerDelivery / f.CPUPerDelivery
		}
	}
}

// fanoutResult is everything fanout writes to fanout.json.
type fanoutResult struct {
	Machine procfs.Machine `json:"machine"`
	Rows    []fanoutRow    `json:"rows"`
}

func cmdFanout(args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	pages := fs.String("pages", "1000,10000,18000", "numbers of pages")
	transports := fs.String("transports", "longpoll,sse", "transports: longpoll, sse, poll")
	repeats := fs.Int("repeat", 5, "publishes per set of pages")
	pollInterval := fs.Duration("poll-interval", time.Second, "interval of the poll transport")
	timeout := fs.Duration("timeout", 30*time.Second, "longest wait for one publish to reach every page")
	perProc := fs.Int("per-process", 9000, "pages per loader process")
	floor := fs.Bool("floor", true, "also measure the raw floor at each number of pages: as many plain TCP connections, each sent the same bytes in one write per quote, and report the transports as ratios of it")
	out := fs.String("out", "cmd/parleybench/results", "directory for fanout.md, fanout.json and fanout.svg")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, err := grid.ParseInts(*pages)
	if err != nil {
		return err
	}
	if *repeats < 1 || *repeats > 1000 {
		return fmt.Errorf("-repeat %d is not in 1..1000", *repeats)
	}
	ts := grid.ParseList(*transports)
	for _, t := range ts {
		if t != modeLongPoll && t != modeSSE && t != modePoll {
			return fmt.Errorf("fanout measures longpoll, sse and poll, not %q", t)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	res := fanoutResult{Machine: procfs.DescribeMachine()}
	if *floor {
		ts = append(ts, modeRaw)
	}
	for _, t := range ts {
		for _, n := range ns {
			row, err := runFanout(t, n, *repeats, *pollInterval, *timeout, *perProc)
			if err != nil {
				return fmt.Errorf("%s to %d pages: %w", t, n, err)
			}
			log.Printf("fanout: %s to %d pages: p99 %.1f ms, all in %.1f ms", t, n, row.Trip.P99*1000, row.AllHave.Mean*1000)
			res.Rows = append(res.Rows, row)
		}
	}
	compareWithFloor(res.Rows)
	if err := writeResults(*out, "fanout", res, func(w io.Writer) error { return fanoutMarkdown(w, res, *pollInterval) }); err != nil {
		return err
	}
	return fanoutChart(filepath.Join(*out, "fanout.svg"), res)
}

// runFanout publishes one quote at a time to n pages on transport t,
// repeats times, each time waiting until every page has it. Transport
// "raw" is the raw floor.
func runFanout(t string, n, repeats int, pollInterval, timeout time.Duration, perProc int) (fanoutRow, error) {
	row := fanoutRow{Transport: t, Pages: n, Repeats: repeats}
	var extra []string
	if t == modeRaw {
		extra = append(extra, "-raw")
	}
	srv, err := startServer(pollInterval, extra...)
	if err != nil {
		return row, err
	}
	defer srv.stop()
	target := srv.info.URL
	if t == modeRaw {
		target = srv.info.RawAddr
	}
	fl, ready, err := startFleet(target, n, perProc, t, pollInterval, openTimeout(n))
	if err != nil {
		return row, err
	}
	defer fl.stop()
	row.Ready = ready
	err = measureFanout(&row, fanoutRig{
		serverPID: srv.info.PID,
		publish: func(run string) error {
			_, err := srv.publish(run, 1, 0)
			return err
		},
		snap: fl.snap,
	}, timeout)
	return row, err
}

// fanoutRig is what measureFanout drives: a server that publishes a quote
// to every page, and the pages, which report what they have received.
type fanoutRig struct {
	// serverPID is the process whose CPU time is measured.
	serverPID int
	// publish publishes one quote in the run named run.
	publish func(run string) error
	// snap returns what the pages received since the previous snap.
	snap func() (Snapshot, error)
}

// measureFanout publishes row.Repeats quotes, one at a time, to the
// row.Ready pages of rig, each time waiting until every page has it or
// timeout has passed, and fills in row's figures.
func measureFanout(row *fanoutRow, rig fanoutRig, timeout time.Duration) error {
	var trips []float64
	var allHave, rates []float64
	var cpu float64
	for i := range row.Repeats {
		time.Sleep(500 * time.Millisecond) // let every page be held again
		if _, err := rig.snap(); err != nil {
			return err
		}
		id := fmt.Sprintf("fanout/%s/%d/%d", row.Transport, row.Pages, i)
		w, err := openWindow(rig.serverPID, nil)
		if err != nil {
			return err
		}
		if err := rig.publish(id); err != nil {
			_, _, _ = w.close()
			return err
		}
		var got RunData
		deadline := time.Now().Add(timeout)
		for got.Delivered < uint64(row.Ready) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			s, err := rig.snap()
			if err != nil {
				_, _, _ = w.close()
				return err
			}
			if d := s.Runs[id]; d != nil {
				got.Counts.Merge(d.Counts)
				got.TripsMicros = append(got.TripsMicros, d.TripsMicros...)
			}
		}
		usage, _, err := w.close()
		if err != nil {
			return err
		}
		cpu += usage.CPUSeconds
		row.Delivered += got.Delivered
		row.Missed += got.Lost(row.Ready, 1)
		s := got.Trips()
		for _, us := range got.TripsMicros {
			trips = append(trips, float64(us)/1e6)
		}
		allHave = append(allHave, s.Max)
		if s.Max > 0 {
			rates = append(rates, float64(got.Delivered)/s.Max)
		}
	}
	row.Trip = stats.Summarize(trips)
	row.AllHave = stats.Summarize(allHave)
	row.PerSecond = stats.Summarize(rates).Mean
	row.ServerCPU = cpu / float64(row.Repeats)
	if row.Delivered > 0 {
		row.CPUPerDelivery = cpu * 1e6 / float64(row.Delivered)
	}
	return nil
}

func fanoutMarkdown(w io.Writer, res fanoutResult, pollInterval time.Duration) error {
	fmt.Fprintf(w, "# Fan-out: one publish to many pages\n\n")
	if err := report.WriteMachine(w, res.Machine); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nOne quote is published to every page of `/ticker`, and the next only once every page has it (or the wait timed out). ")
	fmt.Fprintf(w, "*trip* is each page's receive time less the publish time, over all pages and repeats; *all have it* is the time until the last page had it, over repeats; ")
	fmt.Fprintf(w, "*deliveries/s* is pages reached per second until then; *CPU per delivery* is the server's CPU time, from `/proc`, over all deliveries. The poll transport, where measured, polls every %v.\n\n", pollInterval)
	fmt.Fprintf(w, "The **%s** rows, where measured, are the raw floor: as many plain TCP connections on loopback, held by the same server process and loaders, each sent the bytes of the server-sent event a Parley SSE page receives for the quote, in one write per connection, with no HTTP, session, outbox or ack. ", modeRaw)
	fmt.Fprintf(w, "It is this machine's ceiling for one write per page.\n\n")
	t := report.Table{
		Header: []string{"transport", "pages", "repeats", "trip p50", "trip p99", "all have it (mean)", "all have it (max)", "deliveries/s", "missed", "server CPU per publish", "CPU per delivery"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true},
	}
	for _, r := range res.Rows {
		pages := strconv.Itoa(r.Pages)
		if r.Ready != r.Pages {
			pages = fmt.Sprintf("%d (%d open)", r.Pages, r.Ready)
		}
		t.Add(r.Transport, pages, strconv.Itoa(r.Repeats), report.Millis(r.Trip.P50), report.Millis(r.Trip.P99),
			report.Millis(r.AllHave.Mean), report.Millis(r.AllHave.Max), fmt.Sprintf("%.0f", r.PerSecond),
			strconv.FormatUint(r.Missed, 10), fmt.Sprintf("%.3f s", r.ServerCPU), fmt.Sprintf("%.1f µs", r.CPUPerDelivery))
	}
	if err := t.WriteMarkdown(w); err != nil {
		return err
	}
	if err := floorMarkdown(w, res.Rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n![Fan-out p99 trip time against pages](fanout.svg)\n")
	return err
}

// floorMarkdown writes the table of the transports against the raw
// floor, if any row has been compared with it.
func floorMarkdown(w io.Writer, rows []fanoutRow) error {
	t := report.Table{
		Header: []string{"transport", "pages", "deliveries/s", "of the floor's", "CPU per delivery", "× the floor's"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true},
	}
	for _, r := range rows {
		if r.Floor == nil {
			continue
		}
		times := "unmeasured"
		if r.Floor.CPUPerDelivery > 0 {
			times = fmt.Sprintf("%.1f×", r.Floor.CPUPerDelivery)
		}
		t.Add(r.Transport, strconv.Itoa(r.Pages), fmt.Sprintf("%.0f", r.PerSecond), fmt.Sprintf("%.0f%%", 100*r.Floor.PerSecond),
			fmt.Sprintf("%.1f µs", r.CPUPerDelivery), times)
	}
	if len(t.Rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nAgainst the raw floor at the same number of pages, measured in the same run:\n\n")
	return t.WriteMarkdown(w)
}

func fanoutChart(path string, res fanoutResult) error {
	var series []report.Series
	var names []string
	for _, r := range res.Rows {
		if !slices.Contains(names, r.Transport) {
			names = append(names, r.Transport)
		}
	}
	for _, name := range names {
		p50 := report.Series{Name: name + " p50"}
		p99 := report.Series{Name: name + " p99"}
		for _, r := range res.Rows {
			if r.Transport == name {
				p50.X, p50.Y = append(p50.X, float64(r.Pages)), append(p50.Y, r.Trip.P50*1000)
				p99.X, p99.Y = append(p99.X, float64(r.Pages)), append(p99.Y, r.Trip.P99*1000)
			}
		}
		series = append(series, p50, p99)
	}
	c := report.Chart{Title: "Fan-out of one publish", XLabel: "pages", YLabel: "trip time (ms)", LogX: true, LogY: true, Series: series}
	return c.SaveSVG(path)
}
