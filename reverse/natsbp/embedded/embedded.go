// Package embedded runs a NATS server with JetStream inside the process,
// on a loopback port, for tests and demos of reverse/natsbp: no binary to
// install. Production points natsbp at an external NATS instead.
//
// A Server is safe for concurrent use; Restart and Shutdown must not run
// at the same time as each other.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long Start and Restart wait for the server to
// accept connections.
const readyTimeout = 10 * time.Second

// Server is a running embedded NATS server with JetStream.
type Server struct {
	mu   sync.Mutex // guards srv
	opts server.Options
	srv  *server.Server
}

// Start runs a NATS server with JetStream on a random loopback port, with
// its file store under dir. It logs nothing.
func Start(dir string) (*Server, error) {
	s := &Server{opts: server.Options{
		ServerName: "parley-embedded",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	}}
	if err := s.start(); err != nil {
		return nil, err
	}
	// Keep the port for Restart.
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port
	return s, nil
}

// start runs a server with s.opts.
func (s *Server) start() error {
	opts := s.opts // NewServer keeps and changes what it is given
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("embedded: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		return errors.New("embedded: the NATS server did not become ready")
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// URL returns the nats:// URL clients connect to. It stays the same across
// Restart.
func (s *Server) URL() string {
	return fmt.Sprintf("nats://%s", net.JoinHostPort(s.opts.Host, fmt.Sprint(s.opts.Port)))
}

// Shutdown stops the server and waits until it has stopped. Calling it
// again does nothing.
func (s *Server) Shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart stops the server and starts it again on the same port with the
// same store, as an operator restarting NATS would. Streams with file
// storage survive it; streams in memory do not. Clients reconnect on
// their own.
func (s *Server) Restart() error {
	s.Shutdown()
	return s.start()
}
