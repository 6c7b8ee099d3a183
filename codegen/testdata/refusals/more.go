package refusals

import (
	"context"

	"github.com/parley-go/parley/codegen/testdata/refusals/other"
	"github.com/parley-go/parley/rpc"
)

// Hidden has no exported fields.
type Hidden struct{ secret string }

// Loop is recursive without a named struct.
type Loop []Loop

// inner is embedded by pointer, unexported.
type inner struct{ X int }

// EmbedsPtr embeds a pointer to an unexported struct.
type EmbedsPtr struct{ *inner }

// Left and Right both embed Shared, so its fields clash.
type Left struct{ Shared }

// Right is the other.
type Right struct{ Shared }

// Shared is embedded twice at one depth.
type Shared struct{ S int }

// Both embeds Left and Right.
type Both struct {
	Left
	Right
}

// More has refused types and directives.
//
//parley:service
//parley:auth role=
type More interface {
	Hidden(h Hidden) error
	Loop(l Loop) error
	FloatKeys(m map[float64]int) error
	Nested(u []rpc.Upload) error
	Down(d rpc.Download) error
	UpResult() (*rpc.Upload, error)
	Embedded(e EmbedsPtr) error
	Both(b Both) error
	// Malformed has a typo.
	//
	//parley:auth roles=admin
	Malformed() error
	// Spaced has two words.
	//
	//parley:auth role=a b
	Spaced() error
	// Twice has two.
	//
	//parley:auth
	//parley:auth none
	Twice() error
	// Misplaced has a type directive.
	//
	//parley:client
	Misplaced() error
}

// Watcher is a client with an access directive.
//
//parley:client
//parley:auth
type Watcher interface {
	// Watch has one too.
	//
	//parley:auth role=x
	Watch(u rpc.Upload)
}

// Open says none on an interface.
//
//parley:service
//parley:auth none
type Open interface{}

// Loose has //parley:auth alone.
//
//parley:auth
type Loose interface{}

// Level is a service with the name of an enum it uses.
//
//parley:service
type Level interface {
	Set(ctx context.Context, l other.Level) error
}
