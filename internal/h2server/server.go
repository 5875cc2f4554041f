// Package h2server is levee's own HTTP/2 server for TLS connections that
// negotiated ALPN "h2". It serves an http.Handler with one read loop per
// connection and lets each stream's handler write its frames straight into
// the connection's buffered framer; see README.md for why and what it costs.
package h2server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Server's fields.
const (
	DefaultMaxConcurrentStreams = 100
	DefaultMaxHeaderBytes       = 64 << 10
	// DefaultMaxResetsPerSecond bounds client resets of streams whose
	// handler still runs (CVE-2023-44487); past it the connection gets
	// GOAWAY ENHANCE_YOUR_CALM.
	DefaultMaxResetsPerSecond = 200
	// DefaultMaxControlFramesPerSecond bounds frames that cost the server
	// work but carry no request (PING, SETTINGS, PRIORITY, RST_STREAM,
	// empty DATA, unknown types). WINDOW_UPDATE is not counted: a fast
	// legitimate client sends several per response, and they cost no reply.
	DefaultMaxControlFramesPerSecond = 10000
	// The receive windows: per stream and per connection.
	streamRecvWindow = 256 << 10
	connRecvWindow   = 1 << 20
	// Header blocks: at most this many CONTINUATION frames per block.
	maxContinuations = 64
	defaultIdle      = 2 * time.Minute
	prefaceTimeout   = 10 * time.Second
	stallTimeout     = 30 * time.Second
	// flushDelay bounds how long a finished answer waits in the buffer for
	// the answers of concurrent streams.
	flushDelay = 200 * time.Microsecond
)

// Server serves HTTP/2 on TLS connections. Its exported fields must not
// change once it serves.
type Server struct {
	// Handler serves the requests of ServeConn; connections handed over by
	// net/http (Attach) use the handler net/http gives.
	Handler http.Handler
	// MaxConcurrentStreams per connection (SETTINGS_MAX_CONCURRENT_STREAMS);
	// a stream past it is refused (REFUSED_STREAM). Default 100.
	MaxConcurrentStreams uint32
	// MaxReadFrameSize is the largest frame accepted (SETTINGS_MAX_FRAME_SIZE).
	// Default 16KiB.
	MaxReadFrameSize uint32
	// MaxHeaderBytes bounds a request's decoded header list; past it the
	// request is answered 431. Default 64KiB.
	MaxHeaderBytes int
	// IdleTimeout closes a connection without streams for that long
	// (GOAWAY first). Default 2m.
	IdleTimeout time.Duration
	// WriteTimeout bounds one flush to the client (a client that does not
	// read for that long is cut) and a stream's wait for flow-control
	// window (a client that reads but grants no window has that stream
	// reset). Default 30s.
	WriteTimeout time.Duration
	// MaxResetsPerSecond: see DefaultMaxResetsPerSecond.
	MaxResetsPerSecond int
	// MaxControlFramesPerSecond: see DefaultMaxControlFramesPerSecond.
	MaxControlFramesPerSecond int
	// Go starts every goroutine of the server (a panic wall); nil means go.
	Go func(name string, fn func())
	// Log receives protocol errors at debug level and cut connections at
	// warn level; nil discards.
	Log *slog.Logger
	// Counters, when set, is where the server counts what it refused, so
	// the servers a listener set makes across reloads add up in one place
	// (the /metrics families); nil means the server's own.
	Counters *Stats

	mu           sync.Mutex
	conns        map[*conn]struct{}
	shuttingDown bool
	stats        Stats
}

// Stats counts what the server refused; every field is read atomically.
type Stats struct {
	// ResetCuts: connections closed for resetting streams too fast.
	ResetCuts atomic.Int64
	// FloodCuts: connections closed for a control-frame flood.
	FloodCuts atomic.Int64
	// ProtocolErrors: connections closed with a protocol error.
	ProtocolErrors atomic.Int64
	// RefusedStreams: streams refused past MaxConcurrentStreams.
	RefusedStreams atomic.Int64
	// Panics: handlers that panicked (http.ErrAbortHandler excluded).
	Panics atomic.Int64
	// StalledStreams: responses reset after waiting for flow-control
	// window longer than WriteTimeout.
	StalledStreams atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats {
	if s.Counters != nil {
		return s.Counters
	}
	return &s.stats
}

// Attach makes hs hand every TLS connection that negotiated "h2" to s
// (http.Server.TLSNextProto) and sends GOAWAY to them on hs.Shutdown.
// net/http still accepts, handshakes and applies ConnContext.
func (s *Server) Attach(hs *http.Server) {
	if hs.TLSNextProto == nil {
		hs.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	hs.TLSNextProto["h2"] = func(_ *http.Server, tc *tls.Conn, h http.Handler) {
		ctx := context.Background()
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		s.serve(ctx, tc, h)
	}
	hs.RegisterOnShutdown(s.GoAway)
}

// ServeConn serves HTTP/2 on c, a connection past its TLS handshake (or
// any connection speaking HTTP/2 with prior knowledge), until it ends.
func (s *Server) ServeConn(c net.Conn) {
	s.serve(context.Background(), c, s.Handler)
}

// GoAway starts a graceful shutdown of every connection: GOAWAY, no new
// streams, close once the running ones are done.
func (s *Server) GoAway() {
	s.mu.Lock()
	s.shuttingDown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway(0, true)
	}
}

func (s *Server) serve(ctx context.Context, nc net.Conn, h http.Handler) {
	c := newConn(s, ctx, nc, h)
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.serve()
}

func (s *Server) goroutine(name string, fn func()) {
	if s.Go != nil {
		s.Go(name, fn)
		return
	}
	go fn()
}

func (s *Server) maxStreams() uint32 {
	if s.MaxConcurrentStreams == 0 {
		return DefaultMaxConcurrentStreams
	}
	return s.MaxConcurrentStreams
}

func (s *Server) maxFrame() uint32 {
	if s.MaxReadFrameSize < 16<<10 {
		return 16 << 10
	}
	return min(s.MaxReadFrameSize, 1<<24-1)
}

// maxHeaderList is the advertised SETTINGS_MAX_HEADER_LIST_SIZE: the head
// limit plus the per-field overhead HTTP/2 counts for a typical request
// (as x/net does); the exact limit is the handler's (drainAware).
func (s *Server) maxHeaderList() uint32 {
	n := s.MaxHeaderBytes
	if n <= 0 {
		n = DefaultMaxHeaderBytes
	}
	return uint32(n + 10*32)
}

func (s *Server) idle() time.Duration {
	if s.IdleTimeout <= 0 {
		return defaultIdle
	}
	return s.IdleTimeout
}

func (s *Server) stall() time.Duration {
	if s.WriteTimeout <= 0 {
		return stallTimeout
	}
	return s.WriteTimeout
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
