package rpc

import (
	"net/http"
	"strings"
)

// serveHealth answers GET health, for a load balancer's checks: 200 with
// {"ok":true} while the server takes new pages, and 503 with the error
// while it does not: its hub cannot reach its backplane, or it is shutting
// down. A balancer then sends the pages to the other servers.
func (s *Server) serveHealth(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	if s.hub != nil {
		if err := s.hub.Err(); err != nil {
			s.refuse(w, NewError(CodeUnavailable, strings.TrimPrefix(err.Error(), "reverse: ")))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
