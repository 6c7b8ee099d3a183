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

// paperRow is the result of one run of the grid.
type paperRow struct {
	Mode     string        `json:"mode"`
	Users    int           `json:"users"`
	Ready    int           `json:"ready"`
	Interval time.Duration `json:"interval"`
	Scaled   time.Duration `json:"scaled"`
	// Published is the number of quotes published in the run.
	Published int `json:"published"`
	// Delivered, OutOfOrder and Duplicates count quotes at the pages;
	// Missed is Ready × Published − Delivered.
	Delivered  uint64 `json:"delivered"`
	Missed     uint64 `json:"missed"`
	OutOfOrder uint64 `json:"outOfOrder"`
	Duplicates uint64 `json:"duplicates"`
	// Trip summarises the trip times, in seconds.
	Trip stats.Summary `json:"trip"`
	// Requests and Bytes are the HTTP requests the pages sent and the
	// reply bytes they received in the run's window.
	Requests uint64 `json:"requests"`
	Bytes    uint64 `json:"bytes"`
	Gaps     uint64 `json:"gaps"`
	// Server is the server's CPU and memory in the run's window.
	Server procfs.Usage `json:"server"`
	// LoaderCPU is the CPU seconds all loaders used in the window.
	LoaderCPU float64 `json:"loaderCPU"`
}

// paperResult is everything paper writes to paper.json.
type paperResult struct {
	Machine procfs.Machine `json:"machine"`
	Scale   float64        `json:"scale"`
	Pull    time.Duration  `json:"pull"`
	Rows    []paperRow     `json:"rows"`
}

func cmdPaper(args []string) error {
	fs := flag.NewFlagSet("paper", flag.ContinueOnError)
	users := fs.String("users", "100,200,350,500,1000,5000,18000", "numbers of simulated users (pages)")
	intervals := fs.String("intervals", "5,10,15,20,50", "publish intervals, in seconds at the paper's scale")
	modes := fs.String("modes", "push,pull,poll", "modes: push (long-poll), sse, pull (Ticker.latest, no session), poll (Parley poll transport), passive")
	pull := fs.Float64("pull", 15, "pull and poll interval, in seconds at the paper's scale")
	messages := fs.Int("messages", 10, "quotes published per run")
	scale := fs.Float64("time-scale", 0.05, "factor every interval is multiplied by")
	perProc := fs.Int("per-process", 9000, "pages per loader process")
	out := fs.String("out", "cmd/parleybench/results", "directory for paper.md, paper.json and the SVG charts")
	chartInterval := fs.Float64("chart-interval", 15, "publish interval, in paper seconds, that the charts against users show")
	chartUsers := fs.Int("chart-users", 1000, "number of users that the chart of missed updates shows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g := grid.Grid{Modes: grid.ParseList(*modes), Messages: *messages, Scale: *scale, Pull: time.Duration(*pull * float64(time.Second))}
	var err error
	if g.Users, err = grid.ParseInts(*users); err != nil {
		return err
	}
	if g.Intervals, err = grid.ParseSeconds(*intervals); err != nil {
		return err
	}
	if err := g.Validate(); err != nil {
		return err
	}
	for _, m := range g.Modes {
		if !validMode(loaderMode(m)) {
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	log.Printf("paper: %d groups, at least %v of publishing", len(g.Groups()), g.PublishTime())
	res := paperResult{Machine: procfs.DescribeMachine(), Scale: g.Scale, Pull: g.Pull}
	for _, grp := range g.Groups() {
		rows, err := runPaperGroup(g, grp, *perProc)
		if err != nil {
			return fmt.Errorf("%s with %d users: %w", grp.Mode, grp.Users, err)
		}
		res.Rows = append(res.Rows, rows...)
	}
	if err := writeJSON(*out, "paper.json", res); err != nil {
		return err
	}
	return writePaperReport(*out, res, time.Duration(*chartInterval*float64(time.Second)), *chartUsers)
}

// runPaperGroup runs every interval of grp with one fresh server and one
// set of pages.
func runPaperGroup(g grid.Grid, grp grid.Group, perProc int) ([]paperRow, error) {
	pull := g.Shrink(g.Pull)
	srv, err := startServer(pull)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	fl, ready, err := startFleet(srv.info.URL, grp.Users, perProc, loaderMode(grp.Mode), pull, openTimeout(grp.Users))
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	time.Sleep(300 * time.Millisecond)   // let the first polls arrive and be held
	if _, err := fl.snap(); err != nil { // drop what opening cost
		return nil, err
	}
	var rows []paperRow
	all := Snapshot{}
	for _, r := range grp.Runs {
		id := fmt.Sprintf("%s/%d/%v", grp.Mode, grp.Users, r.Interval)
		w, err := openWindow(srv.info.PID, fl.pids())
		if err != nil {
			return nil, err
		}
		pub, err := srv.publish(id, g.Messages, r.Scaled)
		if err != nil {
			return nil, err
		}
		want := uint64(ready) * uint64(pub.Published)
		// Pull pages never get every quote: give each one more pull after
		// the last. Others stop as soon as every quote has arrived.
		settle := pull + 5*time.Second
		if grp.Mode == modePull {
			settle = pull + pull/10 + 50*time.Millisecond
		}
		deadline := time.Now().Add(settle)
		var win Snapshot
		for {
			s, err := fl.snap()
			if err != nil {
				return nil, err
			}
			win.Merge(s)
			got := uint64(0)
			if d := win.Runs[id]; d != nil {
				got = d.Delivered
			}
			if (grp.Mode != modePull && got >= want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		usage, loaderCPU, err := w.close()
		if err != nil {
			return nil, err
		}
		all.Merge(win)
		rows = append(rows, paperRow{
			Mode: grp.Mode, Users: grp.Users, Ready: ready, Interval: r.Interval, Scaled: r.Scaled,
			Published: pub.Published, Requests: win.Requests, Bytes: win.Bytes, Gaps: win.Gaps,
			Server: usage, LoaderCPU: loaderCPU,
		})
		log.Printf("paper: %s: %d/%d delivered, server %.2fs CPU", id, win.Runs[id].deliveredOrZero(), want, usage.CPUSeconds)
	}
	// Quotes that arrived after their run's window still count as delivered.
	s, err := fl.snap()
	if err != nil {
		return nil, err
	}
	all.Merge(s)
	for i := range rows {
		row := &rows[i]
		id := fmt.Sprintf("%s/%d/%v", row.Mode, row.Users, row.Interval)
		d := all.Runs[id]
		if d == nil {
			d = &RunData{}
		}
		row.Delivered, row.OutOfOrder, row.Duplicates = d.Delivered, d.OutOfOrder, d.Duplicates
		row.Missed = d.Lost(row.Ready, uint64(row.Published))
		row.Trip = d.Trips()
	}
	return rows, nil
}

// deliveredOrZero returns the number delivered, 0 for a nil run.
func (r *RunData) deliveredOrZero() uint64 {
	if r == nil {
		return 0
	}
	return r.Delivered
}

// missedPercent returns the share of updates that did not reach the pages.
func (r paperRow) missedPercent() float64 {
	want := float64(r.Ready) * float64(r.Published)
	if want == 0 {
		return 0
	}
	return 100 * float64(r.Missed) / want
}

// bytesPerUpdate returns the reply bytes received per delivered update.
func (r paperRow) bytesPerUpdate() float64 {
	if r.Delivered == 0 {
		return 0
	}
	return float64(r.Bytes) / float64(r.Delivered)
}

// writePaperReport writes paper.md and its charts into dir.
func writePaperReport(dir string, res paperResult, chartInterval time.Duration, chartUsers int) error {
	f, err := os.Create(filepath.Join(dir, "paper.md"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := paperMarkdown(f, res, chartInterval, chartUsers); err != nil {
		return err
	}
	return paperCharts(dir, res, chartInterval, chartUsers)
}

// paperModes returns the modes of rows in order of first appearance.
func paperModes(rows []paperRow) []string {
	var modes []string
	for _, r := range rows {
		if !slices.Contains(modes, r.Mode) {
			modes = append(modes, r.Mode)
		}
	}
	return modes
}

func paperMarkdown(w io.Writer, res paperResult, chartInterval time.Duration, chartUsers int) error {
	scaledPull := time.Duration(float64(res.Pull) * res.Scale)
	fmt.Fprintf(w, "# Push versus pull: the stock ticker grid\n\n")
	fmt.Fprintf(w, "After Bozdag, Mesbah and van Deursen, *A Comparison of Push and Pull Techniques for Ajax* (2007). ")
	fmt.Fprintf(w, "Each run publishes quotes to every page of `/ticker`; each quote carries its publish time, and a page's trip time is its receive time less that.\n\n")
	if err := report.WriteMachine(w, res.Machine); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTime scale %g: every interval below is multiplied by it when run, so a %v pull runs every %v. ", res.Scale, res.Pull, scaledPull)
	fmt.Fprintf(w, "Request rates grow by the same factor's inverse: %d users at scale %g load the server like %d users at the paper's intervals. ",
		1000, res.Scale, int(1000/res.Scale))
	fmt.Fprintf(w, "The server, the loaders and this program share the machine's CPUs; server CPU is read from `/proc/PID/stat` of the server process alone.\n\n")
	fmt.Fprintf(w, "Modes:\n\n")
	for _, m := range paperModes(res.Rows) {
		fmt.Fprintf(w, "- **%s**: %s.\n", m, describeMode(loaderMode(m), scaledPull))
	}
	fmt.Fprintf(w, "\nColumns: *missed* is updates published and never seen by a page (the paper's coherence); ")
	fmt.Fprintf(w, "*trip* is over the updates seen; *server CPU* is CPU seconds in the run's window (publishing and delivery) and its mean as a share of one core; ")
	fmt.Fprintf(w, "*requests* are HTTP requests from the pages in that window (each has one reply); *B/update* is reply bytes received per update seen.\n\n")

	t := report.Table{
		Header: []string{"mode", "users", "interval", "scaled", "published", "missed", "trip mean", "trip p99", "server CPU", "CPU %", "requests", "B/update", "server RSS", "loader CPU"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true, 12: true, 13: true},
	}
	for _, r := range res.Rows {
		users := strconv.Itoa(r.Users)
		if r.Ready != r.Users {
			users = fmt.Sprintf("%d (%d open)", r.Users, r.Ready)
		}
		t.Add(r.Mode, users, r.Interval.String(), r.Scaled.String(), strconv.Itoa(r.Published),
			fmt.Sprintf("%.1f%%", r.missedPercent()),
			report.Millis(r.Trip.Mean), report.Millis(r.Trip.P99),
			fmt.Sprintf("%.2f s", r.Server.CPUSeconds), fmt.Sprintf("%.0f", r.Server.CPUPercent()),
			strconv.FormatUint(r.Requests, 10), fmt.Sprintf("%.0f", r.bytesPerUpdate()),
			report.Bytes(float64(r.Server.PeakRSS)), fmt.Sprintf("%.2f s", r.LoaderCPU))
	}
	if err := t.WriteMarkdown(w); err != nil {
		return err
	}
	odd := false
	for _, r := range res.Rows {
		odd = odd || r.OutOfOrder > 0 || r.Duplicates > 0 || r.Gaps > 0
	}
	if odd {
		fmt.Fprintf(w, "\nOut-of-order, duplicate or gap events were seen; see paper.json.\n")
	} else {
		fmt.Fprintf(w, "\nNo page saw a quote out of order, a quote twice, or a session gap.\n")
	}
	fmt.Fprintf(w, "\n![Mean trip time against users](paper-trip.svg)\n\n![Server CPU against users](paper-cpu.svg)\n\n![Updates missed against publish interval](paper-missed.svg)\n\n")
	fmt.Fprintf(w, "The charts against users show publish interval %v; the chart of missed updates shows %d users.\n", chartInterval, chartUsers)
	return nil
}

func paperCharts(dir string, res paperResult, chartInterval time.Duration, chartUsers int) error {
	modes := paperModes(res.Rows)
	var trip, cpu, missed []report.Series
	for _, m := range modes {
		var tr, cp, ms report.Series
		tr.Name, cp.Name, ms.Name = m, m, m
		for _, r := range res.Rows {
			if r.Mode != m {
				continue
			}
			if r.Interval == chartInterval {
				tr.X, tr.Y = append(tr.X, float64(r.Users)), append(tr.Y, r.Trip.Mean*1000)
				cp.X, cp.Y = append(cp.X, float64(r.Users)), append(cp.Y, r.Server.CPUPercent())
			}
			if r.Users == chartUsers {
				ms.X, ms.Y = append(ms.X, r.Interval.Seconds()), append(ms.Y, r.missedPercent())
			}
		}
		trip, cpu, missed = append(trip, tr), append(cpu, cp), append(missed, ms)
	}
	charts := map[string]report.Chart{
		"paper-trip.svg": {Title: fmt.Sprintf("Mean trip time, publish interval %v (scaled %v)", chartInterval, time.Duration(float64(chartInterval)*res.Scale)),
			XLabel: "users (pages)", YLabel: "mean trip time (ms)", LogX: true, LogY: true, Series: trip},
		"paper-cpu.svg": {Title: fmt.Sprintf("Server CPU, publish interval %v (scaled %v)", chartInterval, time.Duration(float64(chartInterval)*res.Scale)),
			XLabel: "users (pages)", YLabel: "server CPU (% of one core)", LogX: true, Series: cpu},
		"paper-missed.svg": {Title: fmt.Sprintf("Updates missed, %d users", chartUsers),
			XLabel: "publish interval (s, paper's scale)", YLabel: "missed (% of published)", Series: missed},
	}
	for name, c := range charts {
		if err := c.SaveSVG(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
