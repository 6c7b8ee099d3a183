// Package todo is Parley's example shared to-do list: a service browsers
// call to change the list, and a client interface through which every
// open page learns of each change. Its page is TypeScript, type-checked
// against the declarations parleygen writes to ../web/parley.
package todo

//go:generate go tool parleygen -ts-out ../web/parley

import (
	"context"
	"slices"
	"sync"

	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/rpc"
)

// Item is one entry of the list.
type Item struct {
	// ID numbers items in the order they were added, from 1.
	ID int64 `json:"id"`
	// Text is what is to be done, trimmed of surrounding space.
	Text string `json:"text"`
	// Done tells whether the item is checked off.
	Done bool `json:"done"`
}

// Todos is the list's service, called from the page.
//
//parley:service
type Todos interface {
	// List returns every item, oldest first.
	List(ctx context.Context) ([]Item, error)
	// Add appends an item with text and returns it.
	Add(ctx context.Context, text string) (Item, error)
	// SetDone checks the item id off, or on again, and returns it.
	SetDone(ctx context.Context, id int64, done bool) (Item, error)
	// Remove deletes the item id.
	Remove(ctx context.Context, id int64) error
}

// TodoPage is implemented in the browser by every open list page.
//
//parley:client
type TodoPage interface {
	// Saved shows an item that was added or changed.
	Saved(item Item)
	// Removed hides the item id.
	Removed(id int64)
}

// Limits on what the list accepts.
const (
	MaxTextLen = 200 // characters in an item
	MaxItems   = 500 // items on the list
)

// List implements Todos: it keeps the items in memory and pushes every
// change to the pages it was given. It is safe for concurrent use.
type List struct {
	pages TodoPage

	mu     sync.Mutex
	lastID int64
	items  []Item
}

// NewList returns an empty list that pushes its changes to pages.
func NewList(pages TodoPage) *List {
	return &List{pages: pages}
}

// List implements Todos.
func (l *List) List(ctx context.Context) ([]Item, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items), nil
}

// Add implements Todos. Changes are pushed under the list's lock, so
// every page receives them in the order they were made.
func (l *List) Add(ctx context.Context, text string) (Item, error) {
	text, err := site.Text("an item", text, MaxTextLen)
	if err != nil {
		return Item{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) >= MaxItems {
		return Item{}, rpc.Errorf(rpc.CodeResourceExhausted, "the list holds at most %d items", MaxItems)
	}
	l.lastID++
	it := Item{ID: l.lastID, Text: text}
	l.items = append(l.items, it)
	l.pages.Saved(it)
	return it, nil
}

// SetDone implements Todos.
func (l *List) SetDone(ctx context.Context, id int64, done bool) (Item, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, err := l.find(id)
	if err != nil {
		return Item{}, err
	}
	l.items[i].Done = done
	l.pages.Saved(l.items[i])
	return l.items[i], nil
}

// Remove implements Todos.
func (l *List) Remove(ctx context.Context, id int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, err := l.find(id)
	if err != nil {
		return err
	}
	l.items = slices.Delete(l.items, i, i+1)
	l.pages.Removed(id)
	return nil
}

// find returns the index of the item id. l.mu must be held.
func (l *List) find(id int64) (int, error) {
	i := slices.IndexFunc(l.items, func(it Item) bool { return it.ID == id })
	if i < 0 {
		return 0, rpc.Errorf(rpc.CodeNotFound, "no item %d", id)
	}
	return i, nil
}
