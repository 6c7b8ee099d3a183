// Package callcenter is Parley's reverse-Ajax call centre, after DWR's
// demo: incoming calls appear at once on every supervisor's page, and when
// one supervisor takes a call it disappears from everyone else's queue.
package callcenter

//go:generate go tool parleygen

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-go/parley/examples/internal/site"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

// Call is one caller waiting in the queue or being handled.
type Call struct {
	// ID numbers calls in the order they arrived, from 1.
	ID int64 `json:"id"`
	// Caller is the name of the person calling.
	Caller string `json:"caller"`
	// Arrived is when the call came in.
	Arrived time.Time `json:"arrived"`
}

// Supervisor is what a supervisor's page calls.
//
//parley:service
type Supervisor interface {
	// SignIn sets the supervisor's name for every tab of this browser.
	SignIn(ctx context.Context, name string) error
	// Queue returns the calls waiting to be answered, oldest first.
	Queue(ctx context.Context) ([]Call, error)
	// Take answers the waiting call id. It leaves every supervisor's
	// queue and is added to the taker's calls in progress.
	Take(ctx context.Context, id int64) error
	// Finish ends the call id that the supervisor took.
	Finish(ctx context.Context, id int64) error
}

// MaxNameLen is the most characters a supervisor's name may have.
const MaxNameLen = 40

const nameKey = "callcenter.name"

// page is the path of the supervisors' page.
const page = "/"

// Center is the call centre: its queue and who handles what. It
// implements Supervisor and is safe for concurrent use.
type Center struct {
	hub *reverse.Hub
	now func() time.Time

	mu       sync.Mutex
	lastID   int64
	queue    []Call
	handling map[int64]string // call id -> the supervisor who took it
}

// NewCenter returns a call centre with an empty queue that reaches the
// supervisors' pages through hub.
func NewCenter(hub *reverse.Hub) *Center {
	return &Center{hub: hub, now: time.Now, queue: []Call{}, handling: map[int64]string{}}
}

// Incoming puts a new call from caller in the queue and shows it on every
// supervisor's page.
func (c *Center) Incoming(caller string) Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID++
	call := Call{ID: c.lastID, Caller: caller, Arrived: c.now().UTC()}
	c.queue = append(c.queue, call)
	c.publishQueueLocked()
	return call
}

// publishQueueLocked pushes the queue to every supervisor's page: the
// list by the page's own updateCallers (untyped, DWR style), the count
// and the "waiting" mark by DOM helpers. Called with c.mu held, so every
// page sees the updates in the order they happened.
func (c *Center) publishQueueLocked() {
	pages := c.hub.Page(page)
	pages.Send("updateCallers", c.queue, c.now().UTC())
	dom := pages.DOM()
	logErr(dom.SetText("#waiting", strconv.Itoa(len(c.queue))))
	if len(c.queue) > 0 {
		logErr(dom.AddClass("#queue-panel", "has-callers"))
	} else {
		logErr(dom.RemoveClass("#queue-panel", "has-callers"))
	}
}

// SignIn implements Supervisor. The name is kept in the HTTP session and
// binds the browser to the user of that name, so every tab of it shows
// the calls it handles.
func (c *Center) SignIn(ctx context.Context, name string) error {
	name, err := site.Text("a name", name, MaxNameLen)
	if err != nil {
		return err
	}
	call := rpc.CallFrom(ctx)
	call.SetSessionValue(nameKey, name)
	if err := call.SetUser(name); err != nil {
		return err
	}
	if s := call.ScriptSession; s != nil {
		logErr(c.hub.Session(s.ID()).DOM().SetText("#me", name))
	}
	return nil
}

// Queue implements Supervisor.
func (c *Center) Queue(ctx context.Context) ([]Call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call{}, c.queue...), nil
}

// Take implements Supervisor.
func (c *Center) Take(ctx context.Context, id int64) error {
	name, err := supervisor(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.IndexFunc(c.queue, func(q Call) bool { return q.ID == id })
	if i < 0 {
		if who, ok := c.handling[id]; ok {
			return rpc.Errorf(rpc.CodeFailedPrecondition, "%s already took that call", who)
		}
		return rpc.Errorf(rpc.CodeNotFound, "no call %d is waiting", id)
	}
	call := c.queue[i]
	c.queue = slices.Delete(c.queue, i, i+1)
	c.handling[id] = name
	c.publishQueueLocked()

	// The taker's tabs list the call; every page logs who took it, as text.
	mine := c.hub.User(name).DOM()
	logErr(mine.AddRows("#mine", reverse.Row{ID: rowID(id), Cells: []string{call.Caller, call.Arrived.Format(time.TimeOnly)}}))
	logErr(c.hub.Page(page).DOM().SetText("#activity", fmt.Sprintf("%s took the call from %s", name, call.Caller)))
	return nil
}

// Finish implements Supervisor.
func (c *Center) Finish(ctx context.Context, id int64) error {
	name, err := supervisor(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handling[id] != name {
		return rpc.Errorf(rpc.CodeNotFound, "you are not handling call %d", id)
	}
	delete(c.handling, id)
	logErr(c.hub.User(name).DOM().Remove("#" + rowID(id)))
	return nil
}

// Generate simulates incoming calls until ctx ends, one after each random
// interval between min and max.
func (c *Center) Generate(ctx context.Context, min, max time.Duration) {
	names := []string{"Ada", "Brian", "Chidi", "Dana", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Jun"}
	for {
		wait := min + rand.N(max-min+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
			c.Incoming(names[rand.IntN(len(names))])
		}
	}
}

// supervisor returns the caller's signed-in name.
func supervisor(ctx context.Context) (string, error) {
	name, _ := rpc.CallFrom(ctx).SessionValue(nameKey).(string)
	if name == "" {
		return "", rpc.NewError(rpc.CodeUnauthenticated, "sign in first")
	}
	return name, nil
}

// rowID is the element id of the row of call id in a supervisor's calls.
func rowID(id int64) string { return "mine-" + strconv.FormatInt(id, 10) }

// logErr logs a reverse call that could not be sent.
func logErr(err error) {
	if err != nil {
		slog.Error("callcenter: reverse call not sent", "err", err)
	}
}
