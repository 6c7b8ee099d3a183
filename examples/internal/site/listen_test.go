package site_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-go/parley/examples/chat/chat"
	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/reverse"
)

// testCert writes a self-signed certificate for 127.0.0.1 and its key to
// PEM files, and returns their names and a pool that trusts it.
func testCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestOptionsFromTheCommandLine(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := testCert(t)
	for _, tc := range []struct {
		name            string
		cert, key       string
		h2c             bool
		wantErr         string
		wantTLS, wantH2 bool
	}{
		{name: "plain HTTP/1.1 by default"},
		{name: "TLS", cert: certFile, key: keyFile, wantTLS: true},
		{name: "h2c", h2c: true, wantH2: true},
		{name: "TLS and h2c", cert: certFile, key: keyFile, h2c: true, wantTLS: true, wantH2: true},
		{name: "a certificate without its key", cert: certFile, wantErr: "-tls-cert and -tls-key go together"},
		{name: "a key without its certificate", key: keyFile, wantErr: "-tls-cert and -tls-key go together"},
		{name: "a missing file", cert: certFile, key: keyFile + ".missing", wantErr: "loading -tls-cert and -tls-key"},
		{name: "the key given as the certificate", cert: keyFile, key: keyFile, wantErr: "loading -tls-cert and -tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := site.Options(tc.cert, tc.key, tc.h2c)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			srv := site.Server(http.NotFoundHandler(), opts...)
			assert.Equal(t, tc.wantTLS, srv.TLSConfig != nil, "TLS")
			assert.Equal(t, tc.wantH2, srv.Protocols != nil && srv.Protocols.UnencryptedHTTP2(), "h2c")
			assert.Equal(t, 250, srv.HTTP2.MaxConcurrentStreams)
		})
	}
}

// served is an example served by site.Server and site.Serve on a loopback
// port.
type served struct {
	app   *chat.App
	url   string
	conns atomic.Int32 // connections accepted
}

// serveChat serves the chat example with opts until the test ends.
func serveChat(t *testing.T, scheme string, opts ...site.Option) *served {
	t.Helper()
	s := &served{app: chat.NewApp()}
	srv := site.Server(s.app.Handler, opts...)
	srv.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.url = scheme + "://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- site.Serve(srv, ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, s.app.Hub.Shutdown(ctx, srv))
		assert.ErrorIs(t, <-done, http.ErrServerClosed)
	})
	return s
}

// h2Browser is a client whose every request goes on one connection.
type h2Browser struct {
	t      *testing.T
	url    string
	http   *http.Client
	protos sync.Map // the HTTP major version of every reply, by request
}

func newH2Browser(t *testing.T, url string, tr *http.Transport) *h2Browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	t.Cleanup(tr.CloseIdleConnections)
	return &h2Browser{t: t, url: url, http: &http.Client{Jar: jar, Transport: tr}}
}

// do sends a request to the Parley endpoint: a POST of body, or a GET if
// body is empty. It records the reply's protocol.
func (b *h2Browser) do(ctx context.Context, endpoint, body string) (*http.Response, error) {
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, b.url+"/parley/"+endpoint, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Parley", "1")
	}
	res, err := b.http.Do(req)
	if err == nil {
		b.protos.Store(req, res.ProtoMajor)
	}
	return res, err
}

// post sends body to endpoint and decodes its JSON reply.
func (b *h2Browser) post(endpoint, body string) map[string]any {
	b.t.Helper()
	res, err := b.do(context.Background(), endpoint, body)
	require.NoError(b.t, err)
	defer res.Body.Close()
	var out map[string]any
	require.NoError(b.t, json.NewDecoder(res.Body).Decode(&out))
	require.Equal(b.t, http.StatusOK, res.StatusCode, "%s: %v", endpoint, out)
	return out
}

// holdPages opens two pages of b at "/", holds one on SSE and the other on
// a long-poll, makes calls while both are held, and checks that each page
// gets the messages the calls pushed.
func holdPages(t *testing.T, s *served, b *h2Browser) {
	streamPage := b.post("session", `{"page":"/"}`)["session"].(string)
	pollPage := b.post("session", `{"page":"/"}`)["session"].(string)
	writer := b.post("session", `{"page":"/"}`)["session"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := b.do(ctx, "sse?session="+streamPage, "")
	require.NoError(t, err)
	t.Cleanup(func() { stream.Body.Close() })
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(data, `"seq"`) {
				events <- data
			}
		}
	}()
	polled := make(chan map[string]any, 1)
	go func() {
		res, err := b.do(ctx, "poll", `{"session":"`+pollPage+`","ack":0}`)
		if err != nil {
			close(polled)
			return
		}
		defer res.Body.Close()
		var out map[string]any
		if json.NewDecoder(res.Body).Decode(&out) != nil {
			close(polled)
			return
		}
		polled <- out
	}()
	require.Eventually(t, func() bool {
		held := s.app.Hub.Stats().Held
		return held[reverse.SSE] == 1 && held[reverse.LongPoll] == 1
	}, 10*time.Second, 5*time.Millisecond, "both pages are held")

	var wg sync.WaitGroup
	for _, text := range []string{"one", "two", "three"} {
		wg.Go(func() {
			res, err := b.do(context.Background(), "call", `{"session":"`+writer+`","calls":[{"id":1,"service":"Chat","method":"send","args":["`+text+`"]}]}`)
			if assert.NoError(t, err) {
				assert.Equal(t, http.StatusOK, res.StatusCode)
				res.Body.Close()
			}
		})
	}
	wg.Wait()

	select {
	case out, ok := <-polled:
		require.True(t, ok, "the long-poll failed")
		assert.NotEmpty(t, out["messages"], "the long-poll carries a push: %v", out)
	case <-time.After(20 * time.Second):
		t.Fatal("the long-poll got nothing")
	}
	for range 3 {
		select {
		case data, ok := <-events:
			require.True(t, ok, "the stream ended")
			assert.Contains(t, data, `"fn":"ChatPage.addMessage"`)
		case <-time.After(20 * time.Second):
			t.Fatal("the stream got nothing")
		}
	}
}

// TestHeldPagesOverH2C serves an example with WithH2C and holds an SSE
// stream and a long-poll on one h2c connection while calls go on it too.
func TestHeldPagesOverH2C(t *testing.T) {
	t.Parallel()
	s := serveChat(t, "http", site.WithH2C())
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	b := newH2Browser(t, s.url, &http.Transport{Protocols: &h2c})
	holdPages(t, s, b)
	n := 0
	b.protos.Range(func(_, v any) bool {
		n++
		assert.Equal(t, 2, v, "a reply over HTTP/%d", v)
		return true
	})
	assert.Equal(t, 8, n, "three sessions, two held requests and three calls")
	assert.EqualValues(t, 1, s.conns.Load(), "every request shares one connection")
}

// TestHeldPagesOverTLS serves an example with WithTLS: a client that
// offers HTTP/2 gets it, one that offers only HTTP/1.1 gets that.
func TestHeldPagesOverTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := testCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		proto   int
		oneConn bool // every request shares one connection
	}{
		{"HTTP/2", 2, true},
		{"HTTP/1.1", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := serveChat(t, "https", site.WithTLS(cert))
			var p http.Protocols
			p.SetHTTP1(tc.proto == 1)
			p.SetHTTP2(tc.proto == 2)
			b := newH2Browser(t, s.url, &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{RootCAs: roots}})
			holdPages(t, s, b)
			b.protos.Range(func(_, v any) bool {
				assert.Equal(t, tc.proto, v)
				return true
			})
			if tc.oneConn {
				assert.EqualValues(t, 1, s.conns.Load())
			} else {
				assert.Greater(t, s.conns.Load(), int32(1))
			}
		})
	}
}

// TestPlainByDefault checks that the examples' server speaks HTTP/1.1
// only, without TLS, unless asked: an h2c client is refused.
func TestPlainByDefault(t *testing.T) {
	t.Parallel()
	s := serveChat(t, "http")
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &h2c}
	t.Cleanup(tr.CloseIdleConnections)
	_, err := (&http.Client{Transport: tr}).Get(s.url + "/parley/engine.js")
	require.Error(t, err)
	h1, err := http.Get(s.url + "/parley/engine.js")
	require.NoError(t, err)
	h1.Body.Close()
	assert.Equal(t, http.StatusOK, h1.StatusCode)
	assert.Equal(t, 1, h1.ProtoMajor)
}
