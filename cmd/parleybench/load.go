package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/loopback"
	"github.com/parley-go/parley/cmd/parleybench/internal/seqtrack"
	"github.com/parley-go/parley/cmd/parleybench/internal/stats"
	"github.com/parley-go/parley/rpc/client"
)

// Modes of a simulated page. The first four are the client's transports;
// "pull" is the pull of the 2007 study: no script session, the page asks
// Ticker.latest every interval and sees only the latest quote.
const (
	modeLongPoll = "longpoll"
	modeSSE      = "sse"
	modePoll     = "poll"
	modePassive  = "passive"
	modePull     = "pull"
	// modeSSEH2 is the SSE transport over HTTP/2 with TLS: many pages'
	// streams share one connection, as a browser's tabs do.
	modeSSEH2 = "sse-h2"
)

func validMode(m string) bool {
	switch m {
	case modeLongPoll, modeSSE, modePoll, modePassive, modePull, modeWebSocket, modeSSEH2:
		return true
	}
	return false
}

// loadConfig describes the pages of one loader.
type loadConfig struct {
	// URL is the server's Parley prefix URL, on loopback.
	URL string
	// Raw is the address, on loopback, of the raw connections of a bench
	// server serving the raw floor; it is used in mode "raw" only, which
	// ignores URL.
	Raw string
	// Pages is the number of simulated pages.
	Pages int
	// Mode is the transport, "pull", or "raw" for the raw floor.
	Mode string
	// Interval is the poll interval ("poll"), or how often a "passive" or
	// "pull" page calls Ticker.latest.
	Interval time.Duration
	// Sources are the loopback addresses connections are made from, in turn.
	Sources []netip.Addr
	// Opening is how many pages open their sessions at once.
	Opening int
	// TLS configures https URLs; it must trust the server's certificate.
	TLS *tls.Config
	// SharedConns is how many keep-alive connections long-poll, SSE and
	// WebSocket pages share for the requests the server does not hold
	// (session opens, acks); their held requests have connections of
	// their own. Default 512.
	SharedConns int
	// HoldAddr, if set, is the loopback address the pages' held requests
	// (long polls, event streams, sockets) connect to instead of URL's,
	// which keeps their other requests: a page opens its session on one
	// server of a cluster and holds its connection on another. Long-poll,
	// SSE and WebSocket pages only.
	HoldAddr string
	// Abrupt makes WebSocket pages, when they stop, close their TCP
	// connections without a close frame or a last ack, as a page that
	// vanishes does.
	Abrupt bool
}

// RunData is what the pages received of one run.
type RunData struct {
	seqtrack.Counts
	// TripsMicros are the trip times, receive time less publish time, of
	// the delivered quotes, in microseconds.
	TripsMicros []int64 `json:"tripsMicros"`
}

// Snapshot is what a loader's pages did since the previous snapshot.
type Snapshot struct {
	// Pages is the number of pages; Ready, how many had opened.
	Pages int `json:"pages"`
	Ready int `json:"ready"`
	// Requests counts HTTP requests sent.
	Requests uint64 `json:"requests"`
	// Bytes counts reply body bytes received.
	Bytes uint64 `json:"bytes"`
	// ProtocolDuplicates counts resent messages the client dropped by
	// sequence number before the page saw them.
	ProtocolDuplicates uint64 `json:"protocolDuplicates"`
	// Gaps counts sessions lost and replaced.
	Gaps uint64 `json:"gaps"`
	// Reconnects counts failed requests retried.
	Reconnects uint64 `json:"reconnects"`
	// SocketEnds counts the WebSocket pages' connections that ended, by
	// how: "dial: …" when the connection could not be made, "before
	// open: …" when it ended before the open frame, "after open: …" once
	// open; "…" is what the page's last read of it returned ("closed by
	// the page" when the page closed it with no read failing).
	SocketEnds map[string]uint64 `json:"socketEnds,omitempty"`
	// Errors counts failed calls of pulling pages.
	Errors uint64 `json:"errors"`
	// Runs holds the quotes received, by run.
	Runs map[string]*RunData `json:"runs,omitempty"`
}

// Merge adds the counters and runs of o, a later snapshot or another
// loader's, to s. Pages and Ready, which are states rather than counts,
// are left alone.
func (s *Snapshot) Merge(o Snapshot) {
	s.Requests += o.Requests
	s.Bytes += o.Bytes
	s.ProtocolDuplicates += o.ProtocolDuplicates
	s.Gaps += o.Gaps
	s.Reconnects += o.Reconnects
	s.Errors += o.Errors
	for k, n := range o.SocketEnds {
		if s.SocketEnds == nil {
			s.SocketEnds = map[string]uint64{}
		}
		s.SocketEnds[k] += n
	}
	for id, r := range o.Runs {
		if s.Runs == nil {
			s.Runs = map[string]*RunData{}
		}
		d := s.Runs[id]
		if d == nil {
			d = &RunData{}
			s.Runs[id] = d
		}
		d.Counts.Merge(r.Counts)
		d.TripsMicros = append(d.TripsMicros, r.TripsMicros...)
	}
}

// Trips returns the summary of the run's trip times, in seconds.
func (r *RunData) Trips() stats.Summary {
	xs := make([]float64, len(r.TripsMicros))
	for i, us := range r.TripsMicros {
		xs[i] = float64(us) / 1e6
	}
	return stats.Summarize(xs)
}

// loader runs simulated pages and accounts for what they receive.
type loader struct {
	cfg      loadConfig
	clients  []*client.Client
	lpPages  []*lpPage
	wsPages  []*wsPage
	ssePages []*ssePage
	// sockets follow the sockets of wsPages, page by page.
	sockets []*socketState
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	// ready counts the pages open now: a WebSocket page while its socket
	// is open, any other page from its first opening on.
	ready    atomic.Int64
	requests atomic.Uint64
	errors   atomic.Uint64

	mu    sync.Mutex
	runs  map[string]*RunData
	prev  client.Stats // the client totals at the previous snapshot
	pages []seqtrack.Page
	// fatal is the first error that stopped a page for good.
	fatal error
	// ends counts the WebSocket pages' connections that ended, by how,
	// since the previous snapshot (Snapshot.SocketEnds).
	ends map[string]uint64
}

// socketEnded counts a WebSocket page's connection that ended, by how.
func (l *loader) socketEnded(how string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ends == nil {
		l.ends = map[string]uint64{}
	}
	l.ends[how]++
}

func newLoader(cfg loadConfig) (*loader, error) {
	if cfg.Mode == modeRaw {
		if err := loopback.HostPort(cfg.Raw); err != nil {
			return nil, err
		}
	} else if err := loopback.URL(cfg.URL); err != nil {
		return nil, err
	}
	if !validMode(cfg.Mode) && cfg.Mode != modeRaw {
		return nil, fmt.Errorf("unknown transport %q", cfg.Mode)
	}
	if cfg.Pages < 1 {
		return nil, fmt.Errorf("%d pages", cfg.Pages)
	}
	for _, a := range cfg.Sources {
		if _, err := loopback.Host(a.String()); err != nil {
			return nil, err
		}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	cfg.Opening = max(cfg.Opening, 1)
	l := &loader{cfg: cfg, runs: map[string]*RunData{}, pages: make([]seqtrack.Page, cfg.Pages), dial: sourceDialer(cfg.Sources)}
	if cfg.Mode == modeRaw {
		return l, nil // raw pages dial their own connections
	}
	holdDial := l.dial
	if cfg.HoldAddr != "" {
		if err := loopback.HostPort(cfg.HoldAddr); err != nil {
			return nil, err
		}
		if cfg.Mode != modeLongPoll && cfg.Mode != modeSSE && cfg.Mode != modeWebSocket {
			return nil, fmt.Errorf("a hold address serves long-poll, SSE and WebSocket pages, not %s", cfg.Mode)
		}
		holdDial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return l.dial(ctx, network, cfg.HoldAddr)
		}
	}
	ht := newTransport(holdDial, cfg.Pages)
	if cfg.TLS != nil {
		ht.TLSClientConfig = cfg.TLS
		ht.ForceAttemptHTTP2 = cfg.Mode == modeSSEH2
	}
	var next http.RoundTripper = ht
	if cfg.Mode == modeLongPoll || cfg.Mode == modeSSE || cfg.Mode == modeWebSocket {
		n := cmp.Or(cfg.SharedConns, defaultSharedConns)
		shared := newTransport(l.dial, 0)
		shared.MaxConnsPerHost, shared.MaxIdleConnsPerHost = n, n
		shared.TLSClientConfig = cfg.TLS
		next = heldRouter{held: ht, shared: shared}
	}
	rt := &countingTransport{next: next, n: &l.requests}
	transport := cfg.Mode
	switch transport {
	case modePull:
		transport = modePassive // never used to receive: pull pages do not Run
	case modeSSEH2:
		transport = modeSSE
	case modeWebSocket:
		for i := range cfg.Pages {
			jar, _ := cookiejar.New(nil)
			p, err := newWSPage(cfg.URL, &http.Client{Jar: jar, Transport: rt}, tickerPage, func(m client.Message) { l.handle(i, m) })
			if err != nil {
				return nil, err
			}
			sock := &socketState{ready: &l.ready, ended: l.socketEnded}
			p.dial, p.tls, p.abrupt = sock.dialer(holdDial), cfg.TLS, cfg.Abrupt
			l.wsPages = append(l.wsPages, p)
			l.sockets = append(l.sockets, sock)
		}
		return l, nil
	case modeLongPoll:
		for i := range cfg.Pages {
			jar, _ := cookiejar.New(nil)
			p, err := newLPPage(cfg.URL, &http.Client{Jar: jar, Transport: rt}, tickerPage, func(m client.Message) { l.handle(i, m) })
			if err != nil {
				return nil, err
			}
			p.dial, p.tls, p.requests = holdDial, cfg.TLS, &l.requests
			l.lpPages = append(l.lpPages, p)
		}
		return l, nil
	case modeSSE: // not sse-h2, whose streams go through http.Client, many to a connection
		for i := range cfg.Pages {
			jar, _ := cookiejar.New(nil)
			p, err := newSSEPage(cfg.URL, &http.Client{Jar: jar, Transport: rt}, tickerPage, func(m client.Message) { l.handle(i, m) })
			if err != nil {
				return nil, err
			}
			p.dial, p.tls = holdDial, cfg.TLS
			l.ssePages = append(l.ssePages, p)
		}
		return l, nil
	}
	for range cfg.Pages {
		jar, _ := cookiejar.New(nil)
		c, err := client.New(cfg.URL,
			client.WithHTTPClient(&http.Client{Jar: jar, Transport: rt}),
			client.WithPage(tickerPage),
			client.WithTransport(transport),
			client.WithPollInterval(cfg.Interval))
		if err != nil {
			return nil, err
		}
		l.clients = append(l.clients, c)
	}
	return l, nil
}

// sourceDialer returns a dial function that connects from the sources in
// turn, or from any address if there are none.
func sourceDialer(sources []netip.Addr) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var next atomic.Uint64
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		if len(sources) > 0 {
			src := sources[next.Add(1)%uint64(len(sources))]
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		return d.DialContext(ctx, network, addr)
	}
}

// newTransport returns an HTTP transport for many pages that connects
// with dial and keeps up to one idle connection per page.
func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error), pages int) *http.Transport {
	return &http.Transport{
		DialContext:         dial,
		MaxIdleConnsPerHost: pages + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// defaultSharedConns is loadConfig.SharedConns's default.
const defaultSharedConns = 512

// heldRouter sends a page's held requests (its SSE stream, its long poll)
// on connections of their own, and its other requests (session opens,
// acks) over a few keep-alive connections that every page of the loader
// shares, as a browser's tabs share its connections to a host. The server
// then holds about one connection per page, not two.
type heldRouter struct {
	held, shared http.RoundTripper
}

// RoundTrip sends r on the held or the shared connections.
func (t heldRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	if isHeld(r) {
		return t.held.RoundTrip(r)
	}
	return t.shared.RoundTrip(r)
}

// isHeld reports whether the server may hold r open until it has
// messages: a GET of the event stream or a POST of a poll.
func isHeld(r *http.Request) bool {
	p := r.URL.Path
	return r.Method == http.MethodGet && strings.HasSuffix(p, "/sse") ||
		r.Method == http.MethodPost && strings.HasSuffix(p, "/poll")
}

// countingTransport counts the requests it sends.
type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Uint64
}

// RoundTrip counts r and sends it on.
func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// observe accounts for a quote that page i received at now.
func (l *loader) observe(i int, q quote, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.pages[i].Observe(q.Run, q.Seq)
	if o == seqtrack.Duplicate && l.cfg.Mode == modePull {
		return // a pulling page reads the latest quote again until it changes
	}
	r := l.runs[q.Run]
	if r == nil {
		r = &RunData{}
		l.runs[q.Run] = r
	}
	r.Add(o)
	if o != seqtrack.Duplicate {
		r.TripsMicros = append(r.TripsMicros, now.UnixMicro()-q.PublishedAt)
	}
}

// start opens every page, Opening at a time, and returns once all are
// ready or ctx ends. The pages run until ctx ends.
func (l *loader) start(ctx context.Context) {
	sem := make(chan struct{}, l.cfg.Opening)
	var wg sync.WaitGroup
	for i := range l.cfg.Pages {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			opened := false
			release := func() {
				if !opened {
					opened = true
					<-sem
					wg.Done()
				}
			}
			defer release()
			l.runPage(ctx, i, release)
		}()
	}
	wg.Wait()
}

// runPage runs page i until ctx ends, calling opened each time it is
// open (once, but for a WebSocket page, which opens again after each
// reconnect) and keeping l.ready.
func (l *loader) runPage(ctx context.Context, i int, opened func()) {
	if l.cfg.Mode == modeWebSocket {
		sock := l.sockets[i]
		if err := l.wsPages[i].run(ctx, func() {
			sock.open()
			opened()
		}); err != nil {
			l.mu.Lock()
			if l.fatal == nil {
				l.fatal = err
			}
			l.mu.Unlock()
		}
		return
	}
	ready := func() {
		l.ready.Add(1)
		opened()
	}
	var run func(context.Context, func()) error
	switch l.cfg.Mode {
	case modeLongPoll:
		run = l.lpPages[i].run
	case modeSSE:
		run = l.ssePages[i].run
	}
	if run != nil {
		if err := run(ctx, ready); err != nil {
			l.mu.Lock()
			if l.fatal == nil {
				l.fatal = err
			}
			l.mu.Unlock()
		}
		return
	}
	if l.cfg.Mode == modeRaw {
		l.runRawPage(ctx, i, ready)
		return
	}
	c := l.clients[i]
	handle := func(m client.Message) { l.handle(i, m) }
	switch l.cfg.Mode {
	case modePull:
		// A pulling page has no session to open: it is ready at once, so
		// that a saturated server shows in the results, not in opening.
		ready()
		l.pull(ctx, i, c)
		return
	case modePassive:
		go func() { _ = c.Run(ctx, handle) }()
		if waitSession(ctx, c) {
			ready()
		}
		l.pull(ctx, i, c)
		return
	}
	go func() { _ = c.Run(ctx, handle) }()
	if waitSession(ctx, c) {
		ready()
	}
}

// handle accounts for message m received by page i, if it is a quote.
func (l *loader) handle(i int, m client.Message) {
	now := time.Now()
	var q quote
	if m.Fn != "quote" || len(m.Args) != 1 || json.Unmarshal(m.Args[0], &q) != nil {
		return
	}
	l.observe(i, q, now)
}

// err returns the first error that stopped a page for good, if any.
func (l *loader) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

// waitSession waits until c has a script session or ctx ends.
func waitSession(ctx context.Context, c *client.Client) bool {
	for c.Session() == "" {
		if !sleepCtx(ctx, 2*time.Millisecond) {
			return false
		}
	}
	return true
}

// pull calls Ticker.latest every interval, starting at a random point of
// the first interval so that pages do not ask all at once.
func (l *loader) pull(ctx context.Context, i int, c *client.Client) {
	if !sleepCtx(ctx, rand.N(l.cfg.Interval)) {
		return
	}
	for ctx.Err() == nil {
		var q *quote
		err := c.Call(ctx, "Ticker", "latest", &q)
		now := time.Now()
		switch {
		case err != nil && ctx.Err() == nil:
			l.errors.Add(1)
		case err == nil && q != nil && l.cfg.Mode == modePull:
			l.observe(i, *q, now)
		}
		sleepCtx(ctx, l.cfg.Interval)
	}
}

// sleepCtx sleeps for d; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// snapshot returns what happened since the previous snapshot.
func (l *loader) snapshot() Snapshot {
	var total client.Stats
	all := make([]interface{ Stats() client.Stats }, 0, len(l.clients)+len(l.lpPages)+len(l.wsPages)+len(l.ssePages))
	for _, c := range l.clients {
		all = append(all, c)
	}
	for _, p := range l.lpPages {
		all = append(all, p)
	}
	for _, p := range l.wsPages {
		all = append(all, p)
	}
	for _, p := range l.ssePages {
		all = append(all, p)
	}
	for _, c := range all {
		s := c.Stats()
		total.Bytes += s.Bytes
		total.Duplicates += s.Duplicates
		total.Gaps += s.Gaps
		total.Reconnects += s.Reconnects
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Snapshot{
		Pages:              l.cfg.Pages,
		Ready:              int(l.ready.Load()),
		Requests:           l.requests.Swap(0),
		Errors:             l.errors.Swap(0),
		Bytes:              total.Bytes - l.prev.Bytes,
		ProtocolDuplicates: total.Duplicates - l.prev.Duplicates,
		Gaps:               total.Gaps - l.prev.Gaps,
		Reconnects:         total.Reconnects - l.prev.Reconnects,
		SocketEnds:         l.ends,
		Runs:               l.runs,
	}
	l.ends = nil
	l.prev = total
	l.runs = map[string]*RunData{}
	return s
}

// loaderLine is a line a controlled loader prints: ready once, then one
// snapshot per "snap" it reads.
type loaderLine struct {
	Ready *int `json:"ready,omitempty"`
	// Error says why pages could not open, if they could not.
	Error    string    `json:"error,omitempty"`
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "", "the server's Parley prefix URL on loopback, e.g. http://127.0.0.1:8080/parley/")
	pages := fs.Int("pages", 100, "number of simulated pages (about 18,000 at most per process)")
	mode := fs.String("transport", modeLongPoll, "longpoll, sse, websocket, sse-h2 (SSE over HTTP/2 with TLS, -url https://…), poll, passive, pull (Ticker.latest every interval, no session), or raw (plain TCP connections to -raw: the raw floor)")
	ca := fs.String("ca", "", "PEM file of the certificate an https -url is checked against (serve -tls prints it)")
	raw := fs.String("raw", "", "with -transport raw, the loopback address of the raw connections of a server run with serve -raw")
	interval := fs.Duration("interval", 5*time.Second, "poll interval (poll), or interval between Ticker.latest calls (passive, pull)")
	duration := fs.Duration("duration", 30*time.Second, "how long to run; with -control, the most it runs")
	sourceFirst := fs.Int("source-first", 2, "connections come from 127.0.0.N, N from this")
	sources := fs.Int("sources", 4, "number of loopback source addresses")
	opening := fs.Int("opening", 64, "pages opening their sessions at once")
	holdAddr := fs.String("hold-addr", "", "connect the pages' held requests (long polls, event streams, sockets) to this loopback address instead of -url's: another server of a cluster")
	control := fs.Bool("control", false, "print a ready line, then a snapshot line for each \"snap\" line read from standard input; stop at its end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pages > 18_000 {
		return fmt.Errorf("%d pages in one process would pass its 20,000 open files; run several loaders", *pages)
	}
	src, err := loopback.Sources(*sourceFirst, *sources)
	if err != nil {
		return err
	}
	var tlsConf *tls.Config
	if *ca != "" {
		if tlsConf, err = trustPEMFile(*ca); err != nil {
			return err
		}
	}
	l, err := newLoader(loadConfig{URL: *url, Raw: *raw, Pages: *pages, Mode: *mode, Interval: *interval, Sources: src, Opening: *opening, TLS: tlsConf, HoldAddr: *holdAddr})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	l.start(ctx)
	if err := l.err(); err != nil && !*control {
		return err
	}
	if !*control {
		<-ctx.Done()
		return printLoadSummary(l.snapshot())
	}
	n := int(l.ready.Load())
	first := loaderLine{Ready: &n}
	if err := l.err(); err != nil {
		first.Error = err.Error()
	}
	if err := out.Encode(first); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && ctx.Err() == nil {
		if in.Text() == "snap" {
			s := l.snapshot()
			if err := out.Encode(loaderLine{Snapshot: &s}); err != nil {
				return err
			}
		}
	}
	return nil
}

// printLoadSummary prints what a standalone load saw, run by run.
func printLoadSummary(s Snapshot) error {
	fmt.Printf("pages %d (ready %d), requests %d, bytes %d, protocol duplicates %d, gaps %d, reconnects %d, errors %d\n",
		s.Pages, s.Ready, s.Requests, s.Bytes, s.ProtocolDuplicates, s.Gaps, s.Reconnects, s.Errors)
	for _, how := range slices.Sorted(maps.Keys(s.SocketEnds)) {
		fmt.Printf("sockets ended, %s: %d\n", how, s.SocketEnds[how])
	}
	for id, r := range s.Runs {
		t := r.Trips()
		fmt.Printf("run %s: delivered %d, out of order %d, duplicates %d, trip mean %.2f ms, p50 %.2f ms, p99 %.2f ms\n",
			id, r.Delivered, r.OutOfOrder, r.Duplicates, t.Mean*1000, t.P50*1000, t.P99*1000)
	}
	return nil
}

// socketState follows the socket of one WebSocket page: the page counts
// as ready while the connection it dialled last has carried the open
// frame and is not closed, so that a page that reconnects counts once,
// and not while it reconnects.
type socketState struct {
	ready *atomic.Int64
	// ended is told how each connection ended (Snapshot.SocketEnds).
	ended func(how string)

	mu   sync.Mutex
	conn *trackedConn // the connection dialled last
	up   bool         // conn carried the open frame and is not closed
}

// dialer returns dial, with every connection it makes followed.
func (s *socketState) dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			if ctx.Err() == nil {
				s.ended("dial: " + endCause(err))
			}
			return nil, err
		}
		tc := &trackedConn{Conn: c, state: s}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.down()
		s.conn = tc
		return tc, nil
	}
}

// open counts the page ready, once, when its socket carried the open
// frame.
func (s *socketState) open() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up && s.conn != nil {
		s.up = true
		s.ready.Add(1)
	}
}

// closed counts the page no longer ready, if c was its socket, and tells
// how c ended.
func (s *socketState) closed(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	how := "before open: "
	if s.conn == c && s.up {
		how = "after open: "
	}
	if s.conn == c {
		s.down()
		s.conn = nil
	}
	s.ended(how + endCause(c.readErr()))
}

// down uncounts the page if it counted as ready. s.mu is held.
func (s *socketState) down() {
	if s.up {
		s.up = false
		s.ready.Add(-1)
	}
}

// trackedConn is a page's socket connection that tells its state when it
// is closed.
type trackedConn struct {
	net.Conn
	state *socketState
	once  sync.Once

	mu      sync.Mutex
	lastErr error // the first error a read returned
}

// Read reads from the connection, keeping the first error.
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.mu.Lock()
		if c.lastErr == nil {
			c.lastErr = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// readErr returns the first error a read returned, if any.
func (c *trackedConn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// endCause names how a connection ended from the error of its dial or of
// its last read: nil when the page closed it with no read failing.
func endCause(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "closed by the page"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, net.ErrClosed):
		return "closed by the page"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return fmt.Sprintf("%T", err)
}

// Close closes the connection and tells the page's state, once.
func (c *trackedConn) Close() error {
	c.once.Do(func() { c.state.closed(c) })
	return c.Conn.Close()
}
