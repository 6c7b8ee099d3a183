// Package files takes uploads and returns downloads.
package files

import (
	"context"

	"github.com/parley-go/parley/rpc"
)

// Files stores files.
//
//parley:service
type Files interface {
	// Put stores an uploaded file under name and returns its size.
	Put(ctx context.Context, f rpc.Upload, name string) (int64, error)
	// PutMaybe takes an optional file.
	PutMaybe(ctx context.Context, f *rpc.Upload) error
	// Get returns the file name for the page to fetch.
	Get(ctx context.Context, name string) (*rpc.Download, error)
	GetValue(ctx context.Context) (rpc.Download, error)
}
