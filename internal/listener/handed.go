package listener

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"levee/internal/pipeline"
)

// handed is what a TLS connection that levee's HTTP/1 server handed to
// net/http carries that net/http cannot see for itself: the Hello record
// its handshake filled (net/http's ConnContext would make an empty one)
// and, when net/http gets the replay wrapper rather than the *tls.Conn
// (a request with a body, an upgrade), the connection's TLS state.
type handed struct {
	hello *pipeline.Hello
	tls   *tls.ConnectionState
}

// handOff gives a connection h's HTTP/1 server declined to net/http. A TLS
// connection's record waits in the slot (not the handoff: a reload may
// deliver it to a newer server) until that server's ConnContext takes it.
func (s *slot) handOff(h *handoff, ctx context.Context, c net.Conn) {
	if hello, st := pipeline.HelloFrom(ctx), tlsStateBehind(c); hello != nil || st != nil {
		s.pending.Store(c, handed{hello: hello, tls: st})
		defer func() {
			if s.closed.Load() {
				s.pending.Delete(c) // closed, never accepted: nobody takes it
			}
		}()
	}
	deliverStd(s, h, c)
}

// tlsStateBehind is the TLS state of a connection under h1server's replay
// wrapper, nil for a *tls.Conn itself (net/http reads it there) or a
// cleartext one.
func tlsStateBehind(c net.Conn) *tls.ConnectionState {
	if _, ok := c.(*tls.Conn); ok {
		return nil
	}
	u, ok := c.(interface{ NetConn() net.Conn })
	if !ok {
		return nil
	}
	tc, ok := u.NetConn().(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}

type tlsStateKey struct{}

// restoreHanded is a net/http server's ConnContext: next's, then the
// record of a connection handed over by h1server, if it is one.
func (s *slot) restoreHanded(next func(context.Context, net.Conn) context.Context) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		v, ok := s.pending.LoadAndDelete(c)
		if !ok {
			return ctx
		}
		hd := v.(handed)
		if hd.hello != nil {
			ctx = pipeline.WithHello(ctx)
			*pipeline.HelloFrom(ctx) = *hd.hello
		}
		if hd.tls != nil {
			ctx = context.WithValue(ctx, tlsStateKey{}, hd.tls)
		}
		return ctx
	}
}

// tlsRestored is a net/http server's handler: requests on a TLS connection
// that reached net/http through the replay wrapper get the connection's TLS
// state back, so they are HTTPS to the chain (scheme, X-Forwarded-Proto,
// Secure cookies) as on any other TLS connection.
type tlsRestored struct{ next http.Handler }

func (t tlsRestored) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
			r.TLS = st
		}
	}
	t.next.ServeHTTP(w, r)
}
