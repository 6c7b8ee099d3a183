package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-go/parley/cmd/parleybench/internal/grid"
	"github.com/parley-go/parley/cmd/parleybench/internal/loopback"
	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/cmd/parleybench/internal/report"
	"github.com/parley-go/parley/cmd/parleybench/internal/stats"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/reverse/natsbp"
	"github.com/parley-go/parley/reverse/natsbp/embedded"
)

// The setups a cluster run compares, each with the same transport.
const (
	// setupMemory is one server with the hub's in-memory backplane.
	setupMemory = "in-memory"
	// setupNATS is one server with a NATS backplane.
	setupNATS = "nats"
	// setupCluster is several servers sharing sessions through NATS.
	setupCluster = "cluster"
	// setupFloor is the raw floor at the cluster's scale: as many
	// processes as the cluster has servers, each holding its share of the
	// pages as plain TCP connections (serve -raw).
	setupFloor = "raw floor"
)

// Balancers of a cluster run.
const (
	// balancerDirect: each loader opens its pages' sessions on one server
	// and holds their connections on the next one, round robin.
	balancerDirect = "direct"
	// balancerHAProxy: every request goes through an HAProxy that
	// balances each request round robin, with no stickiness.
	balancerHAProxy = "haproxy"
)

// singlePages is the most pages a one-server setup measures: one process
// holds them under its 20,000 open files.
const singlePages = 16_000

// probeCount is how many calls and polls the latency probe makes.
const probeCount = 200

// clusterNode is one server's share of a setup's isolated publishes.
type clusterNode struct {
	// Sessions counts the script sessions the server's hub listed when
	// the publishes began (Hub.Len); Held counts the pages' connections
	// it held then.
	Sessions int `json:"sessions"`
	Held     int `json:"held"`
	// CPUSeconds is the server's CPU time over all repeats.
	CPUSeconds float64 `json:"cpuSeconds"`
	// CPUPerDelivery is CPUSeconds in microseconds over the deliveries to
	// the pages it held (Held × repeats).
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
}

// latencyProbe is the time of calls and polls one page makes, one at a
// time, with nothing else running.
type latencyProbe struct {
	// Call is the seconds per Ticker.echo call; on a cluster, on a server
	// that does not hold the page's session.
	Call stats.Summary `json:"call"`
	// Poll is the seconds per poll ("wait": false); on a cluster, on a
	// server that does not hold the session, which asks the one that
	// does.
	Poll stats.Summary `json:"poll"`
}

// memoryRatio is a setup's figures over the in-memory setup's, with the
// same transport, in the same run.
type memoryRatio struct {
	// CPUPerDelivery is the servers' CPU per delivery over the in-memory
	// server's; WithBus counts the NATS process's CPU too.
	CPUPerDelivery float64 `json:"cpuPerDelivery"`
	WithBus        float64 `json:"withBus"`
	// P99 is the trip p99 over the in-memory one; PerSecond the same for
	// deliveries per second.
	P99       float64 `json:"p99"`
	PerSecond float64 `json:"perSecond"`
	// Call and Poll are the mean probe latencies over the in-memory ones.
	Call float64 `json:"call"`
	Poll float64 `json:"poll"`
}

// clusterRow is the result of one setup: repeated publishes to all its
// pages.
type clusterRow struct {
	Setup     string `json:"setup"`
	Transport string `json:"transport"`
	// Nodes is the number of servers; Balancer spreads pages over them.
	Nodes    int    `json:"nodes"`
	Balancer string `json:"balancer,omitempty"`
	Pages    int    `json:"pages"`
	Ready    int    `json:"ready"`
	// Opening is the seconds the pages took to open and be held.
	Opening float64 `json:"opening"`
	Repeats int     `json:"repeats"`
	// Trip summarises every page's trip time over all repeats, in
	// seconds: receipt less publish.
	Trip stats.Summary `json:"trip"`
	// AllHave summarises, over the repeats, the seconds until the last
	// page had the quote; PerSecond is the mean of pages reached per
	// second until then.
	AllHave   stats.Summary `json:"allHave"`
	PerSecond float64       `json:"perSecond"`
	// Delivered counts first receipts; Missed those that had not come
	// when a repeat timed out; OutOfOrder and Duplicates receipts out of
	// order and again; Gaps sessions lost and replaced. All but Delivered
	// are 0 in a run that lost nothing.
	Delivered  uint64 `json:"delivered"`
	Missed     uint64 `json:"missed"`
	OutOfOrder uint64 `json:"outOfOrder"`
	Duplicates uint64 `json:"duplicates"`
	Gaps       uint64 `json:"gaps"`
	// Unacked counts messages still unacknowledged when a window closed.
	Unacked int `json:"unacked"`
	// OpeningReconnects counts the sockets and held requests the pages
	// failed and retried while they opened; Reconnects the same from then
	// on, over the publishes. A page counts as open only while its socket
	// is.
	OpeningReconnects uint64 `json:"openingReconnects"`
	Reconnects        uint64 `json:"reconnects"`
	// OpeningSocketEnds and SocketEnds count the WebSocket pages'
	// connections that ended, by how (Snapshot.SocketEnds), over the
	// same two stretches.
	OpeningSocketEnds map[string]uint64 `json:"openingSocketEnds,omitempty"`
	SocketEnds        map[string]uint64 `json:"socketEnds,omitempty"`
	// Sessions checks the sessions the servers listed against the pages,
	// when the publishes began; absent from the raw floor.
	Sessions *sessionCheck `json:"sessions,omitempty"`
	// Windows is the seconds the publishes' windows lasted, from each
	// publish until every page had the quote and every ack was in;
	// QuietCPU is the CPU seconds per second all servers spent in the
	// half second before each publish, with nothing published: the
	// background (heartbeats, the bus, the runtime) that the windows'
	// CPU time includes too.
	Windows  float64 `json:"windows"`
	QuietCPU float64 `json:"quietCPU"`
	// Servers are the servers, in order.
	Servers []clusterNode `json:"servers"`
	// CPUPerDelivery is all servers' CPU microseconds per delivery;
	// BusCPUPerDelivery the NATS process's; BalancerCPUPerDelivery
	// HAProxy's, when it balanced.
	CPUPerDelivery         float64 `json:"cpuPerDelivery"`
	BusCPUPerDelivery      float64 `json:"busCPUPerDelivery,omitempty"`
	BalancerCPUPerDelivery float64 `json:"balancerCPUPerDelivery,omitempty"`
	// LoaderCPUPerDelivery is the loaders' CPU microseconds per delivery:
	// the simulated pages' side, their reports to this process included.
	LoaderCPUPerDelivery float64      `json:"loaderCPUPerDelivery"`
	Probe                latencyProbe `json:"probe"`
	// VsMemory compares the row with the in-memory setup; absent from
	// that setup's own row.
	VsMemory *memoryRatio `json:"vsMemory,omitempty"`
	// VsFloor compares the cluster's row with the raw floor at the same
	// scale in the same run (CPU per delivery: the servers' alone); absent
	// from other rows and when the floor was not measured.
	VsFloor *floorRatio `json:"vsFloor,omitempty"`
	// Error says why the setup failed, if it did.
	Error string `json:"error,omitempty"`
}

// ok reports whether the row lost nothing: every page open, every
// receipt once and in order.
func (r clusterRow) ok() bool {
	return r.Error == "" && r.Ready == r.Pages && r.Missed == 0 && r.OutOfOrder == 0 && r.Duplicates == 0 && r.Gaps == 0 &&
		r.Delivered == uint64(r.Ready)*uint64(r.Repeats)
}

// sessionCheck is the servers' lists of sessions against the pages.
type sessionCheck struct {
	// Listed sums the sessions every server's hub listed (Hub.Len);
	// Distinct counts their distinct ids.
	Listed   int `json:"listed"`
	Distinct int `json:"distinct"`
	// OnSeveral counts the ids listed by more than one server; Unheld the
	// distinct ids that no server held a connection for.
	OnSeveral int `json:"onSeveral"`
	Unheld    int `json:"unheld"`
	// Opened sums the sessions the servers opened; Ended the sessions
	// they ended, by reason.
	Opened uint64            `json:"opened"`
	Ended  map[string]uint64 `json:"ended,omitempty"`
}

// checkSessions lists the sessions of every server and compares them.
func checkSessions(servers []*benchProc) (*sessionCheck, error) {
	c := &sessionCheck{Ended: map[string]uint64{}}
	listed := map[string]int{}
	held := map[string]bool{}
	for _, s := range servers {
		var l sessionList
		if err := s.call("sessions", nil, &l); err != nil {
			return nil, err
		}
		for _, id := range l.Held {
			listed[id]++
			held[id] = true
		}
		for _, id := range l.Idle {
			listed[id]++
		}
		c.Listed += len(l.Held) + len(l.Idle)
		c.Opened += l.Opened
		for r, n := range l.Ended {
			c.Ended[r] += n
		}
	}
	c.Distinct = len(listed)
	for id, n := range listed {
		if n > 1 {
			c.OnSeveral++
		}
		if !held[id] {
			c.Unheld++
		}
	}
	return c, nil
}

// clusterResult is everything cluster writes to cluster.json.
type clusterResult struct {
	Machine procfs.Machine `json:"machine"`
	// Heartbeat is the servers' heartbeat, 0 for their default;
	// NodeProcs their GOMAXPROCS, 0 for the runtime's default;
	// LoadAverage and LoadAverageEnd the machine's one-minute load
	// average as the run began and as it ended.
	Heartbeat      time.Duration `json:"heartbeat,omitempty"`
	NodeProcs      int           `json:"nodeProcs,omitempty"`
	LoadAverage    float64       `json:"loadAverage"`
	LoadAverageEnd float64       `json:"loadAverageEnd"`
	Rows           []clusterRow  `json:"rows"`
}

// clusterConfig is what one setup runs.
type clusterConfig struct {
	setup, transport, balancer string
	nodes, pages, repeats      int
	perProc                    int
	timeout                    time.Duration
	// procs, if above 0, is every server's GOMAXPROCS.
	procs int
	// heartbeat, if above 0, is every server's interval of WebSocket
	// pings and SSE heartbeats.
	heartbeat time.Duration
	// profiles, if set, is the directory the servers' CPU profiles over
	// the publishes are written to.
	profiles string
}

// children are the processes and files a cluster run made, removed on
// exit or at a signal.
type children struct {
	mu    sync.Mutex
	stops []func()
}

// add registers f, run by stopAll in the reverse order of adding.
func (c *children) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stops = append(c.stops, f)
}

// stopAll runs every registered function once.
func (c *children) stopAll() {
	c.mu.Lock()
	stops := c.stops
	c.stops = nil
	c.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

func cmdCluster(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	nodes := fs.Int("nodes", 3, "bench servers sharing sessions through NATS (2 to 16)")
	pages := fs.Int("pages", 10_000, "pages spread over the servers")
	repeats := fs.Int("repeat", 3, "isolated publishes, each measured on its own")
	transports := fs.String("transports", "sse,websocket,longpoll", "transports: sse, websocket, longpoll")
	balancer := fs.String("balancer", balancerDirect, "direct (each page opens its session on one server and holds its connection on the next) or haproxy (every request through an HAProxy, round robin, no stickiness)")
	perProc := fs.Int("per-process", 15_000, "most pages per loader process")
	timeout := fs.Duration("timeout", time.Minute, "longest wait for one publish to reach every page")
	floor := fs.Bool("floor", true, "also measure the raw floor at the cluster's scale: as many processes as -nodes, each holding its share of the pages as plain TCP connections and writing each quote to them at once, one write per page, and report the cluster as ratios of it")
	heartbeat := fs.Duration("heartbeat", 0, "every server's interval of WebSocket pings and SSE heartbeats (0: the server's default, 15s)")
	procs := fs.Int("node-procs", 0, "GOMAXPROCS of every server process (0: the runtime's default, one per CPU)")
	profiles := fs.String("cpuprofile", "", "directory to write a CPU profile of every server over the publishes to, one file per setup and server (SETUP-TRANSPORT-N.pprof)")
	single := fs.Bool("single", true, "also measure one server with the in-memory backplane and one with NATS, with as many pages (at most 16,000), and report the cluster as ratios of the in-memory one")
	out := fs.String("out", "cmd/parleybench/results", "directory for cluster.md and cluster.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 2 || *nodes > 16 {
		return fmt.Errorf("-nodes %d is not in 2..16", *nodes)
	}
	if *pages < 1 || *pages > 200_000 {
		return fmt.Errorf("-pages %d is not in 1..200000", *pages)
	}
	if *repeats < 1 || *repeats > 100 {
		return fmt.Errorf("-repeat %d is not in 1..100", *repeats)
	}
	if *perProc < 1 || *perProc > 15_000 {
		return fmt.Errorf("-per-process %d is not in 1..15000", *perProc)
	}
	if *heartbeat < 0 {
		return fmt.Errorf("-heartbeat %v is negative", *heartbeat)
	}
	if *procs < 0 || *procs > 64 {
		return fmt.Errorf("-node-procs %d is not in 0..64", *procs)
	}
	if *balancer != balancerDirect && *balancer != balancerHAProxy {
		return fmt.Errorf("-balancer %q: want direct or haproxy", *balancer)
	}
	ts := grid.ParseList(*transports)
	for _, t := range ts {
		if t != modeSSE && t != modeWebSocket && t != modeLongPoll {
			return fmt.Errorf("cluster measures sse, websocket and longpoll, not %q", t)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if *profiles != "" {
		if err := os.MkdirAll(*profiles, 0o755); err != nil {
			return err
		}
	}
	// Children die with this process (Pdeathsig); a signal also removes
	// the NATS store and the HAProxy configuration.
	var kids children
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			kids.stopAll()
			os.Exit(1)
		}
	}()
	defer kids.stopAll()

	res := clusterResult{Machine: procfs.DescribeMachine(), Heartbeat: *heartbeat, NodeProcs: *procs, LoadAverage: loadAverage()}
	var failed []error
	for _, t := range ts {
		cfgs := []clusterConfig{}
		if *single {
			n := min(*pages, singlePages)
			cfgs = append(cfgs,
				clusterConfig{setup: setupMemory, transport: t, nodes: 1, pages: n},
				clusterConfig{setup: setupNATS, transport: t, nodes: 1, pages: n})
		}
		if *floor {
			cfgs = append(cfgs, clusterConfig{setup: setupFloor, transport: t, nodes: *nodes, pages: *pages})
		}
		cfgs = append(cfgs, clusterConfig{setup: setupCluster, transport: t, nodes: *nodes, pages: *pages, balancer: *balancer})
		var rows []clusterRow
		for _, c := range cfgs {
			c.repeats, c.perProc, c.timeout, c.procs, c.profiles, c.heartbeat = *repeats, *perProc, *timeout, *procs, *profiles, *heartbeat
			row, err := runClusterSetup(c, &kids)
			if err == nil && !row.ok() {
				err = fmt.Errorf("%d of %d pages open; of %d receipts wanted, %d delivered, %d missed, %d out of order, %d duplicates, %d sessions lost",
					row.Ready, row.Pages, row.Pages*row.Repeats, row.Delivered, row.Missed, row.OutOfOrder, row.Duplicates, row.Gaps)
			}
			if err != nil {
				row.Error = err.Error()
				failed = append(failed, fmt.Errorf("%s %s, %d pages: %w", c.setup, t, c.pages, err))
				log.Print(failed[len(failed)-1])
			}
			log.Printf("cluster: %s %s on %d servers, %d of %d pages: p50 %.1f ms, p99 %.1f ms, %.0f deliveries/s, %.1f µs server CPU and %.1f µs bus CPU per delivery, %.1f µs loader CPU (windows %.1f s, quiet CPU %.2f s/s); call %.2f ms, poll %.2f ms; %d reconnects opening, %d after",
				row.Setup, t, row.Nodes, row.Ready, row.Pages, row.Trip.P50*1000, row.Trip.P99*1000, row.PerSecond,
				row.CPUPerDelivery, row.BusCPUPerDelivery, row.LoaderCPUPerDelivery, row.Windows, row.QuietCPU, row.Probe.Call.Mean*1000, row.Probe.Poll.Mean*1000, row.OpeningReconnects, row.Reconnects)
			if row.OpeningSocketEnds != nil || row.SocketEnds != nil {
				log.Printf("cluster: %s %s: sockets ended while opening %v, during the publishes %v", row.Setup, t, row.OpeningSocketEnds, row.SocketEnds)
			}
			if sc := row.Sessions; sc != nil {
				log.Printf("cluster: %s %s: servers listed %d sessions (%d distinct, %d on several servers, %d held nowhere) for %d pages; opened %d, ended %v",
					row.Setup, t, sc.Listed, sc.Distinct, sc.OnSeveral, sc.Unheld, row.Pages, sc.Opened, sc.Ended)
			}
			rows = append(rows, row)
		}
		compareWithMemory(rows)
		compareClusterWithFloor(rows)
		res.Rows = append(res.Rows, rows...)
	}
	res.LoadAverageEnd = loadAverage()
	if err := writeResults(*out, "cluster", res, func(w io.Writer) error { return clusterMarkdown(w, res) }); err != nil {
		return err
	}
	return errors.Join(failed...)
}

// loadAverage returns the machine's one-minute load average, or 0 if it
// cannot be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	x, _ := strconv.ParseFloat(f, 64)
	return x
}

// baseRow returns the row of rows (one transport) of the setup that the
// others are compared with, if it ran without an error.
func baseRow(rows []clusterRow, setup string) *clusterRow {
	for i := range rows {
		if rows[i].Setup == setup && rows[i].Error == "" {
			return &rows[i]
		}
	}
	return nil
}

// ratio is a / b, or 0 when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// compareWithMemory sets VsMemory on every row of rows (one transport)
// but the in-memory one.
func compareWithMemory(rows []clusterRow) {
	base := baseRow(rows, setupMemory)
	if base == nil {
		return
	}
	for i := range rows {
		r := &rows[i]
		if r.Setup == setupMemory {
			continue
		}
		r.VsMemory = &memoryRatio{
			CPUPerDelivery: ratio(r.CPUPerDelivery, base.CPUPerDelivery),
			WithBus:        ratio(r.CPUPerDelivery+r.BusCPUPerDelivery+r.BalancerCPUPerDelivery, base.CPUPerDelivery),
			P99:            ratio(r.Trip.P99, base.Trip.P99),
			PerSecond:      ratio(r.PerSecond, base.PerSecond),
			Call:           ratio(r.Probe.Call.Mean, base.Probe.Call.Mean),
			Poll:           ratio(r.Probe.Poll.Mean, base.Probe.Poll.Mean),
		}
	}
}

// compareClusterWithFloor sets VsFloor on the cluster rows of rows (one
// transport) from the raw floor's row.
func compareClusterWithFloor(rows []clusterRow) {
	floor := baseRow(rows, setupFloor)
	if floor == nil {
		return
	}
	for i := range rows {
		if r := &rows[i]; r.Setup == setupCluster {
			r.VsFloor = &floorRatio{
				P50:            ratio(r.Trip.P50, floor.Trip.P50),
				P99:            ratio(r.Trip.P99, floor.Trip.P99),
				PerSecond:      ratio(r.PerSecond, floor.PerSecond),
				CPUPerDelivery: ratio(r.CPUPerDelivery, floor.CPUPerDelivery),
			}
		}
	}
}

// runClusterSetup starts the setup's NATS, servers, balancer and loaders,
// measures, and stops them all.
func runClusterSetup(c clusterConfig, kids *children) (clusterRow, error) {
	row := clusterRow{Setup: c.setup, Transport: c.transport, Nodes: c.nodes, Balancer: c.balancer, Pages: c.pages, Repeats: c.repeats}
	var local children // this setup's processes, stopped when it ends
	kids.add(local.stopAll)
	defer local.stopAll()

	var serverArgs []string
	if c.procs > 0 {
		serverArgs = append(serverArgs, "-gomaxprocs", strconv.Itoa(c.procs))
	}
	if c.heartbeat > 0 {
		serverArgs = append(serverArgs, "-heartbeat", c.heartbeat.String())
	}
	floor := c.setup == setupFloor
	var bus *natsProc
	if floor {
		serverArgs = append(serverArgs, "-raw")
	} else if c.setup != setupMemory {
		var err error
		if bus, err = startNATS(); err != nil {
			return row, err
		}
		local.add(bus.stop)
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		serverArgs = append(serverArgs, "-nats", bus.info.URL, "-cookie-key", hex.EncodeToString(key))
	}
	var servers []*benchProc
	for range c.nodes {
		srv, err := startServer(time.Second, serverArgs...)
		if err != nil {
			return row, err
		}
		if bus != nil {
			// Ending every session would append to the log for each:
			// the bench has no use for it, so the servers are killed.
			local.add(func() {
				_ = srv.cmd.Process.Kill()
				srv.stop()
			})
		} else {
			local.add(srv.stop)
		}
		servers = append(servers, srv)
		if err := checkOpenFiles(srv.info, (c.pages+c.nodes-1)/c.nodes); err != nil {
			return row, err
		}
	}
	var lb *haproxy
	if c.balancer == balancerHAProxy {
		var err error
		if lb, err = startHAProxy(servers, c.pages); err != nil {
			return row, err
		}
		local.add(lb.stop)
	}

	// Loaders: a multiple of the number of servers, each at most perProc
	// pages; loader i opens on server i mod n and holds on the next.
	n := (c.pages + c.perProc - 1) / c.perProc
	n = (n + c.nodes - 1) / c.nodes * c.nodes
	n = min(n, c.pages)
	began := time.Now()
	all := &fleet{}
	local.add(all.stop)
	for i := range n {
		share := c.pages / n
		if i < c.pages%n {
			share++
		}
		url, mode := servers[i%c.nodes].info.URL, c.transport
		extra := []string{"-source-first", strconv.Itoa(2 + i*sourcesPerLoader)}
		switch {
		case floor:
			url, mode = servers[i%c.nodes].info.RawAddr, modeRaw
		case lb != nil:
			url = lb.url
		case c.nodes > 1:
			extra = append(extra, "-hold-addr", servers[(i+1)%c.nodes].info.Addr)
		}
		// Opening moves every session once, through the bus, while the
		// other loaders' pages hold the same two CPUs: allow for it.
		f, _, err := startFleet(url, share, share, mode, time.Second, 5*time.Minute+openTimeout(share), extra...)
		if err != nil {
			return row, fmt.Errorf("loader %d: %w", i, err)
		}
		all.procs = append(all.procs, f.procs...)
	}
	// Every snapshot of the loaders counts their reconnects and lost
	// sessions, from the start: over the opening first, then over the
	// publishes.
	reconnects, gaps, ends := &row.OpeningReconnects, &row.Gaps, &row.OpeningSocketEnds
	opening := true
	snap := func() (Snapshot, error) {
		s, err := all.snap()
		*reconnects += s.Reconnects
		for how, n := range s.SocketEnds {
			if *ends == nil {
				*ends = map[string]uint64{}
			}
			(*ends)[how] += n
		}
		if !opening {
			*gaps += s.Gaps
		}
		return s, err
	}
	ready, err := waitOpen(heldBy(servers), snap, c.pages, 30*time.Second+openTimeout(c.pages))
	row.Ready = ready
	if err != nil {
		return row, err
	}
	row.Opening = time.Since(began).Seconds()
	reconnects, ends, opening = &row.Reconnects, &row.SocketEnds, false
	if !floor {
		if row.Sessions, err = checkSessions(servers); err != nil {
			return row, err
		}
	}

	var pids []int
	for _, s := range servers {
		pids = append(pids, s.info.PID)
	}
	rig := clusterRig{servers: servers, pids: pids, loaders: all.pids(), bus: bus, lb: lb, snap: snap, publishAll: floor}
	if c.profiles != "" {
		rig.profiles = filepath.Join(c.profiles, strings.ReplaceAll(fmt.Sprintf("%s-%s", c.setup, c.transport), " ", "-"))
	}
	if err := measureCluster(&row, rig, c.timeout); err != nil {
		return row, err
	}
	all.stop()
	if floor {
		return row, nil
	}
	probeURLs := []string{servers[0].info.URL}
	if c.nodes > 1 {
		probeURLs = append(probeURLs, servers[1].info.URL)
	}
	row.Probe, err = probeLatency(probeURLs)
	return row, err
}

// heldBy returns the number of connections all servers hold: pages'
// held connections, or the raw floor's.
func heldBy(servers []*benchProc) func() (int, error) {
	return func() (int, error) {
		held := 0
		for _, s := range servers {
			var st serverStats
			if err := s.call("stats", nil, &st); err != nil {
				return 0, err
			}
			held += st.Held + st.Raw
		}
		return held, nil
	}
}

// waitOpen waits until the servers hold pages connections and the
// loaders count pages open, at most wait, and returns how many the
// loaders counted last.
func waitOpen(held func() (int, error), snap func() (Snapshot, error), pages int, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		n, err := held()
		if err != nil {
			return 0, err
		}
		s, err := snap()
		if err != nil {
			return 0, err
		}
		if n == pages && s.Ready == pages {
			return s.Ready, nil
		}
		if time.Now().After(deadline) {
			return s.Ready, fmt.Errorf("the servers hold %d connections and the loaders count %d pages open, want %d; %d reconnects in the last second", n, s.Ready, pages, s.Reconnects)
		}
		time.Sleep(time.Second)
	}
}

// clusterRig is what measureCluster drives.
type clusterRig struct {
	servers []*benchProc
	pids    []int
	loaders []int     // the loaders' process ids
	bus     *natsProc // nil with the in-memory backplane
	lb      *haproxy  // nil without HAProxy
	snap    func() (Snapshot, error)
	// publishAll makes every server publish each quote at once, to the
	// pages it holds, rather than one server, in turn, to all pages.
	publishAll bool
	// profiles, if set, is the path prefix of the servers' CPU profiles
	// over the publishes: PREFIX-N.pprof for server N.
	profiles string
}

// publish publishes the quote of run on server i of the rig, or on all
// at once.
func (r clusterRig) publish(i int, run string) error {
	if !r.publishAll {
		_, err := r.servers[i%len(r.servers)].publish(run, 1, 0)
		return err
	}
	errs := make([]error, len(r.servers))
	var wg sync.WaitGroup
	for j, s := range r.servers {
		wg.Go(func() { _, errs[j] = s.publish(run, 1, 0) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startProfiles starts a CPU profile on every server, if the rig takes
// them.
func (r clusterRig) startProfiles() error {
	if r.profiles == "" {
		return nil
	}
	for _, s := range r.servers {
		if err := s.startProfile(); err != nil {
			return err
		}
	}
	return nil
}

// stopProfiles stops every server's CPU profile and writes it to
// PREFIX-N.pprof.
func (r clusterRig) stopProfiles() error {
	if r.profiles == "" {
		return nil
	}
	var errs []error
	for i, s := range r.servers {
		errs = append(errs, s.stopProfile(fmt.Sprintf("%s-%d.pprof", r.profiles, i+1)))
	}
	return errors.Join(errs...)
}

// pendingAfterDelivery returns a function that sums the unacknowledged
// messages of every server, asking each server only until it reports
// none: once every page has the quote nothing more is put in an outbox,
// so a server with none stays so. Each question walks the server's
// sessions (Hub.Stats), on the CPU time being measured.
func (r clusterRig) pendingAfterDelivery() func() (int, error) {
	done := make([]bool, len(r.servers))
	return func() (int, error) {
		n := 0
		for i, s := range r.servers {
			if done[i] {
				continue
			}
			var st serverStats
			if err := s.call("stats", nil, &st); err != nil {
				return 0, err
			}
			done[i] = st.Pending == 0
			n += st.Pending
		}
		return n, nil
	}
}

// cpu returns the CPU ticks of every server, the bus and the balancer.
func (r clusterRig) cpu() (servers []uint64, bus, lb uint64) {
	for _, pid := range r.pids {
		servers = append(servers, cpuTicks([]int{pid}))
	}
	if r.bus != nil {
		bus = cpuTicks([]int{r.bus.info.PID})
	}
	if r.lb != nil {
		lb = cpuTicks([]int{r.lb.cmd.Process.Pid})
	}
	return servers, bus, lb
}

// measureCluster publishes row.Repeats quotes, one at a time and each from
// the next server in turn, to the row.Ready pages, each time waiting until
// every page has it (or timeout passes) and every ack is in (or ackWait
// passes), and fills in row's figures.
func measureCluster(row *clusterRow, rig clusterRig, timeout time.Duration) error {
	row.Servers = make([]clusterNode, len(rig.servers))
	for i, s := range rig.servers {
		var st serverStats
		if err := s.call("stats", nil, &st); err != nil {
			return err
		}
		row.Servers[i].Sessions, row.Servers[i].Held = st.Sessions, st.Held+st.Raw
	}
	if err := rig.startProfiles(); err != nil {
		return err
	}
	profiling := rig.profiles != ""
	defer func() {
		if profiling {
			_ = rig.stopProfiles()
		}
	}()
	var trips, allHave, rates []float64
	var busTicks, lbTicks, quietTicks, loaderTicks uint64
	var quietTime, windows time.Duration
	serverTicks := make([]uint64, len(rig.servers))
	for i := range row.Repeats {
		frig := fanoutRig{
			publish: func(run string) error { return rig.publish(i, run) },
			snap:    rig.snap,
		}
		q0, _, _ := rig.cpu()
		quiet := time.Now()
		if err := settle(frig); err != nil {
			return err
		}
		id := fmt.Sprintf("cluster/%s/%s/%d/%d", row.Setup, row.Transport, row.Pages, i)
		s0, b0, l0 := rig.cpu()
		p0 := cpuTicks(rig.loaders)
		quietTicks += sum(s0) - sum(q0)
		quietTime += time.Since(quiet)
		began := time.Now()
		got, err := deliverAll(frig, id, row.Ready, timeout)
		if err != nil {
			return err
		}
		unacked, err := waitAcks(rig.pendingAfterDelivery())
		if err != nil {
			return err
		}
		s1, b1, l1 := rig.cpu()
		loaderTicks += cpuTicks(rig.loaders) - p0
		windows += time.Since(began)
		for j := range s1 {
			serverTicks[j] += s1[j] - s0[j]
		}
		busTicks, lbTicks = busTicks+b1-b0, lbTicks+l1-l0
		// Whatever came late, or again, shows in the next snapshot.
		late, err := rig.snap()
		if err != nil {
			return err
		}
		if d := late.Runs[id]; d != nil {
			got.Counts.Merge(d.Counts)
		}
		row.Unacked += unacked
		row.Delivered += got.Delivered
		row.Missed += got.Lost(row.Ready, 1)
		row.OutOfOrder += got.OutOfOrder
		row.Duplicates += got.Duplicates
		s := got.Trips()
		for _, us := range got.TripsMicros {
			trips = append(trips, float64(us)/1e6)
		}
		allHave = append(allHave, s.Max)
		if s.Max > 0 {
			rates = append(rates, float64(got.Delivered)/s.Max)
		}
	}
	if profiling {
		profiling = false
		if err := rig.stopProfiles(); err != nil {
			return err
		}
	}
	row.Trip = stats.Summarize(trips)
	row.AllHave = stats.Summarize(allHave)
	row.PerSecond = stats.Summarize(rates).Mean
	row.Windows = windows.Seconds()
	if quietTime > 0 {
		row.QuietCPU = procfs.Seconds(quietTicks) / quietTime.Seconds()
	}
	var total float64
	for i := range row.Servers {
		n := &row.Servers[i]
		n.CPUSeconds = procfs.Seconds(serverTicks[i])
		total += n.CPUSeconds
		if n.Held > 0 {
			n.CPUPerDelivery = n.CPUSeconds * 1e6 / float64(n.Held*row.Repeats)
		}
	}
	if row.Delivered > 0 {
		d := float64(row.Delivered)
		row.CPUPerDelivery = total * 1e6 / d
		row.BusCPUPerDelivery = procfs.Seconds(busTicks) * 1e6 / d
		row.BalancerCPUPerDelivery = procfs.Seconds(lbTicks) * 1e6 / d
		row.LoaderCPUPerDelivery = procfs.Seconds(loaderTicks) * 1e6 / d
	}
	return nil
}

// sum returns the sum of xs.
func sum(xs []uint64) uint64 {
	var n uint64
	for _, x := range xs {
		n += x
	}
	return n
}

// probeLatency opens a session on the first server of urls and times
// probeCount calls and polls one at a time on the last: with two servers
// or more, every call and every poll is on a far session.
func probeLatency(urls []string) (latencyProbe, error) {
	var p latencyProbe
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(base, path string, body, out any) error {
		b, _ := json.Marshal(body)
		req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Parley", "1")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d: %s", path, res.StatusCode, bytes.TrimSpace(data))
		}
		return json.Unmarshal(data, out)
	}
	var open struct {
		Session string `json:"session"`
	}
	if err := post(urls[0], "session", map[string]string{"page": tickerPage, "transport": modePoll}, &open); err != nil {
		return p, err
	}
	far := urls[len(urls)-1]
	var calls, polls []float64
	for i := range probeCount {
		var reply struct {
			Results []struct {
				Result json.RawMessage `json:"result"`
			} `json:"results"`
		}
		start := time.Now()
		err := post(far, "call", map[string]any{"session": open.Session, "calls": []any{
			map[string]any{"id": i + 1, "service": "Ticker", "method": "echo", "args": []any{i}},
		}}, &reply)
		if err != nil {
			return p, err
		}
		if len(reply.Results) != 1 || string(reply.Results[0].Result) != strconv.Itoa(i) {
			return p, fmt.Errorf("the call of echo(%d) came back as %+v", i, reply)
		}
		calls = append(calls, time.Since(start).Seconds())
	}
	for i := range probeCount {
		var reply struct {
			Reset json.RawMessage `json:"reset"`
		}
		start := time.Now()
		if err := post(far, "poll", map[string]any{"session": open.Session, "ack": 0, "wait": false}, &reply); err != nil {
			return p, err
		}
		if len(reply.Reset) > 0 && string(reply.Reset) != "null" {
			return p, fmt.Errorf("poll %d: the session was reset: %s", i, reply.Reset)
		}
		polls = append(polls, time.Since(start).Seconds())
	}
	p.Call, p.Poll = stats.Summarize(calls), stats.Summarize(polls)
	return p, nil
}

// natsInfo is the line natsd prints once its server is ready.
type natsInfo struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// natsProc is an embedded NATS server running as a child process, so
// that its CPU time is its own.
type natsProc struct {
	*proc
	info natsInfo
	dir  string
}

// startNATS starts `parleybench natsd` with a fresh store directory.
func startNATS() (*natsProc, error) {
	dir, err := os.MkdirTemp("", "parleybench-nats-*")
	if err != nil {
		return nil, err
	}
	p, err := spawn("natsd", "-dir", dir, "-lifetime", "2h")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	n := &natsProc{proc: p, dir: dir}
	if err := p.read(&n.info, 30*time.Second); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// stop ends the NATS process and removes its store.
func (n *natsProc) stop() {
	n.proc.stop()
	_ = os.RemoveAll(n.dir)
}

// cmdNATSD runs an embedded NATS server with JetStream on a loopback
// port, prints its URL and pid, and runs until its input ends, a signal,
// or its lifetime.
func cmdNATSD(args []string) error {
	fs := flag.NewFlagSet("natsd", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory of the JetStream store (required)")
	lifetime := fs.Duration("lifetime", time.Hour, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	srv, err := embedded.Start(*dir)
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	if err := json.NewEncoder(os.Stdout).Encode(natsInfo{URL: srv.URL(), PID: os.Getpid()}); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	<-ctx.Done()
	return nil
}

// joinBus connects to the NATS server at url, which must be on loopback,
// and returns a backplane on it and a function that closes both.
func joinBus(url string) (reverse.Backplane, func(), error) {
	host, ok := strings.CutPrefix(url, "nats://")
	if !ok {
		return nil, nil, fmt.Errorf("-nats %q: want nats://HOST:PORT", url)
	}
	if err := loopback.HostPort(host); err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(url, nats.Name("parleybench serve"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, err
	}
	bp, err := natsbp.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return bp, func() {
		bp.Close()
		nc.Close()
	}, nil
}

// haproxy is an HAProxy in front of the servers.
type haproxy struct {
	cmd  *exec.Cmd
	url  string
	conf string
}

// haproxyPath returns the HAProxy binary: on PATH or /usr/sbin/haproxy.
func haproxyPath() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	const sbin = "/usr/sbin/haproxy"
	if _, err := os.Stat(sbin); err == nil {
		return sbin, nil
	}
	return "", errors.New("no haproxy on PATH or at /usr/sbin/haproxy")
}

// startHAProxy runs HAProxy on a free loopback port, balancing every
// request round robin over servers with no stickiness: a page's requests
// land on any server. Each page takes two of its open files.
func startHAProxy(servers []*benchProc, pages int) (*haproxy, error) {
	bin, err := haproxyPath()
	if err != nil {
		return nil, err
	}
	if need := 2*pages + 2*fdSlack; need > openFiles() {
		return nil, fmt.Errorf("HAProxy would need %d open files for %d pages, more than the %d allowed", need, pages, openFiles())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var conf strings.Builder
	fmt.Fprintf(&conf, "global\n  maxconn %d\n  nbthread 1\n\n", 2*pages+fdSlack)
	conf.WriteString("defaults\n  mode http\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n  timeout tunnel 1h\n  timeout http-request 10s\n\n")
	fmt.Fprintf(&conf, "frontend pages\n  bind %s\n  default_backend servers\n\nbackend servers\n  balance roundrobin\n", addr)
	for i, s := range servers {
		fmt.Fprintf(&conf, "  server s%d %s\n", i, s.info.Addr)
	}
	f, err := os.CreateTemp("", "parleybench-haproxy-*.cfg")
	if err != nil {
		return nil, err
	}
	name := f.Name()
	_, err = f.WriteString(conf.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return nil, err
	}
	cmd := exec.Command(bin, "-db", "-f", name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.Remove(name)
		return nil, err
	}
	h := &haproxy{cmd: cmd, url: "http://" + addr + "/parley/", conf: name}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return h, nil
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, fmt.Errorf("HAProxy does not listen on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends HAProxy and removes its configuration.
func (h *haproxy) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = h.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
	_ = os.Remove(h.conf)
}

// clusterMarkdown writes the report of a cluster run.
func clusterMarkdown(w io.Writer, res clusterResult) error {
	fmt.Fprintf(w, "# Cluster: one publish to pages spread over servers\n\n")
	if err := report.WriteMachine(w, res.Machine); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nOne-minute load average as the run began: %.2f; as it ended: %.2f. ", res.LoadAverage, res.LoadAverageEnd)
	if res.Heartbeat > 0 {
		fmt.Fprintf(w, "Servers' heartbeat (WebSocket pings): every %v. ", res.Heartbeat)
	} else {
		fmt.Fprintf(w, "Servers' heartbeat (WebSocket pings): their default. ")
	}
	if res.NodeProcs > 0 {
		fmt.Fprintf(w, "Servers' GOMAXPROCS: %d.", res.NodeProcs)
	} else {
		fmt.Fprintf(w, "Servers' GOMAXPROCS: the runtime's default.")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "\nEvery setup runs on this machine, on loopback, each server, loader and the NATS server (JetStream, file storage, embedded in a process of its own) in a process of its own, so that each one's CPU time, read from `/proc`, is its alone. ")
	fmt.Fprintf(w, "**%s** is one server with the hub's in-memory backplane; **%s** is one server with a NATS backplane (`reverse/natsbp`); **%s** is several servers sharing sessions through the log on NATS. ", setupMemory, setupNATS, setupCluster)
	fmt.Fprintf(w, "With the **%s** balancer each loader opens its pages' sessions on one server and holds their connections on the next, round robin, so every page's session moves once; with **%s** every request goes through HAProxy, round robin, with no stickiness. ", balancerDirect, balancerHAProxy)
	fmt.Fprintf(w, "A quote is published to every page of `/ticker`, each repeat from the next server in turn, after the previous one reached every page and every ack came in. ")
	fmt.Fprintf(w, "The **%s** is the cluster's scale without Parley: as many processes as the cluster has servers (`serve -raw`), the same loaders, each page a plain TCP connection to one of them, and each quote written by every one of them at once to the connections it holds, one write per page, with no HTTP, framing beyond the bytes of a server-sent event, session, bus or ack: what this machine does for one write per page in that many processes. ", setupFloor)
	fmt.Fprintf(w, "A run fails unless every page opened and received every quote exactly once, in order, with no session lost. ")
	fmt.Fprintf(w, "A page counts as open only while its socket is: one whose socket failed and is being reconnected does not count, and *reconnects* counts the sockets that failed, while the pages opened and then during the publishes.\n\n")
	fmt.Fprintf(w, "*trip* is each page's receipt less the publish time; *deliveries/s* is pages reached per second until the last had the quote; ")
	fmt.Fprintf(w, "*server CPU* is all servers' CPU time over all deliveries, acks included; *bus CPU* the NATS process's; *× in-memory* is the servers' CPU per delivery, then with the bus's (and HAProxy's) added, over the in-memory server's with the same transport.\n\n")
	t := report.Table{
		Header: []string{"setup", "transport", "servers", "pages", "repeats", "opening", "reconnects", "trip p50", "trip p99", "deliveries/s", "lost", "server CPU per delivery", "bus CPU per delivery", "× in-memory", "with bus", "result"},
		Right:  map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true, 10: true, 11: true, 12: true, 13: true, 14: true},
	}
	for _, r := range res.Rows {
		cpuRatio, withBus := "", ""
		if r.VsMemory != nil {
			cpuRatio, withBus = ratioCell(r.VsMemory.CPUPerDelivery), ratioCell(r.VsMemory.WithBus)
		}
		bus := "–"
		if r.Setup != setupMemory && r.Setup != setupFloor {
			bus = fmt.Sprintf("%.1f µs", r.BusCPUPerDelivery)
		}
		result := "nothing lost"
		if !r.ok() {
			result = "FAILED"
		}
		lost := r.Missed + r.OutOfOrder + r.Duplicates + r.Gaps + uint64(max(r.Pages-r.Ready, 0))
		t.Add(r.Setup, r.Transport, strconv.Itoa(r.Nodes), r.pagesCell(), strconv.Itoa(r.Repeats), fmt.Sprintf("%.0f s", r.Opening),
			fmt.Sprintf("%d + %d", r.OpeningReconnects, r.Reconnects), report.Millis(r.Trip.P50), report.Millis(r.Trip.P99), fmt.Sprintf("%.0f", r.PerSecond), strconv.FormatUint(lost, 10),
			fmt.Sprintf("%.1f µs", r.CPUPerDelivery), bus, cpuRatio, withBus, result)
	}
	if err := t.WriteMarkdown(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n*lost* counts pages that did not open, receipts missed, out of order or repeated, and sessions lost. ")
	fmt.Fprintf(w, "The one-server setups hold at most %d pages, which fit under one process's 20,000 open files. ", singlePages)
	fmt.Fprintf(w, "*reconnects* is those while the pages opened + those during the publishes.\n")

	lt := report.Table{Header: []string{"setup", "transport", "pages", "windows", "servers' CPU when quiet", "loader CPU per delivery"}, Right: map[int]bool{2: true, 3: true, 4: true, 5: true}}
	for _, r := range res.Rows {
		lt.Add(r.Setup, r.Transport, strconv.Itoa(r.Pages), fmt.Sprintf("%.1f s", r.Windows), fmt.Sprintf("%.2f CPU", r.QuietCPU), fmt.Sprintf("%.1f µs", r.LoaderCPUPerDelivery))
	}
	fmt.Fprintf(w, "\n*windows* sums the publishes' windows, each from the publish until every page had the quote and every ack was in; *servers' CPU when quiet* is the CPUs all servers kept busy in the half second before each publish (the background the windows include too); *loader CPU per delivery* is the loaders' CPU time over the windows per delivery: the pages' side, their reports to this process included.\n\n")
	if err := lt.WriteMarkdown(w); err != nil {
		return err
	}

	ft := report.Table{Header: []string{"transport", "servers", "pages", "trip p50", "trip p99", "deliveries/s", "server CPU per delivery"}, Right: map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true}}
	for _, r := range res.Rows {
		if f := r.VsFloor; f != nil {
			ft.Add(r.Transport, strconv.Itoa(r.Nodes), strconv.Itoa(r.Pages), ratioCell(f.P50), ratioCell(f.P99), ratioCell(f.PerSecond), ratioCell(f.CPUPerDelivery))
		}
	}
	if len(ft.Rows) > 0 {
		fmt.Fprintf(w, "\n## The cluster against the raw floor\n\nThe cluster's figures over the %s's, at the same scale, in the same run (deliveries/s: 1 is the floor's speed).\n\n", setupFloor)
		if err := ft.WriteMarkdown(w); err != nil {
			return err
		}
	}

	st := report.Table{Header: []string{"setup", "transport", "pages", "sessions listed", "distinct", "on several servers", "held nowhere", "opened", "ended"}, Right: map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true, 7: true}}
	for _, r := range res.Rows {
		if sc := r.Sessions; sc != nil {
			var ended []string
			for reason, n := range sc.Ended {
				ended = append(ended, fmt.Sprintf("%s %d", reason, n))
			}
			slices.Sort(ended)
			st.Add(r.Setup, r.Transport, strconv.Itoa(r.Pages), strconv.Itoa(sc.Listed), strconv.Itoa(sc.Distinct), strconv.Itoa(sc.OnSeveral), strconv.Itoa(sc.Unheld),
				strconv.FormatUint(sc.Opened, 10), strings.Join(ended, ", "))
		}
	}
	et := report.Table{Header: []string{"setup", "transport", "stretch", "how sockets ended", "count"}, Right: map[int]bool{4: true}}
	for _, r := range res.Rows {
		for _, part := range []struct {
			name string
			ends map[string]uint64
		}{{"opening", r.OpeningSocketEnds}, {"publishes", r.SocketEnds}} {
			hows := slices.Sorted(maps.Keys(part.ends))
			for _, how := range hows {
				et.Add(r.Setup, r.Transport, part.name, how, strconv.FormatUint(part.ends[how], 10))
			}
		}
	}
	if len(et.Rows) > 0 {
		fmt.Fprintf(w, "\n## Sockets that ended\n\nThe WebSocket pages' connections that ended, while the pages opened and during the publishes, by how: *dial* when the connection could not be made, *before open* when it ended before the open frame, *after open* once open, then what the page's last read of it returned (*EOF*: the server closed it; *closed by the page*: the page closed it, no read failing). A socket the server ends with a close frame, to hand the page on, ends *after open* too; the pages retry only failures (*reconnects*).\n\n")
		if err := et.WriteMarkdown(w); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\n## Sessions against pages\n\nWhen the publishes began, every server listed its hub's sessions: *sessions listed* sums them, *distinct* counts their ids, *on several servers* the ids more than one server listed, *held nowhere* the ids no server held a connection for; *opened* sums the sessions the servers opened, *ended* those they ended, by reason. With every page open once, each on a session of its own, *sessions listed*, *distinct* and *opened* equal the pages, and *on several servers* and *held nowhere* are 0.\n\n")
	if err := st.WriteMarkdown(w); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n## Per server\n\n*pages held* counts the connections the server held when the publishes began, *sessions listed* the sessions its hub listed (`Hub.Len`); *CPU per delivery* is the server's CPU time over the deliveries to the pages it held.\n\n")
	ns := report.Table{Header: []string{"setup", "transport", "server", "pages held", "sessions listed", "CPU", "CPU per delivery"}, Right: map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true}}
	for _, r := range res.Rows {
		if r.Setup != setupCluster {
			continue
		}
		for i, n := range r.Servers {
			ns.Add(r.Setup, r.Transport, strconv.Itoa(i+1), strconv.Itoa(n.Held), strconv.Itoa(n.Sessions), fmt.Sprintf("%.2f s", n.CPUSeconds), fmt.Sprintf("%.1f µs", n.CPUPerDelivery))
		}
		if r.Balancer == balancerHAProxy {
			ns.Add(r.Setup, r.Transport, "HAProxy", "", "", "", fmt.Sprintf("%.1f µs", r.BalancerCPUPerDelivery))
		}
	}
	if err := ns.WriteMarkdown(w); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n## Extra round trips\n\n")
	fmt.Fprintf(w, "Counted from the design (`reverse/cluster.go`), as round trips to the bus beyond the in-memory server's: ")
	fmt.Fprintf(w, "a call on a session another server holds costs none unless it changes the session (join, subscribe: one append to the log, waited for); ")
	fmt.Fprintf(w, "a held request (long poll, stream, socket) on such a session moves it: one append, then the former holder's mail of the session's state; a poll answered at once, or a passive page's call, asks the holder: one mail and its answer; on the server that holds it, none. ")
	fmt.Fprintf(w, "Opening a session appends its record to the log: one round trip with any NATS backplane.\n\n")
	rt := report.Table{Header: []string{"request", setupMemory, setupNATS + " (one server)", setupCluster + " (session on another server)"}}
	rt.Add("call (no change to the session)", "0", "0", "0")
	rt.Add("call that joins or subscribes", "0", "1 (append, wait)", "1 (append, wait)")
	rt.Add("held request", "0", "0", "1 move (append + former holder's mail)")
	rt.Add("poll answered at once, passive call", "0", "0", "1 (mail to the holder + its answer)")
	rt.Add("opening a session", "0", "1 (append)", "1 (append)")
	if err := rt.WriteMarkdown(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nMeasured with one page and nothing else running, after the publishes: %d `Ticker.echo` calls one at a time, then %d polls; ", probeCount, probeCount)
	fmt.Fprintf(w, "on the cluster the session is opened on server 1, and the calls and the polls go to the last server (a far session), which asks server 1 for each poll's reply.\n\n")
	pt := report.Table{Header: []string{"setup", "transport", "call mean", "call p99", "× in-memory", "poll mean", "poll p99", "× in-memory"}, Right: map[int]bool{2: true, 3: true, 4: true, 5: true, 6: true, 7: true}}
	for _, r := range res.Rows {
		if r.Setup == setupFloor {
			continue // it serves no calls or polls
		}
		callRatio, pollRatio := "", ""
		if r.VsMemory != nil {
			callRatio, pollRatio = ratioCell(r.VsMemory.Call), ratioCell(r.VsMemory.Poll)
		}
		pt.Add(r.Setup, r.Transport, report.Millis(r.Probe.Call.Mean), report.Millis(r.Probe.Call.P99), callRatio,
			report.Millis(r.Probe.Poll.Mean), report.Millis(r.Probe.Poll.P99), pollRatio)
	}
	if err := pt.WriteMarkdown(w); err != nil {
		return err
	}
	var errs []string
	for _, r := range res.Rows {
		if r.Error != "" {
			errs = append(errs, fmt.Sprintf("- %s %s, %d pages: %s", r.Setup, r.Transport, r.Pages, r.Error))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\n## Failures\n\n%s\n", strings.Join(errs, "\n"))
	}
	return nil
}

// pagesCell is the row's pages as a table shows them: with the number
// that opened, if not all did.
func (r clusterRow) pagesCell() string {
	if r.Ready != r.Pages {
		return fmt.Sprintf("%d (%d open)", r.Pages, r.Ready)
	}
	return strconv.Itoa(r.Pages)
}

// ratioCell writes a ratio with two decimals, or "unmeasured".
func ratioCell(x float64) string {
	if x <= 0 {
		return "unmeasured"
	}
	return fmt.Sprintf("%.2f×", x)
}
