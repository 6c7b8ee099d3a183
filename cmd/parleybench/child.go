package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/loopback"
)

// proc is a child parleybench process that talks in JSON lines on its
// standard output. It is killed if this process dies.
type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan []byte
}

// spawn starts this program again with args.
func spawn(args ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, in: in, lines: make(chan []byte, 1)}
	go func() {
		defer close(p.lines)
		r := bufio.NewReaderSize(out, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				p.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	return p, nil
}

// read decodes the next line into v, waiting at most timeout.
func (p *proc) read(v any, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-p.lines:
		if !ok {
			return fmt.Errorf("%s ended", p.cmd.Args[1])
		}
		return json.Unmarshal(line, v)
	case <-t.C:
		return fmt.Errorf("%s said nothing for %v", p.cmd.Args[1], timeout)
	}
}

// stop ends the process: its input is closed, then it is sent SIGTERM,
// then killed if it has not exited within a few seconds.
func (p *proc) stop() {
	_ = p.in.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// benchProc is a bench server running as a child process.
type benchProc struct {
	*proc
	info serverInfo
	// control is the client of the control endpoint.
	control *http.Client
	// caFile, for a server run with -tls, holds its certificate, for
	// loaders to trust.
	caFile string
}

// startServer starts `parleybench serve` on a free loopback port, with
// extra flags for serve, if any.
func startServer(pollInterval time.Duration, extra ...string) (*benchProc, error) {
	p, err := spawn(append([]string{"serve", "-addr", "127.0.0.1:0", "-poll-interval", pollInterval.String(), "-lifetime", "2h"}, extra...)...)
	if err != nil {
		return nil, err
	}
	b := &benchProc{proc: p}
	if err := p.read(&b.info, 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	if err := loopback.HostPort(b.info.Addr); err != nil {
		p.stop()
		return nil, err
	}
	b.control = &http.Client{Timeout: time.Minute}
	if b.info.CertPEM != "" {
		if err := b.trust(); err != nil {
			b.stop()
			return nil, err
		}
	}
	return b, nil
}

// trust writes the server's certificate to a file for the loaders, and
// makes the control client trust it.
func (b *benchProc) trust() error {
	conf, err := trustPEM([]byte(b.info.CertPEM))
	if err != nil {
		return err
	}
	b.control.Transport = &http.Transport{TLSClientConfig: conf}
	f, err := os.CreateTemp("", "parleybench-*.pem")
	if err != nil {
		return err
	}
	b.caFile = f.Name()
	if _, err := f.WriteString(b.info.CertPEM); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stop ends the server and removes its certificate file.
func (b *benchProc) stop() {
	b.proc.stop()
	if b.caFile != "" {
		_ = os.Remove(b.caFile)
	}
}

// loaderArgs returns the flags loaders of this server need beyond the
// URL: the certificate to trust, for a server run with -tls.
func (b *benchProc) loaderArgs() []string {
	if b.caFile == "" {
		return nil
	}
	return []string{"-ca", b.caFile}
}

// call posts to (or, with a nil body, gets) a control endpoint of the
// bench server and decodes its JSON reply.
func (b *benchProc) call(path string, body, out any) error {
	base, _, _ := strings.Cut(b.info.URL, "/parley/")
	u := base + "/bench/" + path
	var res *http.Response
	var err error
	if body == nil {
		res, err = b.control.Get(u)
	} else {
		var buf []byte
		if buf, err = json.Marshal(body); err != nil {
			return err
		}
		res, err = b.control.Post(u, "application/json", bytes.NewReader(buf))
	}
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(res.Body)
		return fmt.Errorf("bench server: %s: %s", res.Status, bytes.TrimSpace(msg))
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// startProfile starts a CPU profile of the server.
func (b *benchProc) startProfile() error {
	var ok struct{}
	return b.call("profile/start", struct{}{}, &ok)
}

// stopProfile stops the server's CPU profile and writes it to path.
func (b *benchProc) stopProfile(path string) error {
	base, _, _ := strings.Cut(b.info.URL, "/parley/")
	res, err := b.control.Post(base+"/bench/profile/stop", "application/json", nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	p, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("profile/stop: %s", res.Status)
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, p, 0o644)
}

// publish asks the server to publish and waits until it has.
func (b *benchProc) publish(run string, count int, interval time.Duration) (publishReply, error) {
	var r publishReply
	if err := b.call("publish", publishRequest{Run: run, Count: count, Interval: interval}, &r); err != nil {
		return r, err
	}
	if r.Published != count {
		return r, fmt.Errorf("published %d of %d quotes: %s", r.Published, count, r.Error)
	}
	return r, nil
}

// fleet is the loader processes of one set of pages.
type fleet struct {
	procs []*proc
}

// sourcesPerLoader is how many loopback source addresses each loader
// dials from: 4 × about 28,000 ephemeral ports.
const sourcesPerLoader = 4

// startFleet starts loaders for pages pages in all, at most perProc each,
// and waits until every page is open or opening takes longer than
// openTimeout. It returns the number of pages open. url is the server's
// Parley URL, or in mode "raw" the address of its raw connections; extra
// are more flags for every loader.
func startFleet(url string, pages, perProc int, mode string, interval, openTimeout time.Duration, extra ...string) (*fleet, int, error) {
	f := &fleet{}
	n := (pages + perProc - 1) / perProc
	if 2+n*sourcesPerLoader > 254 {
		return nil, 0, fmt.Errorf("%d loaders need more loopback source addresses than there are", n)
	}
	for i := range n {
		share := pages / n
		if i < pages%n {
			share++
		}
		target := "-url"
		if mode == modeRaw {
			target = "-raw"
		}
		p, err := spawn(append([]string{"load", "-control", target, url, "-pages", strconv.Itoa(share),
			"-transport", mode, "-interval", interval.String(),
			"-source-first", strconv.Itoa(2 + i*sourcesPerLoader), "-sources", strconv.Itoa(sourcesPerLoader),
			"-duration", "1h"}, extra...)...)
		if err != nil {
			f.stop()
			return nil, 0, err
		}
		f.procs = append(f.procs, p)
	}
	ready := 0
	for _, p := range f.procs {
		var line loaderLine
		if err := p.read(&line, openTimeout); err != nil {
			f.stop()
			return nil, 0, err
		}
		if line.Ready == nil {
			f.stop()
			return nil, 0, errors.New("a loader did not say it was ready")
		}
		if line.Error != "" {
			f.stop()
			return nil, 0, fmt.Errorf("%s pages: %s", mode, line.Error)
		}
		ready += *line.Ready
	}
	return f, ready, nil
}

// snap returns the merged snapshot of every loader.
func (f *fleet) snap() (Snapshot, error) {
	for _, p := range f.procs {
		if _, err := io.WriteString(p.in, "snap\n"); err != nil {
			return Snapshot{}, err
		}
	}
	var all Snapshot
	for _, p := range f.procs {
		var line loaderLine
		if err := p.read(&line, time.Minute); err != nil {
			return Snapshot{}, err
		}
		if line.Snapshot == nil {
			return Snapshot{}, errors.New("a loader sent no snapshot")
		}
		all.Merge(*line.Snapshot)
		all.Pages += line.Snapshot.Pages
		all.Ready += line.Snapshot.Ready
	}
	return all, nil
}

// pids returns the loaders' process ids.
func (f *fleet) pids() []int {
	var out []int
	for _, p := range f.procs {
		out = append(out, p.cmd.Process.Pid)
	}
	return out
}

// stop ends every loader.
func (f *fleet) stop() {
	for _, p := range f.procs {
		p.stop()
	}
}
