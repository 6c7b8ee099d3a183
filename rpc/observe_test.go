package rpc

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// observed is one call as an Observer was told of it.
type observed struct {
	service, method string
	code            Code
}

// recorder is an Observer that records what it is told.
type recorder struct {
	mu      sync.Mutex
	calls   []observed
	refused []Code
	neg     bool // a negative duration was reported
}

func (r *recorder) ObserveRefusal(code Code) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused = append(r.refused, code)
}

func (r *recorder) ObserveCall(service, method string, code Code, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, observed{service, method, code})
	r.neg = r.neg || d < 0
}

// sorted returns what r recorded, in a fixed order.
func (r *recorder) sorted() []observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.calls)
	slices.SortFunc(out, func(a, b observed) int {
		return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.method, b.method), cmp.Compare(a.code, b.code))
	})
	return out
}

func TestObserversAreToldOfEveryCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first, second := &recorder{}, &recorder{}
	f.srv.Observe(first)
	f.srv.Observe(second)
	c := f.client(t)
	c.call("",
		0,
		call(1, "add", 1, 2),
		call(2, "fail"),
		call(3, "leak"),
		call(4, "boom"),
		call(5, "add", 1),
		call(6, "no such method"),
		map[string]any{"id": 7, "service": "Made up", "method": "x", "args": []any{}},
	)
	want := []observed{
		{"", "", CodeUnimplemented},
		{"", "", CodeUnimplemented},
		{"Calc", "add", ""},
		{"Calc", "add", CodeInvalidArgument},
		{"Calc", "boom", CodeInternal},
		{"Calc", "fail", CodeFailedPrecondition},
		{"Calc", "leak", CodeInternal},
	}
	for _, r := range []*recorder{first, second} {
		assert.Equal(t, want, r.sorted())
		assert.False(t, r.neg, "a negative duration")
	}
}

func TestObserversAreToldOfRefusedRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := &recorder{}
	f.srv.Observe(rec)
	c := f.client(t)
	status, _ := c.post("call", json.RawMessage(`{"calls":[],"calls":[]}`))
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = c.post("nowhere", map[string]any{})
	assert.Equal(t, http.StatusNotFound, status)
	c.call("", 0, call(1, "add", 1, 2))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []Code{CodeInvalidArgument, CodeNotFound}, rec.refused)
	assert.Len(t, rec.calls, 1, "a call that ran is not a refusal")
}

func TestServerHub(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assert.Same(t, f.hub, f.srv.Hub())
	assert.Nil(t, NewServer().Hub())
}
