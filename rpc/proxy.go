package rpc

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// WithTrustedProxies names the reverse proxies and load balancers in
// front of the server, as addresses or CIDR prefixes ("10.0.0.0/8",
// "127.0.0.1"). A request whose peer is one of them is taken to come from
// the client named in its X-Forwarded-For header (the nearest address
// that is not itself a trusted proxy) over the scheme in its
// X-Forwarded-Proto header. Requests from any other peer are judged by
// the connection alone, whatever headers they carry. Default: no proxy
// is trusted. An entry that does not parse panics, as a configuration
// error.
func WithTrustedProxies(proxies ...string) Option {
	return func(s *Server) {
		for _, p := range proxies {
			if !strings.Contains(p, "/") {
				a := netip.MustParseAddr(p)
				s.proxies = append(s.proxies, netip.PrefixFrom(a, a.BitLen()))
				continue
			}
			s.proxies = append(s.proxies, netip.MustParsePrefix(p).Masked())
		}
	}
}

// peerAddr returns the address of the connection's peer, or the zero
// Addr when RemoteAddr does not parse.
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// trusted reports whether a is one of the server's trusted proxies.
func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// viaTrustedProxy reports whether r reached the server through a trusted
// proxy, so that its X-Forwarded-* headers count.
func (s *Server) viaTrustedProxy(r *http.Request) bool {
	return len(s.proxies) > 0 && s.trusted(peerAddr(r))
}

// clientAddr returns the address of the client that made r: the
// connection's peer, or, behind trusted proxies, the nearest address in
// X-Forwarded-For that is not a trusted proxy. Addresses a client wrote
// itself further left are never believed.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !s.viaTrustedProxy(r) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if a = a.Unmap(); !s.trusted(a) {
			return a
		}
	}
	return peer
}

// scheme returns "https" when the client reached the server over TLS,
// directly or, behind trusted proxies, as X-Forwarded-Proto says, and
// "http" otherwise.
func (s *Server) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if s.viaTrustedProxy(r) {
		proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		if strings.EqualFold(strings.TrimSpace(proto), "https") {
			return "https"
		}
	}
	return "http"
}
