package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/config"
)

// slot is one client-facing address. Its socket outlives config
// generations. Connections are handed from one accept loop to whichever
// http.Server is current, so a reload that changes server settings (timeouts,
// limits, TLS on or off) swaps the server without closing the socket.
type slot struct {
	addr     string // as configured; the identity across reloads
	ln       net.Listener
	settings string
	cur      atomic.Pointer[handoff]
	closed   atomic.Bool
}

// handoff is a virtual listener fed by a slot's accept loop.
type handoff struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
	srv   *http.Server
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error   { h.once.Do(func() { close(h.done) }); return nil }
func (h *handoff) Addr() net.Addr { return h.addr }

// acceptLoop hands each accepted connection to the current server. It runs
// until the socket is closed.
func (n *Node) acceptLoop(s *slot) {
	delay := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			n.log.Warn("accept failed", "addr", s.addr, "err", err)
			time.Sleep(delay)
			delay = min(delay*2, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		n.deliver(s, c)
	}
}

func (n *Node) deliver(s *slot, c net.Conn) {
	for {
		h := s.cur.Load()
		select {
		case h.conns <- c:
			return
		case <-h.done:
			if s.closed.Load() {
				c.Close()
				return
			}
			// A handoff happened while we waited: try the new server.
		}
	}
}

func listenerSettings(l *config.Listener, c *config.Config) string {
	tlsOn := l.TLS != nil
	minv := ""
	if tlsOn {
		minv = l.TLS.MinVersion
	}
	return fmt.Sprintf("%v|%s|%v|%+v|%+v|%+v", tlsOn, minv, l.H2C, l.HTTP2, c.Timeouts, c.Limits)
}

// newServer builds the http.Server for a listener of config c and starts it
// on a fresh handoff of slot s.
func (n *Node) startServer(s *slot, l *config.Listener, c *config.Config) *handoff {
	var protos http.Protocols
	protos.SetHTTP1(true)
	if l.TLS != nil {
		protos.SetHTTP2(true)
	}
	if l.H2C {
		protos.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           n,
		ReadHeaderTimeout: c.Timeouts.ReadHeader.D(),
		IdleTimeout:       c.Timeouts.Idle.D(),
		WriteTimeout:      c.Timeouts.Write.D(),
		MaxHeaderBytes:    int(c.Limits.MaxHeaderBytes),
		Protocols:         &protos,
		ErrorLog:          log.New(&serverErrorLog{log: n.log, addr: s.addr}, "", 0),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: l.HTTP2.MaxConcurrentStreams,
			MaxReadFrameSize:     int(l.HTTP2.MaxReadFrameSize),
		},
	}
	h := newHandoff(s.ln.Addr())
	h.srv = srv
	var ln net.Listener = h
	if l.TLS != nil {
		addr := s.addr
		tc := &tls.Config{
			MinVersion: minTLS(l.TLS.MinVersion),
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if cs := n.gen.Load().certs[addr]; cs != nil {
					return cs.pick(hello), nil
				}
				return nil, errors.New("no certificate for this listener")
			},
		}
		srv.TLSConfig = tc
		ln = tls.NewListener(h, tc)
	}
	n.wall.Go("http-server:"+s.addr, func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			n.log.Error("server stopped", "addr", s.addr, "err", err)
		}
	})
	return h
}

// retire stops a server gracefully: it stops taking connections from the
// slot, closes idle ones, and lets in-flight requests finish until drain.
func (n *Node) retire(h *handoff, drain time.Duration) {
	h.Close()
	n.wall.Go("retire-server", func() {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			h.srv.Close()
		}
	})
}

// serverErrorLog routes net/http's own messages (TLS handshake errors, bad
// requests it answered itself) to the structured log at debug level: they
// are the client's doing and would flood the log under attack.
type serverErrorLog struct {
	log  *slog.Logger
	addr string
}

func (s *serverErrorLog) Write(p []byte) (int, error) {
	s.log.Debug("http server", "addr", s.addr, "msg", string(p))
	return len(p), nil
}
