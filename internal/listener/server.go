package listener

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

	"levee/internal/h1server"
	"levee/internal/h2server"
	"levee/internal/pipeline"
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
	certs    atomic.Pointer[Certs] // the current generation's, for TLS listeners
	closed   atomic.Bool
	h3       *h3 // HTTP/3 on the same port, if on; changed under the reload lock
	// pending holds, by connection, what h1server knew of a TLS connection
	// it handed to net/http, until net/http's ConnContext takes it.
	pending sync.Map // net.Conn → handed
}

// handoff is a virtual listener fed by a slot's accept loop.
type handoff struct {
	// draining is set when a newer server took over the socket: responses
	// then carry "Connection: close", so clients move to the new server
	// between requests instead of having idle connections cut under them.
	draining atomic.Bool
	conns    chan net.Conn
	done     chan struct{}
	once     sync.Once
	addr     net.Addr
	srv      *http.Server
	// fast, when set, serves the connections first (cleartext HTTP/1.x);
	// those it declines reach srv through conns.
	fast *h1server.Server
}

// shutdown drains both servers of a handoff within ctx, then cuts what is
// left.
func (h *handoff) shutdown(ctx context.Context) error {
	var err error
	if h.fast != nil {
		if err = h.fast.Shutdown(ctx); err != nil {
			h.fast.Close()
		}
	}
	if e := h.srv.Shutdown(ctx); e != nil {
		h.srv.Close()
		err = errors.Join(err, e)
	}
	return err
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
func (set *Set) acceptLoop(s *slot) {
	delay := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			set.log.Warn("accept failed", "addr", s.addr, "err", err)
			time.Sleep(delay)
			delay = min(delay*2, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if set.hooks.Admit != nil {
			if c = set.hooks.Admit(c); c == nil {
				continue // refused by a connection hook (the shield's limits)
			}
		}
		set.deliver(s, c)
	}
}

func (set *Set) deliver(s *slot, c net.Conn) {
	for {
		h := s.cur.Load()
		if h.fast != nil {
			select {
			case <-h.done:
			default:
				if h.fast.Serve(c) {
					return
				}
			}
			if s.closed.Load() {
				c.Close()
				return
			}
			continue // retired under us: the newer server takes it
		}
		deliverStd(s, h, c)
		return
	}
}

// deliverStd gives c to net/http: h's server, or the current one if h
// retired meanwhile.
func deliverStd(s *slot, h *handoff, c net.Conn) {
	for {
		select {
		case h.conns <- c:
			return
		case <-h.done:
			if s.closed.Load() {
				c.Close()
				return
			}
			// A handoff happened while we waited: try the new server.
			h = s.cur.Load()
		}
	}
}

// settings identifies what a running server was built from: a reload that
// changes none of it keeps the server (and its idle connections).
func (sp *Spec) settings() string {
	tlsOn := sp.Listener.TLS != nil
	minv := ""
	if tlsOn {
		minv = sp.Listener.TLS.MinVersion
	}
	l := &sp.Listener
	auto := tlsOn && sp.Listener.TLS.Auto
	return fmt.Sprintf("%v|%s|%v|%v|%v|%s|%+v|%+v|%+v", tlsOn, minv, auto, l.HTTP3, l.H2C, l.HTTP1, l.HTTP2, sp.Timeouts, sp.Limits)
}

// startServer builds the http.Server for a listener spec and starts it on a
// fresh handoff of slot s.
func (set *Set) startServer(s *slot, sp *Spec) *handoff {
	l, c := &sp.Listener, sp
	var protos http.Protocols
	protos.SetHTTP1(true)
	if l.TLS != nil {
		protos.SetHTTP2(true)
	}
	if l.H2C {
		protos.SetUnencryptedHTTP2(true)
	}
	h := newHandoff(s.ln.Addr())
	var handler http.Handler = drainAware{next: set.handler, h: h, maxHead: int(c.Limits.MaxHeaderBytes)}
	var connCtx func(context.Context, net.Conn) context.Context
	if set.hooks.Wrap != nil {
		handler, connCtx = set.hooks.Wrap(handler)
	}
	if l.TLS != nil && l.HTTP3 {
		handler = newAltSvc(handler, s.ln.Addr().(*net.TCPAddr).Port)
	}
	srv := &http.Server{
		Handler:           tlsRestored{next: handler},
		ConnContext:       s.restoreHanded(connCtx),
		ReadHeaderTimeout: c.Timeouts.ReadHeader.D(),
		IdleTimeout:       c.Timeouts.Idle.D(),
		WriteTimeout:      c.Timeouts.Write.D(),
		MaxHeaderBytes:    int(c.Limits.MaxHeaderBytes),
		Protocols:         &protos,
		ErrorLog:          log.New(&serverErrorLog{log: set.log, addr: s.addr}, "", 0),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: l.HTTP2.MaxConcurrentStreams,
			MaxReadFrameSize:     int(l.HTTP2.MaxReadFrameSize),
			// Set deliberately (shield): HPACK tables at the protocol's
			// default, bounded receive windows, pings to find dead peers.
			MaxDecoderHeaderTableSize:     4096,
			MaxEncoderHeaderTableSize:     4096,
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
			SendPingTimeout:               c.Timeouts.Idle.D(),
			PingTimeout:                   15 * time.Second,
		},
	}
	h.srv = srv
	if !l.H2C && l.HTTP1 == "levee" {
		h.fast = &h1server.Server{
			Handler:           handler,
			ConnContext:       connCtx,
			Fallback:          func(ctx context.Context, c net.Conn) { s.handOff(h, ctx, c) },
			Go:                set.wall.Go,
			ReadHeaderTimeout: srv.ReadHeaderTimeout,
			IdleTimeout:       srv.IdleTimeout,
			WriteTimeout:      srv.WriteTimeout,
			MaxHeaderBytes:    srv.MaxHeaderBytes,
			Log:               set.log,
		}
	}
	var ln net.Listener = h
	if l.TLS != nil {
		tc := &tls.Config{
			MinVersion: minTLS(l.TLS.MinVersion),
			NextProtos: []string{"h2", "http/1.1"},
			// Called for every handshake, resumed ones too (GetCertificate
			// is not); nil keeps this config. The handshake runs with the
			// connection's context, so the record ConnContext made is here.
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				if rec := pipeline.HelloFrom(hello.Context()); rec != nil && set.hooks.Hello != nil {
					rec.Fingerprint = set.hooks.Hello(hello)
				}
				return nil, nil
			},
			GetCertificate: set.certificateFor(s, l.TLS.Auto),
		}
		if l.TLS.Auto {
			tc.NextProtos = append(tc.NextProtos, acmeTLS1)
		}
		srv.TLSConfig = tc
		if h.fast != nil {
			// levee's HTTP/1 server handshakes on each connection's own
			// goroutine, keeps HTTP/1.x and hands HTTP/2 over handshaken:
			// net/http finds the handshake done and serves it as before.
			h.fast.TLSConfig, h.fast.HandOffProtos = tc, []string{"h2"}
			if set.hooks.Hello != nil {
				h.fast.ConnContext = withHello(connCtx)
			}
		} else {
			if set.hooks.Hello != nil {
				srv.ConnContext = s.restoreHanded(withHello(connCtx))
			}
			ln = tls.NewListener(h, tc)
		}
		if l.HTTP2.Server == "levee" && !l.H2C {
			// h2 connections, handshaken by either path, reach levee's own
			// HTTP/2 server through net/http's TLSNextProto hook.
			set.levee(srv, sp)
		}
	}
	set.wall.Go("http-server:"+s.addr, func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			set.log.Error("server stopped", "addr", s.addr, "err", err)
		}
	})
	return h
}

// levee serves the TLS connections that negotiate h2 with levee's own
// HTTP/2 server (internal/h2server), through net/http's TLSNextProto hook:
// net/http still accepts, handshakes and applies ConnContext.
func (set *Set) levee(srv *http.Server, sp *Spec) {
	s := &h2server.Server{
		MaxConcurrentStreams: uint32(sp.Listener.HTTP2.MaxConcurrentStreams),
		MaxReadFrameSize:     uint32(sp.Listener.HTTP2.MaxReadFrameSize),
		MaxHeaderBytes:       int(sp.Limits.MaxHeaderBytes),
		IdleTimeout:          sp.Timeouts.Idle.D(),
		WriteTimeout:         sp.Timeouts.Write.D(),
		Go:                   set.wall.Go,
		Log:                  set.log,
		Counters:             &set.h2,
	}
	s.Attach(srv)
}

// retire stops a server gracefully: it takes no new connections, each
// connection closes after its next response, and whatever is left (idle
// connections) is closed once the drain period has passed.
func (set *Set) retire(h *handoff, drain time.Duration) {
	h.Close()
	h.draining.Store(true)
	set.wall.Go("retire-server", func() {
		select {
		case <-time.After(drain):
		case <-set.stopped:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = h.shutdown(ctx)
	})
}

// drainAware is a server's handler: the node, plus "Connection: close" once
// the server is retiring.
// It also holds limits.max_header_bytes exactly: net/http reads up to 4 KiB
// past its MaxHeaderBytes and HTTP/2 counts 32 bytes per field on top, so
// a small limit would otherwise let a head several times its size through.
type drainAware struct {
	next    http.Handler
	h       *handoff
	maxHead int
}

func (d drainAware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.h.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	if d.maxHead > 0 && headSize(r) > d.maxHead {
		w.Header().Set("Connection", "close")
		http.Error(w, "request header fields too large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	d.next.ServeHTTP(w, r)
}

// headSize is the size of r's head as HTTP/1.1 would send it: request line,
// Host and every header line. HTTP/2 requests are measured the same way, so
// one limit means one thing on every protocol.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
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

// withHello puts an empty Hello record in every TLS connection's context,
// for GetCertificate to fill during the handshake.
func withHello(next func(context.Context, net.Conn) context.Context) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		return pipeline.WithHello(ctx)
	}
}
