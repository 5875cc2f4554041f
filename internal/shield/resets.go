package shield

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

type connKey struct{}

// connInfo is per-connection state for the HTTP/2 reset guard.
type connInfo struct {
	c       net.Conn
	mu      sync.Mutex
	window  time.Time
	resets  int
	dropped bool
}

// ConnContext is the http.Server hook that gives each request a handle on
// its connection, so the reset guard can close it.
func (st *State) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connInfo{c: c})
}

// Guard wraps a server's handler with the HTTP/2 rapid-reset guard
// (CVE-2023-44487): an HTTP/2 request whose stream the client reset before
// its handler finished counts as a reset of its connection; a connection
// over maxPerSecond resets within a second is closed. net/http already
// caps concurrent handlers per connection and closes a connection that
// queues too many; this catches the client that resets streams in a loop
// at a rate the handlers keep up with.
func (st *State) Guard(h http.Handler, maxPerSecond func() int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if r.ProtoMajor != 2 || r.Context().Err() == nil || st.Killed(KillAll) {
				return
			}
			if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok && ci.reset(time.Now(), maxPerSecond()) {
				st.m.ResetCuts.Inc()
				st.log.Warn("closing HTTP/2 connection for resetting streams too fast", "peer", r.RemoteAddr)
				ci.c.Close()
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// reset counts one reset and reports whether the connection just went
// over the limit (true once).
func (ci *connInfo) reset(now time.Time, limit int) bool {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if now.Sub(ci.window) > time.Second {
		ci.window, ci.resets = now, 0
	}
	ci.resets++
	if ci.resets > limit && !ci.dropped {
		ci.dropped = true
		return true
	}
	return false
}
