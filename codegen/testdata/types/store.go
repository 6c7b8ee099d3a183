// Package types uses every shape of type the generator supports.
package types

import (
	"context"
	"net/netip"
	"time"

	"github.com/parley-go/parley/codegen/testdata/types/geo"
)

// ID identifies an item.
type ID string

// Tags are an item's labels.
type Tags []string

// Base holds what every record has. Its fields are promoted.
type Base struct {
	// Created is when the record was made.
	Created time.Time `json:"created"`
	Version int       `json:"version"`
	Note    string    `json:"note"`
}

// audit is embedded unexported: encoding/json still promotes its fields.
type audit struct {
	Editor string `json:"editor,omitempty"`
}

// Item is a record with every supported kind of field.
type Item struct {
	Base
	audit
	ID       ID                 `json:"id"`
	Name     string             // no tag: the Go name
	Note     string             `json:"note"` // shadows Base.Note
	Price    float64            `json:"price"`
	Count    uint32             `json:"count,omitempty"`
	Small    int8               `json:"small"`
	OK       bool               `json:"ok"`
	Tags     Tags               `json:"tags"`
	Blob     []byte             `json:"blob"`
	Parent   *Item              `json:"parent"`
	Attrs    map[string]string  `json:"attrs"`
	ByName   map[ID][]*Item     `json:"byName"`
	Grid     [][]int            `json:"grid"`
	Where    geo.Point          `json:"where"`
	Addr     netip.Addr         `json:"addr"`
	TTL      time.Duration      `json:"ttl"`
	Deadline *time.Time         `json:"deadline,omitzero"`
	Secret   string             `json:"-"`
	Dash     string             `json:"-,"`
	Kebab    string             `json:"kebab-case"`
	Size     struct{ W, H int } `json:"size"`
	hidden   int
}

// Tree is recursive.
type Tree struct {
	Label    string  `json:"label"`
	Children []*Tree `json:"children"`
}

// Alias is another name of Tree.
type Alias = Tree

// Store exercises parameters and results.
//
//parley:service
type Store interface {
	// Get returns the item id.
	Get(ctx context.Context, id ID) (*Item, error)
	// Put stores items without a context.
	Put(items []Item) error
	// Tree returns the tree under root.
	Tree(ctx context.Context, root Alias, depth int) (Tree, error)
	// Reserved takes parameters named after JS reserved words.
	Reserved(new string, class int, options bool, parley string, in []string) error
	Unnamed(context.Context, string, int) (bool, error)
	Blank(_ string, _ int) error
	// Box takes an anonymous struct.
	Box(size struct {
		W int `json:"w"`
		H int `json:"h,omitempty"`
	}) (map[string]*geo.Point, error)
	// Near takes types of other packages.
	Near(ctx context.Context, p geo.Point, within *time.Duration, at []time.Time) ([]ID, error)
	HTTPGet(url string) ([]byte, error)
	GetURLs() ([]string, error)
	ID() (ID, error)
}

// Counter is a second service in the same file.
//
//parley:service
type Counter interface {
	Add(ctx context.Context, n int64) (int64, error)
}
