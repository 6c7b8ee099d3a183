package cluster

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/reverse/natsbp/embedded"
	"github.com/parley-go/parley/reverse/redisbp/redistest"
)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		name, text, err string
	}{
		{"32 bytes", strings.Repeat("ab", 32), ""},
		{"16 bytes, spaced", " " + strings.Repeat("01", 16) + "\n", ""},
		{"short", strings.Repeat("ab", 15), "has 15 bytes; it needs at least 16"},
		{"not hex", strings.Repeat("zz", 16), "not hex"},
		{"odd", strings.Repeat("a", 33), "not hex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParseKey(tc.text)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.GreaterOrEqual(t, len(key), MinKeyBytes)
		})
	}
}

// TestBuiltinBalancer: the built-in balancer sends each request to the
// next server in turn, and passes upgraded connections, such as
// WebSocket's, through.
func TestBuiltinBalancer(t *testing.T) {
	var urls []string
	for _, name := range []string{"a", "b", "c"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") == "echo" {
				// An upgraded connection that says which server and Host
				// it reached, then echoes a line.
				w.Header().Set("Connection", "Upgrade")
				w.Header().Set("Upgrade", "echo")
				w.WriteHeader(http.StatusSwitchingProtocols)
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				line, _ := rw.ReadString('\n')
				_, _ = rw.WriteString(name + " " + r.Host + " " + line)
				_ = rw.Flush()
				return
			}
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(ts.Close)
		urls = append(urls, ts.URL)
	}
	addrs := make([]string, len(urls))
	for i, u := range urls {
		addrs[i] = strings.TrimPrefix(u, "http://")
	}
	h, stop := builtin(addrs, "")
	t.Cleanup(stop)
	lb := httptest.NewServer(h)
	t.Cleanup(lb.Close)

	get := func() string {
		resp, err := http.Get(lb.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		if resp.StatusCode != http.StatusOK {
			return resp.Status
		}
		return string(body)
	}
	var got []string
	for range 6 {
		got = append(got, get())
	}
	assert.ElementsMatch(t, []string{"a", "b", "c", "a", "b", "c"}, got, "each server in turn")
	for i := 3; i < 6; i++ {
		assert.NotEqual(t, got[i-1], got[i], "no server twice in a row")
	}

	host := strings.TrimPrefix(lb.URL, "http://")
	conn, err := net.Dial("tcp", host)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: "+host+"\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	require.NoError(t, err)
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	_, err = io.WriteString(conn, "ping\n")
	require.NoError(t, err)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.Len(t, f, 3, line)
	assert.Contains(t, []string{"a", "b", "c"}, f[0])
	assert.Equal(t, host, f[1], "the Host the client used reaches the server")
	assert.Equal(t, "ping", f[2], "the upgraded connection carries data both ways")
}

func TestRedisOptions(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want, err string
		db                    int
	}{
		{"host:port", "127.0.0.1:6379", "127.0.0.1:6379", "", 0},
		{"URL", "redis://ann:secret@localhost:7000/2", "localhost:7000", "", 2},
		{"no port", "localhost", "", "neither host:port nor a redis:// URL", 0},
		{"bad URL", "redis://ann:secret@localhost:7000/two", "", "the Redis URL is not valid", 0},
		{"other scheme", "http://ann:secret@localhost:7000", "", "the Redis URL is not valid", 0},
		{"unparsable URL", "redis://ann:secret@local host:7000", "", "the Redis URL is not valid", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := RedisOptions(tc.addr)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				assert.NotContains(t, err.Error(), "secret", "the error does not show the password")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, opts.Addr)
			assert.Equal(t, tc.db, opts.DB)
		})
	}
}

// TestJoin: a node joins either bus, given as its flags give it, and its
// backplane works under the bus's name; a bus that does not answer fails
// the join with an error that names where it is but not its password.
func TestJoin(t *testing.T) {
	redisSrv := redistest.Start(t)
	natsSrv, err := embedded.Start(filepath.Join(t.TempDir(), "nats"))
	require.NoError(t, err)
	t.Cleanup(natsSrv.Shutdown)
	for _, tc := range []struct {
		name string
		join func() (*Node, error)
	}{
		{"nats", func() (*Node, error) { return Join(natsSrv.URL(), "test") }},
		{"redis host:port", func() (*Node, error) { return JoinRedis(redisSrv.Addr(), "test") }},
		{"redis URL", func() (*Node, error) { return JoinRedis("redis://"+redisSrv.Addr()+"/0", "test") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.join()
			require.NoError(t, err)
			t.Cleanup(n.Close)
			assert.Equal(t, "test", n.Name)
			assert.Equal(t, n.Redis == nil, n.NATS != nil, "one bus client")
			require.Eventually(t, func() bool { return n.Backplane.Err() == nil }, 30*time.Second, 20*time.Millisecond, "the backplane reaches its bus")
			require.NoError(t, n.Backplane.Save("k", []byte(tc.name)))
			got, err := n.Backplane.Load("k")
			require.NoError(t, err)
			assert.Equal(t, tc.name, string(got))
			if n.Redis != nil {
				v, err := n.Redis.Get(t.Context(), "test:rec:k").Result()
				require.NoError(t, err)
				assert.Equal(t, tc.name, v, "the keys start with the bus's name")
			}
		})
	}

	_, err = JoinRedis("redis://ann:secret@127.0.0.1:1", "test")
	require.ErrorContains(t, err, "connecting to Redis at 127.0.0.1:1")
	assert.NotContains(t, err.Error(), "secret")
}
