// Package pending calls the code generated from it, which does not exist
// before the first generation: the generator tolerates that type error.
package pending

import "github.com/parley-go/parley/rpc"

// Echo echoes.
//
//parley:service
type Echo interface {
	Echo(text string) (string, error)
}

type echo struct{}

func (echo) Echo(text string) (string, error) { return text, nil }

// Mount registers Echo on srv.
func Mount(srv *rpc.Server) { RegisterEcho(srv, echo{}) }
