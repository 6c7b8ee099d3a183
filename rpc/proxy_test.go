package rpc

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientAddrAndScheme(t *testing.T) {
	t.Parallel()
	plain := NewServer()
	behind := NewServer(WithTrustedProxies("10.0.0.0/8", "127.0.0.1"))
	cases := []struct {
		name   string
		srv    *Server
		remote string
		xff    []string
		proto  string
		tls    bool
		addr   string
		scheme string
	}{
		{"direct", plain, "192.0.2.7:5000", nil, "", false, "192.0.2.7", "http"},
		{"direct TLS", plain, "192.0.2.7:5000", nil, "", true, "192.0.2.7", "https"},
		{"headers from an untrusted peer are ignored", plain, "192.0.2.7:5000", []string{"198.51.100.1"}, "https", false, "192.0.2.7", "http"},
		{"trusted proxy", behind, "127.0.0.1:4000", []string{"198.51.100.1"}, "https", false, "198.51.100.1", "https"},
		{"two trusted hops", behind, "127.0.0.1:4000", []string{"198.51.100.1, 10.1.2.3"}, "http", false, "198.51.100.1", "http"},
		{"a client-written hop is not believed", behind, "127.0.0.1:4000", []string{"203.0.113.9", "198.51.100.1"}, "", false, "198.51.100.1", "http"},
		{"garbage in the header stops at the peer", behind, "127.0.0.1:4000", []string{"not-an-address"}, "", false, "127.0.0.1", "http"},
		{"untrusted peer behind a proxy config", behind, "192.0.2.7:5000", []string{"198.51.100.1"}, "https", false, "192.0.2.7", "http"},
		{"IPv4-mapped peer", behind, "[::ffff:127.0.0.1]:4000", []string{"198.51.100.1"}, "HTTPS", false, "198.51.100.1", "https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/parley/engine.js", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			} else {
				r.TLS = nil
			}
			assert.Equal(t, c.addr, c.srv.clientAddr(r).String())
			assert.Equal(t, c.scheme, c.srv.scheme(r))
		})
	}
}
