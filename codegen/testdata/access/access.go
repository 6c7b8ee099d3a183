// Package access declares who may call which method.
package access

import "context"

// Admin is for administrators, except where a method says otherwise.
//
//parley:service
//parley:auth role=admin
type Admin interface {
	// Purge deletes everything.
	Purge(ctx context.Context) error
	// Status is public.
	//
	//parley:auth none
	Status(ctx context.Context) (string, error)
	// Edit is for editors and administrators.
	//
	//parley:auth role=editor,admin
	Edit(ctx context.Context, id int) error
	// Me needs any logged-in user.
	//
	//parley:auth
	Me(ctx context.Context) (string, error)
}

// Account needs a logged-in user.
//
//parley:service
//parley:auth
type Account interface {
	Name(ctx context.Context) (string, error)
	// Exists is public.
	//
	//parley:auth none
	Exists(ctx context.Context, name string) (bool, error)
}

// Public has no directive: anyone may call it.
//
//parley:service
type Public interface {
	Ping(ctx context.Context) error
	// Secret alone needs a role.
	//
	//parley:auth role=ops
	Secret(ctx context.Context) (string, error)
}
