package site

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
)

// The flags every example accepts besides its own. They are registered on
// flag.CommandLine when an example imports this package, so the example's
// flag.Parse reads them, and Run serves as they say.
var (
	tlsCert = flag.String("tls-cert", "", "serve HTTPS, with HTTP/2, with the PEM certificate (chain) in this file; needs -tls-key")
	tlsKey  = flag.String("tls-key", "", "the PEM private key of -tls-cert")
	h2c     = flag.Bool("h2c", false, "serve HTTP/2 without TLS (h2c, prior knowledge) as well as HTTP/1.1, for a proxy in front that speaks it")
)

// Option configures the http.Server that Server returns.
type Option func(*http.Server)

// WithTLS serves HTTPS with cert: HTTP/2, or HTTP/1.1 for a client that
// asks for it in the TLS handshake (ALPN). Serve then serves TLS.
func WithTLS(cert tls.Certificate) Option {
	return func(srv *http.Server) {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
}

// WithH2C serves HTTP/2 without TLS ("h2c" with prior knowledge: the
// client starts with the HTTP/2 preface) next to HTTP/1.1 on the same
// port. It is for a proxy in front that ends TLS and speaks h2c to the
// server, such as Envoy, Caddy or a cloud load balancer; browsers speak
// HTTP/2 only over TLS. Over TLS, HTTP/2 is on either way.
func WithH2C() Option {
	return func(srv *http.Server) {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
	}
}

// Serve serves srv on ln until srv is shut down or closed, over TLS if
// srv has a TLS configuration (WithTLS). Like http.Server.Serve, it
// returns http.ErrServerClosed after a shutdown.
func Serve(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// flagOptions returns the options the command line asks for with -tls-cert,
// -tls-key and -h2c.
func flagOptions() ([]Option, error) {
	return options(*tlsCert, *tlsKey, *h2c)
}

// options returns the options for the certificate and key files certFile
// and keyFile, both or neither set, and for h2c.
func options(certFile, keyFile string, h2c bool) ([]Option, error) {
	var opts []Option
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading -tls-cert and -tls-key: %w", err)
		}
		opts = append(opts, WithTLS(cert))
	case certFile != "" || keyFile != "":
		return nil, errors.New("-tls-cert and -tls-key go together: give both or neither")
	}
	if h2c {
		opts = append(opts, WithH2C())
	}
	return opts, nil
}
