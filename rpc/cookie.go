package rpc

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/maphash"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// The browser id cookie holds a browser's random id and an HMAC-SHA256
// of it, truncated to macLen bytes: "ID.MAC", with the id in the base32
// of crypto/rand.Text and the MAC in unpadded base64url. Under HTTPS its
// name carries the __Host- prefix, which browsers accept only on a Secure
// cookie set over HTTPS with Path=/ and no Domain, so that neither another
// subdomain nor a plain-HTTP response can plant or replace it.
const (
	hostPrefix   = "__Host-"
	browserIDLen = 26 // the length of crypto/rand.Text: 128 random bits in base32
	macLen       = 16
	macB64Len    = 22 // base64.RawURLEncoding.EncodedLen(macLen)
	signedIDLen  = browserIDLen + 1 + macB64Len
	macContext   = "parley browser id\x00" // keeps these MACs apart from other uses of the keys
)

var macEncoding = base64.RawURLEncoding.Strict()

// WithCookieKeys sets the keys that sign the browser id cookie: the first
// signs new cookies and every one is accepted, so that a key can be
// replaced by adding the new one first and dropping the old one later.
// Processes that serve the same site behind a load balancer share their
// keys, so that each accepts the others' cookies. A key has at least 16
// bytes, 32 random bytes being best; a shorter one panics as a
// configuration error. Default: one random key made at start-up, so
// browser ids do not outlive the process.
func WithCookieKeys(keys ...[]byte) Option {
	return func(s *Server) {
		s.ids.keys = nil
		for _, k := range keys {
			if len(k) < 16 {
				panic("rpc: a cookie key has at least 16 bytes")
			}
			s.ids.keys = append(s.ids.keys, append([]byte(nil), k...))
		}
	}
}

// idSigner signs and verifies browser id cookies.
type idSigner struct {
	name string   // the cookie's name without the __Host- prefix
	keys [][]byte // the first signs
	macs []*sync.Pool
	// verified remembers recently verified cookie values, so that a
	// browser's cookie costs one MAC, not one per request: a small cache
	// with a slot per hash of the value.
	verified [verifiedSlots]atomic.Pointer[verifiedID]
	seed     maphash.Seed
}

// verifiedSlots is the size of idSigner's cache of verified values.
const verifiedSlots = 1024

// verifiedID is a cookie value that passed verification and its id.
type verifiedID struct{ value, id string }

// macState is an HMAC of one key with room to work in, reused through a
// pool so that verifying a cookie allocates nothing.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
	in  [browserIDLen]byte
}

// init readies the signer for the cookie name, making a random key if
// none was set.
func (ids *idSigner) init(name string) {
	ids.name = name
	ids.seed = maphash.MakeSeed()
	if len(ids.keys) == 0 {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
		ids.keys = [][]byte{key}
	}
	ids.macs = make([]*sync.Pool, len(ids.keys))
	for i, k := range ids.keys {
		ids.macs[i] = &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, k)} }}
	}
}

// cookieName returns the cookie's name over HTTPS (secure) or plain HTTP.
func (ids *idSigner) cookieName(secure bool) string {
	if secure {
		return hostPrefix + ids.name
	}
	return ids.name
}

// sum computes the MAC of id with key i into m.sum.
func (m *macState) compute(id string) []byte {
	m.h.Reset()
	_, _ = m.h.Write([]byte(macContext))
	copy(m.in[:], id)
	_, _ = m.h.Write(m.in[:])
	return m.h.Sum(m.sum[:0])[:macLen]
}

// sign returns the cookie value for id, which has browserIDLen bytes.
func (ids *idSigner) sign(id string) string {
	m := ids.macs[0].Get().(*macState)
	defer ids.macs[0].Put(m)
	b := make([]byte, signedIDLen)
	copy(b, id)
	b[browserIDLen] = '.'
	macEncoding.Encode(b[browserIDLen+1:], m.compute(id))
	return string(b)
}

// verify returns the id a cookie value carries if one of the keys signed
// it.
func (ids *idSigner) verify(v string) (string, bool) {
	if len(v) != signedIDLen || v[browserIDLen] != '.' || !validBrowserID(v[:browserIDLen]) {
		return "", false
	}
	slot := &ids.verified[maphash.String(ids.seed, v)%verifiedSlots]
	if known := slot.Load(); known != nil && known.value == v {
		return known.id, true
	}
	id, mac := v[:browserIDLen], v[browserIDLen+1:]
	for _, pool := range ids.macs {
		m := pool.Get().(*macState)
		var got [macLen]byte
		n, err := macEncoding.Decode(got[:], []byte(mac))
		ok := err == nil && n == macLen && hmac.Equal(m.compute(id), got[:])
		pool.Put(m)
		if ok {
			slot.Store(&verifiedID{value: v, id: id})
			return id, true
		}
	}
	return "", false
}

// readBrowserID returns the browser's id from a validly signed id cookie,
// reporting false when r carries none. Under HTTPS only the __Host-
// cookie counts.
func (s *Server) readBrowserID(r *http.Request) (string, bool) {
	return s.ids.verify(cookieValue(r, s.ids.cookieName(s.scheme(r) == "https")))
}

// browserID returns the random id of the browser's HTTP session, from the
// id cookie, setting a new one when the request has none or one that is
// not validly signed. Script sessions are bound to it. It is a cookie of
// its own, apart from the gorilla session, so that requests that never
// touch session values do not pay for decoding it.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if id, ok := s.readBrowserID(r); ok {
		return id
	}
	id := rand.Text()
	s.setIDCookie(w, r, id)
	return id
}

// setIDCookie sets the id cookie to id on the reply to r: Secure, with
// the __Host- prefix, when the client reached the server over HTTPS,
// directly or through a trusted proxy.
func (s *Server) setIDCookie(w http.ResponseWriter, r *http.Request, id string) {
	secure := s.scheme(r) == "https"
	http.SetCookie(w, &http.Cookie{
		Name: s.ids.cookieName(secure), Value: s.ids.sign(id), Path: "/",
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// cookieValue returns the value of the request's cookie name, or "". It
// reads the Cookie headers without parsing every cookie.
func cookieValue(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if v, ok := strings.CutPrefix(part, name); ok && strings.HasPrefix(v, "=") {
				return strings.Trim(v[1:], `"`)
			}
		}
	}
	return ""
}

// validBrowserID reports whether v is an id browserID could have made:
// 26 characters of base32, 128 random bits.
func validBrowserID(v string) bool {
	if len(v) != browserIDLen {
		return false
	}
	for _, c := range v {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// SetUser binds the caller's browser to user on the server's hub, or
// unbinds it when user is "" (log out), as reverse.Hub.SetUser does, after
// giving the browser a new id: the reply sets the new id cookie, the
// calling page's script session moves to the new id at once, and the
// browser's other pages move when they next present it
// (reverse.Hub.RotateBrowser). Pages elsewhere that present the old id,
// because someone planted it in this browser or copied it from it, are
// not bound to the user and receive none of its pushes. After SetUser,
// c.HTTPSessionID is the new id. It fails with failed_precondition on a
// server without a hub.
func (c *Call) SetUser(user string) error {
	hub := c.x.srv.hub
	if hub == nil {
		return NewError(CodeFailedPrecondition, "the server has no hub")
	}
	next := rand.Text()
	c.x.sessMu.Lock()
	from := c.x.httpID
	if c.x.newID != "" {
		from = c.x.newID
	}
	c.x.newID = next
	c.x.sessMu.Unlock()
	hub.RotateBrowser(from, next, c.ScriptSession)
	c.HTTPSessionID = next
	if err := hub.SetUser(from, ""); err != nil {
		return err
	}
	return hub.SetUser(next, user)
}
