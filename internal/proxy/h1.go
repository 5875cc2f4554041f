package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// h1Transport is a lean HTTP/1.1 origin client for body-less requests, the
// bulk of an edge's traffic. net/http's Transport hands every request to two
// goroutines per connection (readLoop, writeLoop) through channels; on a
// busy core those hand-offs cost more than the proxying. Here the request's
// own goroutine writes the request and reads the response from a pooled
// connection. What it does not handle (request bodies, upgrades, Expect,
// opaque URLs) goes to the fallback net/http Transport unchanged.
type h1Transport struct {
	dialer     *net.Dialer
	tlsConfig  *tls.Config
	tlsTimeout time.Duration
	headerWait time.Duration // response header timeout
	idleFor    time.Duration // idle connections older than this are closed
	maxIdle    int           // per origin
	fallback   *http.Transport

	mu   sync.Mutex
	idle map[string][]*h1conn // by scheme://host:port
}

// h1conn is one pooled origin connection.
type h1conn struct {
	key    string
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// handles reports whether r can take the lean path.
func (t *h1Transport) handles(r *http.Request) bool {
	return (r.Body == nil || r.Body == http.NoBody) && r.URL.Opaque == "" &&
		r.Header["Expect"] == nil && r.Header["Upgrade"] == nil &&
		(r.URL.Scheme == "http" || r.URL.Scheme == "https")
}

// RoundTrip sends r and returns the response; the response body must be
// read to the end or closed, which returns the connection to the pool.
func (t *h1Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.handles(r) {
		return t.fallback.RoundTrip(r)
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := t.conn(r)
		if err != nil {
			return nil, err
		}
		res, err := t.exchange(c, r)
		if err == nil {
			return res, nil
		}
		c.nc.Close()
		// A pooled connection the origin closed while it sat idle fails
		// at once; a request that can be replayed gets one fresh try,
		// as net/http does.
		if reused && attempt == 0 && staleConnError(err) && replayable(r) && r.Context().Err() == nil {
			continue
		}
		return nil, err
	}
}

// exchange writes r on c and reads the response header.
func (t *h1Transport) exchange(c *h1conn, r *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(r.Context(), func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	if err := writeRequest(c.bw, r); err != nil {
		stop()
		return nil, err
	}
	if t.headerWait > 0 {
		c.nc.SetReadDeadline(time.Now().Add(t.headerWait))
	}
	res, err := http.ReadResponse(c.br, r)
	for n := 0; err == nil && res.StatusCode >= 100 && res.StatusCode < 200; n++ {
		if n == maxInterim {
			err = errTooManyInterim
			break
		}
		reportInterim(r, res) // 103 Early Hints and the like go to the client
		res, err = http.ReadResponse(c.br, r)
	}
	if t.headerWait > 0 && err == nil {
		c.nc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		stop()
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
		return nil, err
	}
	res.Body = &h1body{t: t, c: c, rc: res.Body, stop: stop, reuse: !res.Close && !r.Close}
	return res, nil
}

// writeRequest writes a body-less request in origin form.
func writeRequest(bw *bufio.Writer, r *http.Request) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	if p := r.URL.EscapedPath(); p != "" {
		bw.WriteString(p)
	} else {
		bw.WriteByte('/')
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		bw.WriteByte('?')
		bw.WriteString(r.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	for k, vv := range r.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if r.Close {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}

// conn returns an idle pooled connection or dials a new one.
func (t *h1Transport) conn(r *http.Request) (*h1conn, bool, error) {
	key := r.URL.Scheme + "://" + r.URL.Host
	if c := t.takeIdle(key); c != nil {
		return c, true, nil
	}
	c, err := t.dial(r.Context(), r.URL.Scheme, r.URL.Host)
	if err != nil {
		return nil, false, err
	}
	c.key = key
	return c, false, nil
}

func (t *h1Transport) takeIdle(key string) *h1conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	stack := t.idle[key]
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack[len(stack)-1] = nil
		stack = stack[:len(stack)-1]
		if time.Since(c.idleAt) < t.idleFor {
			t.idle[key] = stack
			return c
		}
		c.nc.Close()
	}
	t.idle[key] = stack
	return nil
}

func (t *h1Transport) putIdle(c *h1conn) {
	c.idleAt = time.Now()
	t.mu.Lock()
	if len(t.idle[c.key]) < t.maxIdle {
		t.idle[c.key] = append(t.idle[c.key], c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.nc.Close()
}

func (t *h1Transport) dial(ctx context.Context, scheme, hostport string) (*h1conn, error) {
	addr := hostport
	if _, _, err := net.SplitHostPort(addr); err != nil {
		if scheme == "https" {
			addr = net.JoinHostPort(hostport, "443")
		} else {
			addr = net.JoinHostPort(hostport, "80")
		}
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if scheme == "https" {
		cfg := t.tlsConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, t.tlsTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &h1conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// CloseIdleConnections closes every pooled connection of both paths.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	for k, stack := range t.idle {
		for _, c := range stack {
			c.nc.Close()
		}
		delete(t.idle, k)
	}
	t.mu.Unlock()
	t.fallback.CloseIdleConnections()
}

// h1body returns the connection to the pool once the body has been read to
// the end, and closes it when the body is abandoned part way.
type h1body struct {
	t     *h1Transport
	c     *h1conn
	rc    io.ReadCloser
	stop  func() bool
	reuse bool
	done  bool
}

func (b *h1body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *h1body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection. A body not read to the end is not
// drained: the connection is closed, which is cheaper than reading what
// nobody wants.
func (b *h1body) finish(complete bool) {
	b.done = true
	cancelled := !b.stop()
	if complete && b.reuse && !cancelled && b.c.br.Buffered() == 0 {
		b.t.putIdle(b.c)
		return
	}
	b.c.nc.Close()
}

func staleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

func replayable(r *http.Request) bool {
	switch r.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil
}
