package rpc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browserCookie returns the Cookie header c's jar sends to the server.
func (c *client) browserCookie(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(c.url + "/parley/")
	require.NoError(t, err)
	var parts []string
	for _, k := range c.http.Jar.Cookies(u) {
		parts = append(parts, k.Name+"="+k.Value)
	}
	require.NotEmpty(t, parts)
	return strings.Join(parts, "; ")
}

// pipelined writes req and then behind in one write on a fresh
// connection and reads the replies: two, or fewer if the server closes
// the connection. It returns each reply's status and body.
func pipelined(t *testing.T, serverURL, req, behind string) (statuses []int, bodies []string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(serverURL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, req+behind)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)), "detects a hang")
	br := bufio.NewReader(conn)
	for range 2 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			require.ErrorIs(t, err, io.EOF, "the connection may only be closed between replies")
			break
		}
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		statuses = append(statuses, res.StatusCode)
		bodies = append(bodies, string(b))
		if res.Close {
			break
		}
	}
	return statuses, bodies
}

func TestPipelinedRequestsOnEveryEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(t)
	check := c.openSession("/check")
	cookie := c.browserCookie(t)
	host := strings.TrimPrefix(f.ts.URL, "http://")

	post := func(path, body string) string {
		return fmt.Sprintf("POST /parley/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Parley: 1\r\nCookie: %s\r\nContent-Length: %d\r\n\r\n%s",
			path, host, cookie, len(body), body)
	}
	get := func(path string) string {
		return fmt.Sprintf("GET /parley/%s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n", path, host, cookie)
	}
	ack := func(sid string) string { return post("ack", `{"session":"`+sid+`"}`) }
	// A held request is answered at once when another is pipelined behind
	// it; the one behind is served after it.
	for _, tc := range []struct {
		name     string
		req      func(sid string) string
		statuses []int
		// body, if set, is the first reply's whole body.
		body string
		// behind, if set, is the request sent behind req; else a copy of it.
		behind func(sid string) string
	}{
		{"session", func(sid string) string { return post("session", `{"page":"/"}`) }, []int{200, 200}, "", nil},
		{"call", func(sid string) string {
			return post("call", `{"session":"`+sid+`","calls":[{"id":1,"service":"Calc","method":"add","args":[1,2]}]}`)
		}, []int{200, 200}, "", nil},
		{"long-poll", func(sid string) string { return post("poll", `{"session":"`+sid+`"}`) }, []int{200, 200}, "{}", ack},
		{"poll", func(sid string) string { return post("poll", `{"session":"`+sid+`","wait":false}`) }, []int{200, 200}, "", nil},
		{"ack", ack, []int{200, 200}, "{}", nil},
		{"sse", func(sid string) string { return get("sse?session=" + sid) }, []int{200, 200}, "retry: 1000\nevent: open\ndata: {}\n\n", ack},
		{"bye", func(sid string) string { return post("bye", `{"session":"`+sid+`"}`) }, []int{204, 204}, "", nil},
		{"engine.js", func(sid string) string { return get("engine.js") }, []int{200, 200}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sid := c.openSession("/p")
			behind := tc.req(sid)
			if tc.behind != nil {
				behind = tc.behind(sid)
			}
			statuses, bodies := pipelined(t, f.ts.URL, tc.req(sid), behind)
			assert.Equal(t, tc.statuses, statuses)
			if tc.body != "" && len(bodies) > 0 {
				assert.Equal(t, tc.body, bodies[0])
			}
			// The server is up and the session it held nothing for serves on.
			out := c.call(check, 0, call(1, "add", 2, 3))
			assert.EqualValues(t, 5, results(out)[0]["result"])
		})
	}
	assert.NotContains(t, f.log.String(), "panic")
}
