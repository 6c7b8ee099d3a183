package reverse

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Errors of publishing and subscribing.
var (
	// ErrInvalidTopic: a topic or pattern is not well formed.
	ErrInvalidTopic = errors.New("reverse: invalid topic")
	// ErrTooManySubscriptions: the session is at Limits.Subscriptions.
	ErrTooManySubscriptions = errors.New("reverse: too many subscriptions")
)

// maxTopicLen bounds the length of a topic or pattern in bytes.
const maxTopicLen = 256

// publishFn is the runtime function that hands a publication to the page's
// subscribers: args [topic, data].
const publishFn = "parley.publish"

// Publish sends data to every page subscribed to topic, in the manner of
// Bayeux: a topic is a path such as "/stocks/GOOG", and pages subscribe
// with parley.subscribe(pattern, fn) to the topic itself or to a pattern
// where "*" stands for one segment ("/stocks/*") and a final "**" for one
// or more ("/stocks/**"). Each subscribed page receives the publication
// once, however many of its patterns match, and its callbacks get
// (data, topic). Publications reach pages in one order, like calls.
//
// A topic is a broadcast: any page that may subscribe to it receives it.
// What pages may subscribe to is decided by the rpc server's subscribe
// authorizer (rpc.WithSubscribeAuthorizer), which by default refuses only
// patterns that begin with a wildcard. Data meant for one user or one page
// does not go to a topic: send it with User(user) or Session(id), which
// reach only the pages bound to that user or that page.
func (h *Hub) Publish(topic string, data any) error {
	if err := checkTopic(topic, false); err != nil {
		return err
	}
	body, err := encodeCall(publishFn, []any{topic, data}, "")
	if err != nil {
		return err
	}
	return h.deliver(Envelope{Kind: kindTopic, Key: topic, Origin: h.id, Body: body})
}

// Subscribe subscribes the session to pattern: it receives what is
// published to every topic pattern matches (see Hub.Publish). The runtime
// subscribes through the built-in service when the page calls
// parley.subscribe; server code may subscribe a session too. Subscriptions
// belong to the session and last across reconnects. Subscribing an ended
// session, or to a pattern it has, does nothing.
func (s *Session) Subscribe(pattern string) error {
	if err := checkTopic(pattern, true); err != nil {
		return err
	}
	h := s.hub
	h.mu.RLock()
	subs := s.x.subs
	if s.far != nil {
		subs = s.far.subs
	}
	_, has := subs[pattern]
	full := len(subs) >= h.limits.Subscriptions
	gone := s.far == nil && h.byID[s.id] != s
	h.mu.RUnlock()
	if gone {
		return nil
	}
	if !has && full {
		return fmt.Errorf("%w: the limit is %d", ErrTooManySubscriptions, h.limits.Subscriptions)
	}
	h.changeSession(s, kindSub, pattern)
	return nil
}

// Unsubscribe removes the session's subscription to pattern, if it has one.
func (s *Session) Unsubscribe(pattern string) { s.hub.changeSession(s, kindUnsub, pattern) }

// TopicWithin reports whether pattern, a well-formed topic or pattern,
// only matches topics at or below root, a topic without wildcards: it is
// root itself or continues root with "/". "/stocks/*" and "/stocks/**" are
// within "/stocks"; "/*/GOOG" and "/**" are not.
func TopicWithin(pattern, root string) bool {
	if strings.Contains(root, "*") {
		return false
	}
	rest, ok := strings.CutPrefix(pattern, root)
	return ok && (rest == "" || strings.HasPrefix(rest, "/"))
}

// Subscriptions returns the session's patterns, sorted.
func (s *Session) Subscriptions() []string {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	if s.far != nil {
		return slices.Sorted(maps.Keys(s.far.subs))
	}
	return slices.Sorted(maps.Keys(s.x.subs))
}

// CheckPattern reports whether pattern is a well-formed pattern that a
// session may subscribe to, failing with ErrInvalidTopic if not.
func CheckPattern(pattern string) error { return checkTopic(pattern, true) }

// checkTopic reports whether t is a well-formed topic: "/" followed by
// non-empty segments separated by "/", at most maxTopicLen bytes. In a
// pattern a segment may be "*", and the last may be "**"; a published
// topic has no "*" at all.
func checkTopic(t string, pattern bool) error {
	what := "topic"
	if pattern {
		what = "pattern"
	}
	if len(t) > maxTopicLen {
		return fmt.Errorf("%w: a %s has at most %d bytes", ErrInvalidTopic, what, maxTopicLen)
	}
	rest, ok := strings.CutPrefix(t, "/")
	if !ok {
		return fmt.Errorf("%w: %s %q does not start with /", ErrInvalidTopic, what, t)
	}
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %s %q has an empty segment", ErrInvalidTopic, what, t)
		case pattern && seg == "*":
		case pattern && seg == "**" && i == len(segs)-1:
		case strings.Contains(seg, "*"):
			if pattern {
				return fmt.Errorf("%w: in %q, * stands alone as a segment and ** only as the last", ErrInvalidTopic, t)
			}
			return fmt.Errorf("%w: a published topic has no wildcard: %q", ErrInvalidTopic, t)
		}
	}
	return nil
}

// topicIndex finds the sessions subscribed to a topic without looking at
// other sessions: patterns without wildcards in a map, patterns with
// wildcards in a trie of segments. It is guarded by the hub's mu.
type topicIndex struct {
	exact map[string]map[*Session]struct{}
	root  *topicNode
}

// topicNode is a node of the wildcard trie: the patterns that continue
// with a literal segment, with "*", or end here.
type topicNode struct {
	next map[string]*topicNode
	star *topicNode
	here map[*Session]struct{} // patterns that end at this node
	deep map[*Session]struct{} // patterns that end at this node with "/**"
}

func newTopicIndex() topicIndex {
	return topicIndex{exact: map[string]map[*Session]struct{}{}, root: &topicNode{}}
}

func (ix *topicIndex) add(pattern string, s *Session) {
	if !strings.Contains(pattern, "*") {
		addIndex(ix.exact, pattern, s)
		return
	}
	n := ix.root
	segs := strings.Split(pattern[1:], "/")
	for _, seg := range segs {
		switch seg {
		case "**":
			n.deep = addTo(n.deep, s)
			return
		case "*":
			if n.star == nil {
				n.star = &topicNode{}
			}
			n = n.star
		default:
			if n.next[seg] == nil {
				if n.next == nil {
					n.next = map[string]*topicNode{}
				}
				n.next[seg] = &topicNode{}
			}
			n = n.next[seg]
		}
	}
	n.here = addTo(n.here, s)
}

func (ix *topicIndex) remove(pattern string, s *Session) {
	if !strings.Contains(pattern, "*") {
		delIndex(ix.exact, pattern, s)
		return
	}
	ix.root.remove(strings.Split(pattern[1:], "/"), s)
}

// remove removes s from the pattern segs below n and reports whether n is
// left empty, so its parent can drop it.
func (n *topicNode) remove(segs []string, s *Session) bool {
	switch {
	case len(segs) == 0:
		delete(n.here, s)
	case segs[0] == "**":
		delete(n.deep, s)
	case segs[0] == "*":
		if n.star != nil && n.star.remove(segs[1:], s) {
			n.star = nil
		}
	default:
		if c := n.next[segs[0]]; c != nil && c.remove(segs[1:], s) {
			delete(n.next, segs[0])
		}
	}
	// Drop emptied maps, so a pruned trie holds no memory.
	if len(n.here) == 0 {
		n.here = nil
	}
	if len(n.deep) == 0 {
		n.deep = nil
	}
	if len(n.next) == 0 {
		n.next = nil
	}
	return len(n.here) == 0 && len(n.deep) == 0 && n.star == nil && len(n.next) == 0
}

// match calls fn once for each session with a pattern matching topic.
func (ix *topicIndex) match(topic string, fn func(*Session)) {
	seen := map[*Session]struct{}{}
	visit := func(set map[*Session]struct{}) {
		for s := range set {
			if _, ok := seen[s]; !ok {
				seen[s] = struct{}{}
				fn(s)
			}
		}
	}
	visit(ix.exact[topic])
	rest, ok := strings.CutPrefix(topic, "/")
	if !ok {
		return
	}
	ix.root.match(strings.Split(rest, "/"), visit)
}

func (n *topicNode) match(segs []string, visit func(map[*Session]struct{})) {
	if len(segs) == 0 {
		visit(n.here)
		return
	}
	visit(n.deep)
	if c := n.next[segs[0]]; c != nil {
		c.match(segs[1:], visit)
	}
	if n.star != nil {
		n.star.match(segs[1:], visit)
	}
}

func addTo(set map[*Session]struct{}, s *Session) map[*Session]struct{} {
	if set == nil {
		set = map[*Session]struct{}{}
	}
	set[s] = struct{}{}
	return set
}
