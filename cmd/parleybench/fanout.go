package main

import (
	"encoding/json"
	"errors"
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
	// Opening is the seconds the pages took to open.
	Opening float64 `json:"opening"`
	Repeats int     `json:"repeats"`
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
	// all repeats. Each repeat's window runs from the publish until every
	// page has the quote and has acknowledged it, so acks are included.
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
	// Unacked counts messages still unacknowledged when a repeat's window
	// closed, summed over repeats: 0 when every ack was in the window.
	Unacked int `json:"unacked"`
	// ServerFiles is the most files the server had open, sockets
	// included, when a window closed: about one per page when pages
	// hold one connection each.
	ServerFiles int `json:"serverFiles,omitempty"`
	// Stream is the figures of a stream of publishes to the same pages,
	// absent when none was measured.
	Stream *streamRow `json:"stream,omitempty"`
	// Floor compares the row with the raw floor at the same number of
	// pages; it is absent from the floor's own rows, and when the floor
	// was not measured.
	Floor *floorRatio `json:"floor,omitempty"`
}

// streamRow is the figures of a stream of publishes: each quote published
// as soon as every page has the previous one, the server's CPU counted
// over the whole stream and the acks that follow it: the cost of a
// delivery in steady state, where pages ack many deliveries at once by
// their rule.
type streamRow struct {
	// Publishes is the number of quotes in the stream.
	Publishes int `json:"publishes"`
	// Delivered counts the deliveries: Publishes × pages when none was
	// missed; Missed counts those that had not happened when a publish
	// timed out.
	Delivered uint64 `json:"delivered"`
	Missed    uint64 `json:"missed"`
	// Trip summarises every page's trip time, in seconds.
	Trip stats.Summary `json:"trip"`
	// Took is the seconds from the first publish until every page had
	// the last; PerSecond is Delivered over Took.
	Took      float64 `json:"took"`
	PerSecond float64 `json:"perSecond"`
	// Drain is the seconds from then until the server held no
	// unacknowledged message (at most ackWait); Unacked counts those
	// still unacknowledged when it ended.
	Drain   float64 `json:"drain"`
	Unacked int     `json:"unacked"`
	// CPUSeconds is the server's CPU time over Took and Drain, and
	// CPUPerDelivery the same in microseconds per delivery.
	CPUSeconds     float64 `json:"cpuSeconds"`
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
}

// floorRatio is a transport's figures as ratios of the raw floor's.
type floorRatio struct {
	// P50 and P99 are the transport's trip percentiles over the floor's.
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	// PerSecond is the transport's deliveries per second over the
	// floor's: 1 is the floor's speed.
	PerSecond float64 `json:"perSecond"`
	// CPUPerDelivery is the transport's server CPU per delivery over the
	// floor's: 1 costs what the floor costs; 0 if the floor's was too
	// small to measure.
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
	// StreamPerSecond and StreamCPUPerDelivery are the same ratios for
	// the streams of publishes; 0 when either row has no stream.
	StreamPerSecond      float64 `json:"streamPerSecond,omitempty"`
	StreamCPUPerDelivery float64 `json:"streamCPUPerDelivery,omitempty"`
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
		if f.Trip.P50 > 0 {
			r.Floor.P50, r.Floor.P99 = r.Trip.P50/f.Trip.P50, r.Trip.P99/f.Trip.P99
		}
		if f.CPUPerDelivery > 0 {
			r.Floor.CPUPerDelivery = r.CPUPerDelivery / f.CPUPerDelivery
		}
		if r.Stream != nil && f.Stream != nil {
			if f.Stream.PerSecond > 0 {
				r.Floor.StreamPerSecond = r.Stream.PerSecond / f.Stream.PerSecond
			}
			if f.Stream.CPUPerDelivery > 0 {
				r.Floor.StreamCPUPerDelivery = r.Stream.CPUPerDelivery / f.Stream.CPUPerDelivery
			}
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
	transports := fs.String("transports", "longpoll,sse,websocket", "transports: longpoll, sse, websocket, sse-h2 (SSE over HTTP/2 with TLS), poll")
	repeats := fs.Int("repeat", 5, "isolated publishes per set of pages, each measured on its own")
	stream := fs.Int("stream", 20, "publishes of the stream per set of pages, each as soon as every page has the previous, measured as one (0: none)")
	pollInterval := fs.Duration("poll-interval", time.Second, "interval of the poll transport")
	timeout := fs.Duration("timeout", 30*time.Second, "longest wait for one publish to reach every page")
	perProc := fs.Int("per-process", 9000, "pages per loader process")
	floor := fs.Bool("floor", true, "also measure the raw floor at each number of pages: as many plain TCP connections, each sent the same bytes in one write per quote, and report the transports as ratios of it")
	out := fs.String("out", "cmd/parleybench/results", "directory for fanout.md, fanout.json and the charts fanout-p99.svg and fanout-rate.svg")
	profiles := fs.String("cpuprofile", "", "directory to write a CPU profile of the server over the publishes to, one file per transport and number of pages (TRANSPORT-PAGES.pprof)")
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
	if *stream < 0 || *stream > 1000 {
		return fmt.Errorf("-stream %d is not in 0..1000", *stream)
	}
	ts := grid.ParseList(*transports)
	for _, t := range ts {
		if t != modeLongPoll && t != modeSSE && t != modeWebSocket && t != modeSSEH2 && t != modePoll {
			return fmt.Errorf("fanout measures longpoll, sse, websocket, sse-h2 and poll, not %q", t)
		}
	}
	for _, dir := range []string{*out, *profiles} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	res := fanoutResult{Machine: procfs.DescribeMachine()}
	var failed []error // runs that failed; the others are still reported
	if *floor {
		ts = append(ts, modeRaw)
	}
	for _, t := range ts {
		for _, n := range ns {
			profile := ""
			if *profiles != "" {
				profile = filepath.Join(*profiles, fmt.Sprintf("%s-%d.pprof", t, n))
			}
			row, err := runFanout(t, n, *repeats, *stream, *pollInterval, *timeout, *perProc, profile)
			if err != nil {
				failed = append(failed, fmt.Errorf("%s to %d pages: %w", t, n, err))
				log.Print(failed[len(failed)-1])
				continue
			}
			log.Printf("fanout: %s: %d of %d pages open in %.1f s", t, row.Ready, n, row.Opening)
			log.Printf("fanout: %s to %d pages: isolated publishes: p99 %.1f ms, all in %.1f ms, %.0f deliveries/s, %.1f µs CPU per delivery; %d server files",
				t, n, row.Trip.P99*1000, row.AllHave.Mean*1000, row.PerSecond, row.CPUPerDelivery, row.ServerFiles)
			if st := row.Stream; st != nil {
				log.Printf("fanout: %s to %d pages: stream of %d publishes: p99 %.1f ms, %.0f deliveries/s, %.1f µs CPU per delivery, drained in %.1f s, %d unacked",
					t, n, st.Publishes, st.Trip.P99*1000, st.PerSecond, st.CPUPerDelivery, st.Drain, st.Unacked)
			}
			res.Rows = append(res.Rows, row)
		}
	}
	compareWithFloor(res.Rows)
	if err := writeResults(*out, "fanout", res, func(w io.Writer) error { return fanoutMarkdown(w, res, *pollInterval) }); err != nil {
		return err
	}
	if err := fanoutCharts(*out, res); err != nil {
		return err
	}
	return errors.Join(failed...)
}

// serverArgs returns the flags the bench server of transport t needs.
func serverArgs(t string) []string {
	switch t {
	case modeRaw:
		return []string{"-raw"}
	case modeSSEH2:
		return []string{"-tls"}
	}
	return nil
}

// fdSlack is the open files a server needs beyond one per page: its
// listeners, the control connections, and the keep-alive connections the
// pages of each loader share for session opens and acks
// (defaultSharedConns per loader; two loaders at 18,000 pages).
const fdSlack = 1200

// checkOpenFiles fails if the server's open-file limit cannot hold pages.
func checkOpenFiles(info serverInfo, pages int) error {
	if info.NoFile > 0 && info.NoFile < pages+fdSlack {
		return fmt.Errorf("the server may open %d files, too few for %d pages; raise its hard limit (ulimit -Hn) or use fewer pages", info.NoFile, pages)
	}
	return nil
}

// runFanout publishes one quote at a time to n pages on transport t,
// repeats times, each time waiting until every page has it, then a stream
// of publishes quotes. Transport "raw" is the raw floor. If profile is
// set, a CPU profile of the server over the publishes is written there.
func runFanout(t string, n, repeats, publishes int, pollInterval, timeout time.Duration, perProc int, profile string) (fanoutRow, error) {
	row := fanoutRow{Transport: t, Pages: n, Repeats: repeats}
	srv, err := startServer(pollInterval, serverArgs(t)...)
	if err != nil {
		return row, err
	}
	defer srv.stop()
	if err := checkOpenFiles(srv.info, n); err != nil {
		return row, err
	}
	target := srv.info.URL
	if t == modeRaw {
		target = srv.info.RawAddr
	}
	began := time.Now()
	fl, ready, err := startFleet(target, n, perProc, t, pollInterval, openTimeout(n), srv.loaderArgs()...)
	if err != nil {
		return row, err
	}
	defer fl.stop()
	row.Ready, row.Opening = ready, time.Since(began).Seconds()
	if profile != "" {
		if err := srv.startProfile(); err != nil {
			return row, err
		}
	}
	err = measureFanout(&row, fanoutRig{
		serverPID: srv.info.PID,
		publish: func(run string) error {
			_, err := srv.publish(run, 1, 0)
			return err
		},
		snap: fl.snap,
		pending: func() (int, error) {
			var st serverStats
			err := srv.call("pending", nil, &st)
			return st.Pending, err
		},
	}, timeout, publishes)
	if profile != "" {
		err = errors.Join(err, srv.stopProfile(profile))
	}
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
	// pending returns the number of messages the server holds that pages
	// have not acknowledged.
	pending func() (int, error)
}

// ackWait is the longest a window stays open, after every page has the
// last quote, for the acks.
const ackWait = 10 * time.Second

// deliverAll publishes the quote of run id and waits until all ready
// pages have it or timeout has passed; it returns what they received.
func deliverAll(rig fanoutRig, id string, ready int, timeout time.Duration) (RunData, error) {
	var got RunData
	if err := rig.publish(id); err != nil {
		return got, err
	}
	deadline := time.Now().Add(timeout)
	for got.Delivered < uint64(ready) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		s, err := rig.snap()
		if err != nil {
			return got, err
		}
		if d := s.Runs[id]; d != nil {
			got.Counts.Merge(d.Counts)
			got.TripsMicros = append(got.TripsMicros, d.TripsMicros...)
		}
	}
	return got, nil
}

// settle lets every page be held again and drops what the pages reported
// so far.
func settle(rig fanoutRig) error {
	time.Sleep(500 * time.Millisecond)
	_, err := rig.snap()
	return err
}

// measureFanout fills in row's figures: row.Repeats isolated publishes,
// each in a window of its own, then a stream of publishes (none if
// publishes is 0) in one window.
func measureFanout(row *fanoutRow, rig fanoutRig, timeout time.Duration, publishes int) error {
	if err := measureIsolated(row, rig, timeout); err != nil {
		return err
	}
	if publishes < 1 {
		return nil
	}
	row.Stream = &streamRow{Publishes: publishes}
	return measureStream(row.Stream, row, rig, timeout)
}

// measureIsolated publishes row.Repeats quotes, one at a time, to the
// row.Ready pages of rig, each time waiting until every page has it or
// timeout has passed, then until the server holds no unacknowledged
// message or ackWait has passed, and fills in row's figures of isolated
// publishes.
func measureIsolated(row *fanoutRow, rig fanoutRig, timeout time.Duration) error {
	var trips []float64
	var allHave, rates []float64
	var cpu float64
	for i := range row.Repeats {
		if err := settle(rig); err != nil {
			return err
		}
		id := fmt.Sprintf("fanout/%s/%d/%d", row.Transport, row.Pages, i)
		w, err := openWindow(rig.serverPID, nil)
		if err != nil {
			return err
		}
		got, err := deliverAll(rig, id, row.Ready, timeout)
		if err != nil {
			_, _, _ = w.close()
			return err
		}
		unacked, err := waitAcks(rig.pending)
		if err != nil {
			_, _, _ = w.close()
			return err
		}
		row.Unacked += unacked
		usage, _, err := w.close()
		if err != nil {
			return err
		}
		row.noteFiles(rig.serverPID)
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

// measureStream publishes st.Publishes quotes back to back to the
// row.Ready pages of rig, each as soon as every page has the previous one
// (or timeout has passed), in one window from the first publish until
// every page has the last and the server holds no unacknowledged message
// (or ackWait has passed), and fills in st.
func measureStream(st *streamRow, row *fanoutRow, rig fanoutRig, timeout time.Duration) error {
	if err := settle(rig); err != nil {
		return err
	}
	w, err := openWindow(rig.serverPID, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	var trips []float64
	for i := range st.Publishes {
		id := fmt.Sprintf("stream/%s/%d/%d", row.Transport, row.Pages, i)
		got, err := deliverAll(rig, id, row.Ready, timeout)
		if err != nil {
			_, _, _ = w.close()
			return err
		}
		st.Delivered += got.Delivered
		st.Missed += got.Lost(row.Ready, 1)
		for _, us := range got.TripsMicros {
			trips = append(trips, float64(us)/1e6)
		}
	}
	delivered := time.Now()
	st.Unacked, err = waitAcks(rig.pending)
	if err != nil {
		_, _, _ = w.close()
		return err
	}
	drained := time.Now()
	usage, _, err := w.close()
	if err != nil {
		return err
	}
	row.noteFiles(rig.serverPID)
	st.Trip = stats.Summarize(trips)
	st.Took, st.Drain = delivered.Sub(start).Seconds(), drained.Sub(delivered).Seconds()
	st.CPUSeconds = usage.CPUSeconds
	if st.Took > 0 {
		st.PerSecond = float64(st.Delivered) / st.Took
	}
	if st.Delivered > 0 {
		st.CPUPerDelivery = st.CPUSeconds * 1e6 / float64(st.Delivered)
	}
	return nil
}

// noteFiles raises row.ServerFiles to the files server pid has open now,
// if it can read them.
func (row *fanoutRow) noteFiles(pid int) {
	if n, err := procfs.ReadOpenFiles(pid); err == nil {
		row.ServerFiles = max(row.ServerFiles, n)
	}
}

// waitAcks polls pending until it is 0 or ackWait has passed, and returns
// its last value.
func waitAcks(pending func() (int, error)) (int, error) {
	deadline := time.Now().Add(ackWait)
	for {
		n, err := pending()
		if err != nil || n == 0 || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fanoutMarkdown(w io.Writer, res fanoutResult, pollInterval time.Duration) error {
	fmt.Fprintf(w, "# Fan-out: one publish to many pages\n\n")
	if err := report.WriteMachine(w, res.Machine); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nQuotes are published to every page of `/ticker`, each only once every page has the previous one (or the wait timed out), in two ways. ")
	fmt.Fprintf(w, "An **isolated publish** is measured on its own: its window runs from the publish until every page has the quote and every ack has arrived, so each delivery pays an ack of its own: the cost of one publish after a quiet spell. ")
	fmt.Fprintf(w, "A **stream of publishes** sends the quotes back to back and is measured in one window, from the first publish until every page has the last and every ack has arrived, so pages ack many deliveries at once by their rule: the cost of a delivery in steady state. ")
	fmt.Fprintf(w, "The server's CPU time is read from `/proc`; a window waits at most %v for the acks, and *unacked* counts messages still unacknowledged when it closed. ", ackWait)
	fmt.Fprintf(w, "The poll transport, where measured, polls every %v; *%s* is SSE over HTTP/2 with TLS, many pages' streams on one connection.\n\n", pollInterval, modeSSEH2)
	fmt.Fprintf(w, "The **%s** rows, where measured, are the raw floor: as many plain TCP connections on loopback, held by the same server process and loaders, each sent the bytes of the server-sent event a Parley SSE page receives for the quote, in one write per connection from one goroutine per CPU, with no HTTP, session, outbox or ack. ", modeRaw)
	fmt.Fprintf(w, "It is this machine's ceiling for one write per page.\n\n")
	fmt.Fprintf(w, "## Isolated publish\n\n")
	fmt.Fprintf(w, "*trip* is each page's receive time less the publish time, over all pages and repeats; *all have it* is the time until the last page had it, over repeats; ")
	fmt.Fprintf(w, "*deliveries/s* is pages reached per second until then; *CPU per delivery* is the server's CPU time over all deliveries; ")
	fmt.Fprintf(w, "*server files* is the most files, sockets included, the server had open when a window closed.\n\n")
	t := report.Table{
		Header: []string{"transport", "pages", "repeats", "trip p50", "trip p99", "all have it (mean)", "all have it (max)", "deliveries/s", "missed", "unacked", "server CPU per publish", "CPU per delivery", "server files"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true, 12: true},
	}
	for _, r := range res.Rows {
		t.Add(r.Transport, r.pagesCell(), strconv.Itoa(r.Repeats), report.Millis(r.Trip.P50), report.Millis(r.Trip.P99),
			report.Millis(r.AllHave.Mean), report.Millis(r.AllHave.Max), fmt.Sprintf("%.0f", r.PerSecond),
			strconv.FormatUint(r.Missed, 10), strconv.Itoa(r.Unacked), fmt.Sprintf("%.3f s", r.ServerCPU), fmt.Sprintf("%.1f µs", r.CPUPerDelivery),
			strconv.Itoa(r.ServerFiles))
	}
	if err := t.WriteMarkdown(w); err != nil {
		return err
	}
	if err := floorMarkdown(w, res.Rows); err != nil {
		return err
	}
	if err := streamMarkdown(w, res.Rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n![Fan-out p99 trip time against pages](fanout-p99.svg)\n\n![Fan-out deliveries per second against pages, with the raw floor](fanout-rate.svg)\n")
	return err
}

// pagesCell is the row's pages as a table shows them: with the number
// that opened, if not all did.
func (r fanoutRow) pagesCell() string {
	if r.Ready != r.Pages {
		return fmt.Sprintf("%d (%d open)", r.Pages, r.Ready)
	}
	return strconv.Itoa(r.Pages)
}

// times writes a ratio as a factor, or "unmeasured" if it is not above 0.
func times(x float64) string {
	if x <= 0 {
		return "unmeasured"
	}
	return fmt.Sprintf("%.1f×", x)
}

// percent writes a ratio as a percentage, or "unmeasured" if it is not
// above 0.
func percent(x float64) string {
	if x <= 0 {
		return "unmeasured"
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

// floorMarkdown writes the table of the transports' isolated publishes
// against the raw floor, if any row has been compared with it.
func floorMarkdown(w io.Writer, rows []fanoutRow) error {
	t := report.Table{
		Header: []string{"transport", "pages", "p50 × floor's", "p99 × floor's", "deliveries/s", "of the floor's", "CPU per delivery", "× the floor's"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true},
	}
	for _, r := range rows {
		if r.Floor == nil {
			continue
		}
		t.Add(r.Transport, strconv.Itoa(r.Pages), times(r.Floor.P50), times(r.Floor.P99), fmt.Sprintf("%.0f", r.PerSecond),
			percent(r.Floor.PerSecond), fmt.Sprintf("%.1f µs", r.CPUPerDelivery), times(r.Floor.CPUPerDelivery))
	}
	if len(t.Rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nAgainst the raw floor at the same number of pages, measured in the same run:\n\n")
	return t.WriteMarkdown(w)
}

// streamMarkdown writes the table of the streams of publishes, if any
// row has one.
func streamMarkdown(w io.Writer, rows []fanoutRow) error {
	t := report.Table{
		Header: []string{"transport", "pages", "publishes", "trip p50", "trip p99", "deliveries/s", "of the floor's", "missed", "acks drained in", "unacked", "CPU per delivery", "× the floor's"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true},
	}
	for _, r := range rows {
		st := r.Stream
		if st == nil {
			continue
		}
		ofRate, ofCPU := "", ""
		if r.Floor != nil {
			ofRate, ofCPU = percent(r.Floor.StreamPerSecond), times(r.Floor.StreamCPUPerDelivery)
		}
		t.Add(r.Transport, r.pagesCell(), strconv.Itoa(st.Publishes), report.Millis(st.Trip.P50), report.Millis(st.Trip.P99),
			fmt.Sprintf("%.0f", st.PerSecond), ofRate, strconv.FormatUint(st.Missed, 10), fmt.Sprintf("%.1f s", st.Drain),
			strconv.Itoa(st.Unacked), fmt.Sprintf("%.1f µs", st.CPUPerDelivery), ofCPU)
	}
	if len(t.Rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\n## Stream of publishes\n\n")
	fmt.Fprintf(w, "*deliveries/s* is all deliveries over the time from the first publish until every page had the last; *acks drained in* is the time from then until the server held no unacknowledged message; ")
	fmt.Fprintf(w, "*CPU per delivery* is the server's CPU time over both, divided by all deliveries. The ratios are to the raw floor's stream at the same number of pages.\n\n")
	return t.WriteMarkdown(w)
}

// fanoutCharts draws, into dir, fanout-p99.svg (p99 trip time against
// pages, per transport) and fanout-rate.svg (deliveries per second
// against pages, per transport, with the raw floor as a line of its own).
func fanoutCharts(dir string, res fanoutResult) error {
	var names []string
	for _, r := range res.Rows {
		if !slices.Contains(names, r.Transport) {
			names = append(names, r.Transport)
		}
	}
	var p99s, rates []report.Series
	for _, name := range names {
		label := name
		if name == modeRaw {
			label = "raw floor"
		}
		p99 := report.Series{Name: label}
		rate := report.Series{Name: label}
		for _, r := range res.Rows {
			if r.Transport == name {
				p99.X, p99.Y = append(p99.X, float64(r.Pages)), append(p99.Y, r.Trip.P99*1000)
				rate.X, rate.Y = append(rate.X, float64(r.Pages)), append(rate.Y, r.PerSecond)
			}
		}
		p99s, rates = append(p99s, p99), append(rates, rate)
	}
	charts := map[string]report.Chart{
		"fanout-p99.svg":  {Title: "Fan-out of one publish: p99 trip time", XLabel: "pages", YLabel: "trip time p99 (ms)", LogX: true, LogY: true, Series: p99s},
		"fanout-rate.svg": {Title: "Fan-out of one publish: deliveries per second", XLabel: "pages", YLabel: "deliveries/s", LogX: true, Series: rates},
	}
	for name, c := range charts {
		if err := c.SaveSVG(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func cmdChart(args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	in := fs.String("in", "cmd/parleybench/results/fanout.json", "the results of a fanout run")
	out := fs.String("out", "", "directory for fanout-p99.svg and fanout-rate.svg (default: the directory of -in)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var res fanoutResult
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if len(res.Rows) == 0 {
		return fmt.Errorf("%s holds no fanout rows", *in)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(*in)
	}
	return fanoutCharts(dir, res)
}
