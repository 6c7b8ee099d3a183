package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/loopback"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// tickerPage is the page every ticker page shows, and the target of quotes.
const tickerPage = "/ticker"

// quote is one update of the ticker, as pages receive it.
type quote struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	// Run names the run that published the quote.
	Run string `json:"run"`
	// Seq numbers the quotes of a run from 1.
	Seq uint64 `json:"seq"`
	// PublishedAt is when the server published it, in Unix microseconds:
	// an integer JavaScript holds exactly.
	PublishedAt int64 `json:"publishedAt"`
}

// publishRequest asks the bench server to publish Count quotes to every
// ticker page, one every Interval.
type publishRequest struct {
	Run      string        `json:"run"`
	Count    int           `json:"count"`
	Interval time.Duration `json:"interval"`
}

// publishReply says what was published.
type publishReply struct {
	Published int           `json:"published"`
	Took      time.Duration `json:"took"`
	// Error says why fewer than the quotes asked for were published.
	Error string `json:"error,omitempty"`
}

// serverStats is the bench server's view of itself.
type serverStats struct {
	Sessions int `json:"sessions"`
	// Held counts the connections held open for pages, and HeldBy the
	// same by transport.
	Held   int            `json:"held"`
	HeldBy map[string]int `json:"heldBy,omitempty"`
	// Pending counts the messages in outboxes that pages have not
	// acknowledged.
	Pending    int    `json:"pending"`
	HeapInuse  uint64 `json:"heapInuse"`
	Goroutines int    `json:"goroutines"`
	// Raw is the number of raw connections held in floor mode.
	Raw int `json:"raw,omitempty"`
	// PeersGone counts the held connections released because their page
	// closed them (reverse.Stats.PeersGone).
	PeersGone uint64 `json:"peersGone"`
}

// maxPublish bounds one publish request.
const maxPublish = 10_000

// benchServer is a Parley server with a Ticker service (latest and echo),
// a publisher of quotes to the ticker pages, and a loopback-only control
// endpoint under /bench/.
type benchServer struct {
	hub *reverse.Hub
	rpc *rpc.Server

	pubMu sync.Mutex // one publishing run at a time

	// raw, if set, is the raw floor: quotes go to its connections
	// instead of to the ticker pages.
	raw *rawFloor

	mu     sync.Mutex
	latest *quote

	// profile holds the CPU profile taken between the control requests
	// profile/start and profile/stop.
	profile bytes.Buffer
}

func newBenchServer(opts ...reverse.Option) *benchServer {
	return newBenchServerWith(nil, opts...)
}

// newBenchServerWith is newBenchServer with options of its rpc.Server.
func newBenchServerWith(rpcOpts []rpc.Option, opts ...reverse.Option) *benchServer {
	// The loaders are many pages at a few loopback addresses, each page a
	// browser of its own: lift the per-address limits that a real site
	// keeps against floods. The hub's default total keeps an eighth of the
	// open-file limit for other files (17,500 sessions of 20,000 files);
	// the bench server needs only fdSlack of them. Later options may still
	// set limits.
	opts = append([]reverse.Option{reverse.WithLimits(reverse.Limits{
		SessionsPerAddress: 1 << 30, BrowsersPerAddress: 1 << 30,
		Sessions: max(openFiles()-fdSlack, 0),
	})}, opts...)
	b := &benchServer{hub: reverse.NewHub(opts...)}
	b.rpc = rpc.NewServer(append([]rpc.Option{rpc.WithHub(b.hub)}, rpcOpts...)...)
	b.rpc.Register(rpc.ServiceDesc{Name: "Ticker", Doc: "The bench ticker.", Methods: []rpc.MethodDesc{
		{Name: "latest", Doc: "Returns the latest quote, or null before the first.", Handler: func(context.Context, rpc.Args) (any, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.latest, nil
		}},
		{Name: "echo", Doc: "Returns its argument.", Params: []string{"v"}, Handler: func(_ context.Context, args rpc.Args) (any, error) {
			var v json.RawMessage
			err := args.Decode(0, &v)
			return v, err
		}},
	}})
	return b
}

// handler serves Parley under /parley/ and the control endpoint under /bench/.
func (b *benchServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/parley/", b.rpc)
	mux.HandleFunc("POST /bench/publish", b.control(func(r *http.Request) (any, error) {
		var req publishRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			return nil, err
		}
		if req.Count < 1 || req.Count > maxPublish || req.Interval < 0 || req.Run == "" {
			return nil, fmt.Errorf("publish: want a run name, 1 to %d quotes and an interval >= 0", maxPublish)
		}
		return b.publish(r.Context(), req), nil
	}))
	mux.HandleFunc("POST /bench/gc", b.control(func(*http.Request) (any, error) {
		runtime.GC()
		debug.FreeOSMemory()
		return b.stats(), nil
	}))
	mux.HandleFunc("GET /bench/heap", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if _, err := loopback.Host(host); err != nil {
			http.Error(w, "loopback only", http.StatusForbidden)
			return
		}
		// The heap in use after a collection, sampled at the rate GODEBUG
		// memprofilerate sets (by default one sample per 512 KiB).
		runtime.GC()
		w.Header().Set("Content-Type", "application/octet-stream")
		_ = pprof.Lookup("heap").WriteTo(w, 0)
	})
	mux.HandleFunc("GET /bench/stats", b.control(func(*http.Request) (any, error) { return b.stats(), nil }))
	mux.HandleFunc("GET /bench/pending", b.control(func(*http.Request) (any, error) {
		return serverStats{Pending: b.pending()}, nil
	}))
	mux.HandleFunc("GET /bench/sessions", b.control(func(*http.Request) (any, error) { return b.sessions(), nil }))
	mux.HandleFunc("POST /bench/profile/start", b.control(func(*http.Request) (any, error) {
		return struct{}{}, pprof.StartCPUProfile(&b.profile)
	}))
	mux.HandleFunc("POST /bench/profile/stop", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if _, err := loopback.Host(host); err != nil {
			http.Error(w, "loopback only", http.StatusForbidden)
			return
		}
		pprof.StopCPUProfile()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b.profile.Bytes())
		b.profile.Reset()
	})
	return mux
}

// sessionList is the bench server's list of its hub's sessions.
type sessionList struct {
	// Held and Idle are the ids of the listed sessions that have a
	// connection held open for their page now, and of those that have not.
	Held []string `json:"held"`
	Idle []string `json:"idle"`
	// Opened counts the sessions this hub opened; Ended the sessions
	// ended, by reason.
	Opened uint64            `json:"opened"`
	Ended  map[string]uint64 `json:"ended,omitempty"`
}

// sessions lists the hub's sessions.
func (b *benchServer) sessions() sessionList {
	var l sessionList
	for _, s := range b.hub.Snapshot() {
		if s.Held {
			l.Held = append(l.Held, s.ID)
		} else {
			l.Idle = append(l.Idle, s.ID)
		}
	}
	st := b.hub.Stats()
	l.Opened, l.Ended = st.Opened, st.Ended
	return l
}

// control wraps a control handler: loopback callers only, JSON out.
func (b *benchServer) control(f func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if _, err := loopback.Host(host); err != nil {
			http.Error(w, "loopback only", http.StatusForbidden)
			return
		}
		v, err := f(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// publish sends req.Count quotes to every ticker page on a fixed schedule,
// one every req.Interval from the start, and keeps each as the latest.
func (b *benchServer) publish(ctx context.Context, req publishRequest) publishReply {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	start := time.Now()
	target := b.hub.Page(tickerPage)
	n := 0
	for i := range req.Count {
		if wait := time.Until(start.Add(time.Duration(i) * req.Interval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return publishReply{Published: n, Took: time.Since(start)}
			case <-t.C:
			}
		}
		q := &quote{
			Symbol: "PRLY",
			Price:  math.Round((100+10*math.Sin(float64(i)/3))*100) / 100,
			Run:    req.Run,
			Seq:    uint64(i + 1),
		}
		b.mu.Lock()
		q.PublishedAt = time.Now().UnixMicro()
		b.latest = q
		b.mu.Unlock()
		var err error
		if b.raw != nil {
			err = b.raw.send(q)
		} else {
			err = target.Call("quote", q)
		}
		if err != nil {
			return publishReply{Published: n, Took: time.Since(start), Error: err.Error()}
		}
		n++
	}
	return publishReply{Published: n, Took: time.Since(start)}
}

// pending counts the messages pages have not acknowledged from the hub's
// counters: cheap enough to poll while acks drain, where stats, which
// looks at every session, would add its own CPU to what is measured. It
// equals stats' Pending while no session ends with messages in its
// outbox.
func (b *benchServer) pending() int {
	c := b.hub.Counters()
	return int(c.Messages - c.Acked)
}

func (b *benchServer) stats() serverStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hs := b.hub.Stats()
	held := 0
	for _, n := range hs.Held {
		held += n
	}
	st := serverStats{Sessions: b.hub.Len(), Held: held, HeldBy: hs.Held, Pending: hs.OutboxMessages,
		HeapInuse: ms.HeapInuse, Goroutines: runtime.NumGoroutine(), PeersGone: hs.PeersGone}
	if b.raw != nil {
		st.Raw = b.raw.len()
	}
	return st
}

// serverInfo is the line serve prints once it listens.
type serverInfo struct {
	Addr string `json:"addr"`
	URL  string `json:"url"`
	PID  int    `json:"pid"`
	// RawAddr is the address of the raw connections, in floor mode.
	RawAddr string `json:"rawAddr,omitempty"`
	// NoFile is the process's limit on open files (the soft limit, which
	// Go raises to the hard limit as the process starts).
	NoFile int `json:"noFile"`
	// CertPEM is the certificate of a server run with -tls, which clients
	// trust.
	CertPEM string `json:"certPEM,omitempty"`
}

// openFiles returns the process's limit on open files, or 0 if it cannot
// be read.
func openFiles() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return int(min(l.Cur, math.MaxInt32))
}

func cmdServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on (127.0.0.0/8)")
	pollInterval := fs.Duration("poll-interval", 5*time.Second, "interval the server advises polling pages")
	tick := fs.Duration("tick", 0, "publish a quote to the ticker pages every tick on its own, in runs named tick-1, tick-2… (0: only on request)")
	lifetime := fs.Duration("lifetime", time.Hour, "stop after this long")
	noParking := fs.Bool("no-parking", false, "hold every page on a waiting handler goroutine, as plain net/http does, instead of parking its connection: the baseline")
	heartbeat := fs.Duration("heartbeat", 0, "interval of heartbeats and pings on held connections (0: the server's default)")
	useTLS := fs.Bool("tls", false, "serve HTTPS, HTTP/2 included, with a fresh self-signed certificate for the address, which the info line carries (certPEM)")
	h2Streams := fs.Int("h2-streams", 100, "with -tls, the most HTTP/2 streams one connection may hold at once: clients open another connection past it")
	natsURL := fs.String("nats", "", "join a cluster: connect to the NATS server at this loopback URL (nats://127.0.0.1:PORT, parleybench natsd prints one) and share sessions with the other servers on it through a natsbp backplane")
	cookieKey := fs.String("cookie-key", "", "the key, in hex (at least 16 bytes), that signs and checks browser id cookies; the servers of a cluster share one (default: a random key of this process)")
	procs := fs.Int("gomaxprocs", 0, "run Go code on at most this many CPUs at once (runtime.GOMAXPROCS; 0: the runtime's default, one per CPU)")
	raw := fs.Bool("raw", false, "serve the raw floor: also accept plain TCP connections on a second loopback port (rawAddr) and publish quotes to them, one write per quote per connection, instead of to the ticker pages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopback.HostPort(*addr); err != nil {
		return err
	}
	if *procs < 0 {
		return fmt.Errorf("-gomaxprocs %d is negative", *procs)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	opts := []reverse.Option{reverse.WithTransports(reverse.Transports{PollInterval: *pollInterval, NoParking: *noParking, Heartbeat: *heartbeat})}
	var rpcOpts []rpc.Option
	if *cookieKey != "" {
		key, err := hex.DecodeString(*cookieKey)
		if err != nil || len(key) < 16 {
			return fmt.Errorf("-cookie-key: want at least 16 bytes in hex")
		}
		rpcOpts = append(rpcOpts, rpc.WithCookieKeys(key))
	}
	if *natsURL != "" {
		bp, closeBus, err := joinBus(*natsURL)
		if err != nil {
			return err
		}
		defer closeBus()
		opts = append(opts, reverse.WithBackplane(bp))
	}
	b := newBenchServerWith(rpcOpts, opts...)
	defer b.hub.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	info := serverInfo{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String() + "/parley/", PID: os.Getpid(), NoFile: openFiles()}
	srv := &http.Server{Handler: b.handler(), ReadHeaderTimeout: 10 * time.Second}
	if *useTLS {
		cert, pemCert, err := selfSigned(ln.Addr().(*net.TCPAddr).IP)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: *h2Streams}
		info.URL, info.CertPEM = "https://"+info.Addr+"/parley/", string(pemCert)
	}
	if *raw {
		host, _, _ := net.SplitHostPort(info.Addr)
		if b.raw, err = listenRaw(host); err != nil {
			return err
		}
		defer b.raw.close()
		go b.raw.serve()
		info.RawAddr = b.raw.ln.Addr().String()
	}
	if err := json.NewEncoder(os.Stdout).Encode(info); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	if *tick > 0 {
		go func() {
			for i := 1; ctx.Err() == nil; i++ {
				b.publish(ctx, publishRequest{Run: fmt.Sprintf("tick-%d", i), Count: maxPublish, Interval: *tick})
			}
		}()
	}
	srv.RegisterOnShutdown(b.hub.Close)
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
	}()
	serve := srv.Serve
	if *useTLS {
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
	}
	if err := serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
