package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// echoArg is what the bench page sends.
type echoArg struct {
	I    int    `json:"i"`
	Text string `json:"text"`
}

// benchServer serves the bench page, a Bench service (echo, and pong which
// reports the page's answers to pings), and /plain, a hand-written
// net/http + encoding/json handler doing echo's work, as the baseline.
func benchServer(tb testing.TB) (*reverse.Hub, string, <-chan int) {
	hub := reverse.NewHub()
	tb.Cleanup(hub.Close)
	pongs := make(chan int, 1)
	srv := rpc.NewServer(rpc.WithHub(hub))
	srv.Register(rpc.ServiceDesc{Name: "Bench", Methods: []rpc.MethodDesc{
		{Name: "echo", Params: []string{"v"}, Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			var v echoArg
			err := args.Decode(0, &v)
			return v, err
		}},
		{Name: "pong", Params: []string{"i"}, Handler: func(ctx context.Context, args rpc.Args) (any, error) {
			var i int
			err := args.Decode(0, &i)
			pongs <- i
			return nil, err
		}},
	}})
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	mux.Handle("/bench/", http.StripPrefix("/bench/", http.FileServer(http.Dir("testdata/bench"))))
	mux.HandleFunc("POST /plain", func(w http.ResponseWriter, r *http.Request) {
		var v echoArg
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	return hub, serve(tb, mux), pongs
}

// benchPage opens the bench page in a fresh browser context.
func benchPage(b *testing.B, url string) (context.Context, string) {
	ctx, cancel := chromedp.NewContext(startBrowser(b), chromedp.WithNewBrowserContext())
	b.Cleanup(cancel)
	openPage(b, ctx, url+"/bench/")
	return ctx, eval[string](b, ctx, `document.body.dataset.session`)
}

// reportMedian adds the median of ms, in milliseconds, to b's report.
func reportMedian(b *testing.B, ms []float64) {
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "median-ms")
}

// BenchmarkBrowserCall times one call's round trip from a page in
// Chromium: a Parley call against a plain fetch to a hand-written handler.
func BenchmarkBrowserCall(b *testing.B) {
	_, url, _ := benchServer(b)
	ctx, _ := benchPage(b, url)
	for _, fn := range []string{"parleyEcho", "plainEcho"} {
		b.Run(fn, func(b *testing.B) {
			eval[[]float64](b, ctx, fmt.Sprintf(`timeRuns(20, %s)`, fn)) // warm up
			b.ResetTimer()
			ms := eval[[]float64](b, ctx, fmt.Sprintf(`timeRuns(%d, %s)`, b.N, fn))
			reportMedian(b, ms)
		})
	}
}

// BenchmarkBrowserPush times a push to a long-polling page in Chromium
// until the page's call back arrives; less a call's round trip, that is the
// push's latency.
func BenchmarkBrowserPush(b *testing.B) {
	hub, url, pongs := benchServer(b)
	_, sid := benchPage(b, url)
	page := hub.Session(sid)
	ms := make([]float64, 0, b.N)
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if err := page.Call("ping", i); err != nil {
			b.Fatal(err)
		}
		if got := <-pongs; got != i {
			b.Fatalf("pong %d for ping %d", got, i)
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	reportMedian(b, ms)
}
