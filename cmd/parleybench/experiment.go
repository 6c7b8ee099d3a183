package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
)

// window measures the server and the loaders over one stretch of a run.
type window struct {
	server    *procfs.Sampler
	loaders   []int
	loaderCPU uint64
}

// openWindow starts measuring server pid and the loaders.
func openWindow(server int, loaders []int) (*window, error) {
	s, err := procfs.Start(server, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return &window{server: s, loaders: loaders, loaderCPU: cpuTicks(loaders)}, nil
}

// close returns the server's usage and the loaders' CPU seconds.
func (w *window) close() (procfs.Usage, float64, error) {
	u, err := w.server.Stop()
	return u, procfs.Seconds(cpuTicks(w.loaders) - w.loaderCPU), err
}

// cpuTicks sums the CPU ticks of processes, skipping those it cannot read.
func cpuTicks(pids []int) uint64 {
	var n uint64
	for _, pid := range pids {
		if c, err := procfs.ReadCPU(pid); err == nil {
			n += c.Total()
		}
	}
	return n
}

// writeJSON writes v, indented, to dir/name.
func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// writeResults writes v to dir as NAME.json and, through markdown, the
// report NAME.md.
func writeResults(dir, name string, v any, markdown func(io.Writer) error) error {
	if err := writeJSON(dir, name+".json", v); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, name+".md"))
	if err != nil {
		return err
	}
	if err := markdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// openTimeout is how long opening pages may take.
func openTimeout(pages int) time.Duration {
	return 30*time.Second + time.Duration(pages)*5*time.Millisecond
}

// loaderMode maps a mode of the experiments to the loader's transport:
// "push" is the default long-poll.
func loaderMode(mode string) string {
	if mode == "push" {
		return modeLongPoll
	}
	return mode
}

// describeMode says in words how pages in mode receive quotes.
func describeMode(mode string, interval time.Duration) string {
	switch mode {
	case "push", modeLongPoll:
		return "push: Parley long-poll (Comet)"
	case modeSSE:
		return "push: Parley SSE stream"
	case modePoll:
		return "Parley's poll transport, every " + interval.String() + "; delivers every queued update"
	case modePassive:
		return "Parley passive (piggyback on a Ticker.latest call every " + interval.String() + ")"
	case modePull:
		return "pull as in the 2007 study: Ticker.latest every " + interval.String() + ", no session; sees only the latest quote"
	}
	return mode
}
