package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parley-go/parley/cmd/parleybench/internal/procfs"
	"github.com/parley-go/parley/cmd/parleybench/internal/report"
)

// connsRow is the server's memory with connections left open between a
// page's requests, as a browser keeps them: each opened a session, and
// made its last request, the kind of the row, then went quiet.
type connsRow struct {
	// Last is the last request on each connection: "session" (net/http
	// keeps the connection, on a goroutine of its own) or "ack" (the hub
	// keeps it in its poller).
	Last  string `json:"last"`
	Conns int    `json:"conns"`
	// NaturalBefore and NaturalAfter are the server's resident memory
	// with no connection and with them all open, no collection forced.
	NaturalBefore uint64 `json:"naturalBefore"`
	NaturalAfter  uint64 `json:"naturalAfter"`
	// Goroutines is the server's goroutines with them all open.
	Goroutines int     `json:"goroutines"`
	Load       float64 `json:"load"`
}

// perConn returns the growth of the server's resident memory over the
// connections.
func (r connsRow) perConn() float64 {
	return (float64(r.NaturalAfter) - float64(r.NaturalBefore)) / float64(r.Conns)
}

// The last requests of the connections rows.
const (
	connsAfterSession = "session"
	connsAfterAck     = "ack"
)

// runConns opens n connections to a fresh bench server, each opening a
// script session and, if last is connsAfterAck, acknowledging on it;
// then reads the server's memory with them all open and quiet for hold.
func runConns(last string, n int, hold time.Duration) (connsRow, error) {
	row := connsRow{Last: last, Conns: n}
	srv, err := startServer(idlePoll)
	if err != nil {
		return row, err
	}
	defer srv.stop()
	if err := checkOpenFiles(srv.info, n); err != nil {
		return row, err
	}
	base, err := url.Parse(srv.info.URL)
	if err != nil {
		return row, err
	}
	if row.NaturalBefore, err = procfs.ReadRSS(srv.info.PID); err != nil {
		return row, err
	}
	for range n {
		c, err := quietConn(base, last == connsAfterAck)
		if err != nil {
			return row, err
		}
		defer c.Close()
	}
	time.Sleep(hold)
	if row.NaturalAfter, err = procfs.ReadRSS(srv.info.PID); err != nil {
		return row, err
	}
	row.Load = loadAverage()
	var st serverStats
	if err := srv.call("stats", nil, &st); err != nil {
		return row, err
	}
	row.Goroutines = st.Goroutines
	return row, nil
}

// quietConn dials the server at base, opens a script session on the
// connection and, if ack, acknowledges on it, as an SSE page does; and
// returns the connection, open.
func quietConn(base *url.URL, ack bool) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", base.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	res, body, err := postOn(c, br, base, "session", "", `{"page":"/ticker"}`)
	var opened struct{ Session string }
	if err == nil {
		err = json.Unmarshal(body, &opened)
	}
	if err == nil && ack {
		var cookies []string
		for _, ck := range res.Cookies() {
			cookies = append(cookies, ck.Name+"="+ck.Value)
		}
		_, _, err = postOn(c, br, base, "ack", strings.Join(cookies, "; "), `{"session":`+strconv.Quote(opened.Session)+`,"ack":0}`)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, c.SetDeadline(time.Time{})
}

// postOn posts body to the endpoint of the Parley prefix base on the
// connection c, whose replies br reads, and returns the reply and its
// body: an error unless the reply is 200.
func postOn(c net.Conn, br *bufio.Reader, base *url.URL, endpoint, cookie, body string) (*http.Response, []byte, error) {
	req := "POST " + base.JoinPath(endpoint).RequestURI() + " HTTP/1.1\r\nHost: " + base.Host +
		"\r\nContent-Type: application/json\r\nX-Parley: 1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"+body); err != nil {
		return nil, nil, err
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: HTTP %d: %s", endpoint, res.StatusCode, strings.TrimSpace(string(data)))
	}
	return res, data, err
}

// connsMarkdown writes the table of the connections rows.
func connsMarkdown(w io.Writer, rows []connsRow, hold time.Duration) error {
	fmt.Fprintf(w, "\n## Connections between requests\n\n")
	fmt.Fprintf(w, "A browser keeps its connections open between requests. Each connection here opens a script session, then makes its last request and goes quiet for %v: ", hold)
	fmt.Fprintf(w, "*session*, the session open itself, after which `net/http` keeps the connection on a goroutine of its own; *ack*, a `POST ack` as an SSE page sends, after which the hub keeps it in its poller. ")
	fmt.Fprintf(w, "*RSS per connection* is the growth of the server's resident memory, no collection forced, over the connections, their sessions included.\n\n")
	t := report.Table{
		Header: []string{"last request", "connections", "RSS per connection", "server goroutines", "load"},
		Right:  map[int]bool{1: true, 2: true, 3: true, 4: true},
	}
	for _, r := range rows {
		t.Add(r.Last, strconv.Itoa(r.Conns), report.Bytes(r.perConn()), strconv.Itoa(r.Goroutines), strconv.FormatFloat(r.Load, 'f', 2, 64))
	}
	return t.WriteMarkdown(w)
}
