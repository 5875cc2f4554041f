// Package h1server serves body-less HTTP/1.x requests (GET and HEAD, which
// are most of an edge's traffic and all of its cache hits) with an
// http.Handler, without net/http's per-request costs: no background-read
// goroutine per request, no clone and sort of the response header map, one
// deadline update per request. Anything else (a request with a body, an
// upgrade, Expect, absolute-form targets, a head over the read buffer or
// anything this parser does not take) moves the connection, with the bytes
// already read, to net/http's server through Fallback; it stays there.
// net/http's own answers to malformed requests (400, 431, 505) are
// therefore unchanged, and the strict parser here only ever declines.
package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/deadline"
	"levee/internal/rawio"
)

// ReadBufferSize is the per-connection read buffer and so the largest
// request head served here; larger heads go to the fallback server.
const ReadBufferSize = 8 << 10

const writeBufferSize = 4 << 10

// watchDelay is how long a handler runs before its connection is watched
// for the client going away (which cancels the request's context). Short
// requests, such as cache hits, never pay for the watch.
const watchDelay = 5 * time.Millisecond

// Server serves HTTP/1.x connections handed to it by Serve.
type Server struct {
	Handler http.Handler
	// Fallback takes a connection this server declines, with the context
	// ConnContext made for it (the fallback server's requests lose it
	// otherwise: on TLS it holds what the handshake recorded). Reads on it
	// return the bytes already read first.
	Fallback func(ctx context.Context, c net.Conn)
	// ConnContext derives a connection's base context, as in http.Server.
	ConnContext func(context.Context, net.Conn) context.Context
	// Go runs a connection's goroutine (a panic wall); nil means plain go.
	Go func(name string, fn func())

	// TLSConfig, when set, makes every connection TLS: the handshake runs
	// on the connection's goroutine (not the caller's), within
	// ReadHeaderTimeout, with the connection's context (ConnContext), and
	// each request's TLS field is the connection's state.
	TLSConfig *tls.Config
	// HandOffProtos are the ALPN protocols (on TLS) whose connections go,
	// handshaken, to Fallback as the *tls.Conn itself ("h2": net/http then
	// finds the handshake done and serves HTTP/2).
	HandOffProtos []string

	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	WriteTimeout      time.Duration
	// MaxHeaderBytes caps a request head; larger ones go to the fallback
	// (which answers 431). At most ReadBufferSize is served here.
	MaxHeaderBytes int

	Log *slog.Logger

	shutting atomic.Bool
	mu       sync.Mutex
	conns    map[*conn]struct{}

	fifoOnce sync.Once
	fifo     *fifo // nil when epoll is not available: connections read directly
}

// Serve starts serving c on its own goroutine. It returns false, without
// touching c, once the server is shutting down.
func (s *Server) Serve(c net.Conn) bool {
	s.fifoOnce.Do(s.startFifo)
	if s.TLSConfig != nil {
		// Wrapped here, before the connection is tracked, so that kill
		// and serve only ever see one net.Conn.
		c = tls.Server(c, s.TLSConfig)
	}
	cn := &conn{srv: s, c: c, fd: -1, wake: make(chan struct{}, 1), killed: make(chan struct{})}
	if !s.track(cn, true) {
		return false
	}
	s.spawn("http1-conn", cn.serve)
	return true
}

// spawn runs fn behind the server's panic wall, if it has one.
func (s *Server) spawn(name string, fn func()) {
	if s.Go != nil {
		s.Go(name, fn)
	} else {
		go fn()
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) track(cn *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutting.Load() {
			return false
		}
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[cn] = struct{}{}
		return true
	}
	delete(s.conns, cn)
	return true
}

func (s *Server) startFifo() {
	f, err := newFifo()
	if err != nil {
		s.logger().Warn("http1: no epoll for ordered wake-ups; connections read directly", "err", err)
		return
	}
	s.fifo = f
	s.spawn("http1-fifo", f.run)
}

func (s *Server) closeFifo() {
	s.fifoOnce.Do(func() {}) // a server that never served starts none
	if s.fifo != nil {
		s.fifo.close()
	}
}

// Shutdown stops taking connections, closes idle ones, lets each active one
// finish its response and close, and waits for that until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			s.closeFifo()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes every connection at once.
func (s *Server) Close() {
	s.shutting.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for cn := range s.conns {
		cn.kill()
	}
	s.closeFifo()
}

// closeIdle closes idle connections and reports how many remain.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cn := range s.conns {
		if cn.state.Load() == stateIdle {
			cn.kill()
		}
	}
	return len(s.conns)
}

const (
	stateIdle int32 = iota
	stateActive
)

// conn is one client connection served here.
type conn struct {
	srv    *Server
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	sock   *rawio.Sock // under br and bw on a plain TCP socket, else nil
	ctx    context.Context
	remote string
	state  atomic.Int32
	w      response
	watch  watcher
	// header and url are reused by each request's http.Request; the
	// handler must not keep them after it returns (levee's chain clones
	// what it keeps).
	header http.Header
	url    url.URL
	req    *http.Request
	rctx   *reqCtx
	// tlsState is the handshaken connection's state (nil off TLS), every
	// request's TLS field, as in net/http.
	tlsState  *tls.ConnectionState
	handedOff bool // to Fallback: the connection is no longer ours to close

	// For the fifo: the socket, whether it is registered, the wake-up, and
	// killed (closed with the connection by the server).
	fd         int
	regMu      sync.Mutex // guards registered, closed and ctl
	registered bool
	ready      bool // an event came while not waiting; guarded by the fifo's mu
	// waiting: parked in the fifo for its next request; guarded by the
	// fifo's mu.
	waiting bool
	// hungUp: the client hung up (EPOLLRDHUP, HUP or ERR) while the
	// connection was busy; watched: its request is watched by events.
	// Both guarded by the fifo's mu.
	hungUp       bool
	watched      bool
	watchedSince time.Time
	// The deadlines set on c (deadline.go); zero: none.
	readDeadline, writeDeadline time.Time
	// arrived is when the request's first bytes were found readable (the
	// clock read for its header deadline); the write deadline, the client
	// watch and the pipeline's start take it (httpwire.Arrival).
	arrived  time.Time
	ctl      epollCtl
	closed   bool
	wake     chan struct{}
	killed   chan struct{}
	killOnce sync.Once
	idle     *time.Timer
	idleAt   time.Time // when idle fires (idle.go armIdle)
}

// kill closes the connection from the server's side, waking it if it waits
// in the fifo.
func (cn *conn) kill() {
	cn.unregister(true)
	cn.killOnce.Do(func() { close(cn.killed) })
	cn.c.Close()
}

// unregister takes the socket out of the fifo before it is closed (closing
// true) or handed off.
func (cn *conn) unregister(closing bool) {
	cn.regMu.Lock()
	defer cn.regMu.Unlock()
	if cn.srv.fifo != nil {
		cn.srv.fifo.release(cn)
	}
	if closing {
		cn.closed = true
	}
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, ReadBufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}
)

func (cn *conn) serve() {
	s := cn.srv
	cn.remote = cn.c.RemoteAddr().String()
	cn.ctx = context.Background()
	if s.ConnContext != nil {
		cn.ctx = s.ConnContext(cn.ctx, cn.c)
	}
	if tc, ok := cn.c.(*tls.Conn); ok && !cn.handshake(tc) {
		cn.unregister(!cn.handedOff)
		s.track(cn, false)
		if !cn.handedOff {
			cn.c.Close()
		}
		return
	}
	cn.br = readers.Get().(*bufio.Reader)
	var rw io.ReadWriter = cn.c
	if s := rawio.New(cn.c); s != nil {
		rw, cn.sock = s, s
	}
	cn.br.Reset(rw)
	cn.bw = writers.Get().(*bufio.Writer)
	cn.bw.Reset(rw)
	defer func() {
		handedOff := cn.handedOff
		cn.unregister(!handedOff)
		s.track(cn, false)
		cn.watch.release()
		if cn.idle != nil {
			cn.idle.Stop()
		}
		if cn.rctx != nil {
			cn.rctx.cancel()
		}
		if !handedOff {
			cn.c.Close()
			cn.br.Reset(nil)
			readers.Put(cn.br)
		}
		cn.bw.Reset(nil)
		writers.Put(cn.bw)
	}()
	cn.watch.init(cn)
	if s.fifo != nil {
		cn.fd, _ = socketFD(cn.c)
	}
	first := true
	for !s.shutting.Load() {
		if !cn.awaitRequest(first) {
			return
		}
		first = false
		head, ok := cn.readHead()
		if !ok {
			return
		}
		if !cn.parse(head, cn.nextRequest()) {
			cn.handedOff = true
			cn.handOff()
			return
		}
		cn.br.Discard(len(head))
		if !cn.serveRequest() {
			return
		}
	}
}

// awaitRequest waits, within the idle timeout, for the first byte of the
// next request.
func (cn *conn) awaitRequest(first bool) bool {
	cn.state.Store(stateIdle)
	if cn.br.Buffered() == 0 && !first && cn.fd >= 0 && cn.srv.fifo != nil {
		ok, fallback := cn.srv.fifo.waitReadable(cn, cn.srv.IdleTimeout)
		if !ok && !fallback {
			return false
		}
		if ok {
			// Readable (or closed): the header timeout covers the read,
			// and a spurious wake-up.
			cn.state.Store(stateActive)
			cn.arrived = time.Now()
			if d := cn.srv.ReadHeaderTimeout; d > 0 {
				cn.setReadDeadline(cn.arrived.Add(d), deadline.Granule(d))
			}
			_, err := cn.br.Peek(1)
			return err == nil
		}
	}
	if cn.br.Buffered() == 0 {
		d := cn.srv.IdleTimeout
		if first || d <= 0 {
			d = cn.srv.ReadHeaderTimeout
		}
		if d > 0 {
			cn.setReadDeadline(time.Now().Add(d), deadline.Granule(d))
		}
		if _, err := cn.br.Peek(1); err != nil {
			return false
		}
	}
	cn.state.Store(stateActive)
	cn.arrived = time.Now()
	if d := cn.srv.ReadHeaderTimeout; d > 0 {
		cn.setReadDeadline(cn.arrived.Add(d), deadline.Granule(d))
	}
	return true
}

// handOff gives the connection, with what was read of it, to the fallback.
func (cn *conn) handOff() {
	cn.unregister(false)
	buffered, _ := cn.br.Peek(cn.br.Buffered())
	rc := &replayConn{Conn: cn.c, pending: append([]byte(nil), buffered...)}
	cn.br.Reset(nil)
	readers.Put(cn.br)
	cn.setReadDeadline(time.Time{}, 0)
	cn.srv.Fallback(cn.ctx, rc)
}
