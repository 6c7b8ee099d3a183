package reverse

import (
	"sync"
	"time"
)

// maxTombstones bounds how many ended sessions a hub remembers the reason
// of; past it the oldest are forgotten first, and their pages are told
// ReasonExpired.
const maxTombstones = 10_000

// tombstones remember why sessions ended, for the session timeout, so a
// page that comes back learns the true reason of its reset.
type tombstones struct {
	mu    sync.Mutex
	byID  map[string]tombstone
	order []string // ids, oldest first; may name ids already forgotten
}

// tombstone is what is kept of an ended session.
type tombstone struct {
	reason      string
	httpSession string
	at          time.Time
}

// add remembers that the session id of httpSession ended for reason at at.
func (t *tombstones) add(id, httpSession, reason string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID = map[string]tombstone{}
	}
	t.byID[id] = tombstone{reason: reason, httpSession: httpSession, at: at}
	t.order = append(t.order, id)
	for len(t.byID) > maxTombstones {
		t.popLocked()
	}
}

// expire forgets the sessions that ended before cutoff.
func (t *tombstones) expire(cutoff time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.order) > 0 {
		if ts, ok := t.byID[t.order[0]]; ok && !ts.at.Before(cutoff) {
			return
		}
		t.popLocked()
	}
}

// popLocked forgets the oldest entry. Called with t.mu held.
func (t *tombstones) popLocked() {
	delete(t.byID, t.order[0])
	t.order[0] = ""
	t.order = t.order[1:]
	if len(t.order) < cap(t.order)/4 {
		// Copy down so the array does not grow without bound.
		t.order = append([]string(nil), t.order...)
	}
}

// reason returns why the session id of httpSession ended, if it is
// remembered.
func (t *tombstones) reason(id, httpSession string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, ok := t.byID[id]
	if !ok || ts.httpSession != httpSession {
		return "", false
	}
	return ts.reason, true
}

// EndReason returns why the session id, which Lookup no longer finds,
// ended: ReasonOverflow, ReasonClosed or ReasonExpired as it happened,
// for a session of the browser httpSession that ended within the session
// timeout. For any other id it returns ReasonExpired. The hub remembers at
// most 10,000 ended sessions, forgetting the oldest first.
func (h *Hub) EndReason(id, httpSession string) string {
	if r, ok := h.graves.reason(id, httpSession); ok {
		return r
	}
	return ReasonExpired
}
