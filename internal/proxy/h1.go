package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"levee/internal/deadline"
	"levee/internal/rawio"
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
	peekAfter  time.Duration // idle connections this old are peeked at when taken (defaultPeekAfter)
	maxIdle    int           // per origin
	fallback   *http.Transport
	// fresh is fallback without keep-alive, for sending a request again
	// on a new connection after a pooled one failed.
	fresh *http.Transport

	// counts are the node's pool counters, shared by its transports.
	counts *PoolCounters

	mu   sync.Mutex
	idle map[originKey][]*h1conn
}

// originKey names an origin's idle stack; a struct, unlike a
// "scheme://host" string, costs no allocation per request.
type originKey struct{ scheme, host string }

// h1conn is one pooled origin connection.
type h1conn struct {
	key originKey
	nc  net.Conn
	// raw peeks at the socket under nc, if it has one (peek_unix.go).
	raw  syscall.RawConn
	peek func(fd uintptr) bool
	dead bool
	br   *bufio.Reader
	// sock reads and writes nc's socket when it is plain TCP (else nil).
	sock *rawio.Sock
	// out holds the request being sent; kept for the next one.
	out    []byte
	idleAt time.Time
	// idleFor is the transport's idle timeout, or less when the origin
	// said it closes sooner (Keep-Alive: timeout=N).
	idleFor time.Duration
	// cut unblocks the connection's reads and writes when the request is
	// cancelled; made once per connection, not per request.
	cut func()
	// readDeadline is the read deadline set on nc (zero: none); a head's
	// deadline stays set after a head whose body was in the buffer.
	readDeadline time.Time
	// wire holds the head of the response being read, when the caller
	// takes it as bytes; its buffer is reused by the next response.
	wire wireHead
}

func (c *h1conn) close() { c.nc.Close() }

// handles reports whether r can take the lean path.
func (t *h1Transport) handles(r *http.Request) bool {
	return (r.Body == nil || r.Body == http.NoBody) && r.URL.Opaque == "" &&
		r.Header["Expect"] == nil && r.Header["Upgrade"] == nil &&
		(r.URL.Scheme == "http" || r.URL.Scheme == "https")
}

// RoundTrip sends r and returns the response; the response body must be
// read to the end or closed, which returns the connection to the pool.
//
// A request sent on a pooled connection that fails before the origin sent
// a single response byte is sent again, once, on a newly dialed
// connection, whatever its method: the origin closed the connection as
// the request arrived and never processed it. Another pooled connection
// could be just as dead, so none is taken. The retry happens inside one
// round trip: it costs the route no retry token and the origin no health.
func (t *h1Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.roundTrip(r, false, time.Now(), nil)
}

// roundTrip is RoundTrip; with wire, a plain head is kept as bytes
// (wireHead, in the response body) and the response's Header is nil:
// the proxy's stream sends it on, or builds the map (responseHeader).
// now is the caller's clock read as the try started: a clock read is
// about 70 ns on this kind of machine, and the try's is microseconds old.
// it, when set, takes the origin's 1xx responses; a request net/http
// carries gets it as a trace.
func (t *h1Transport) roundTrip(r *http.Request, wire bool, now time.Time, it *interim) (*http.Response, error) {
	if !t.handles(r) {
		if it != nil {
			r = it.traced(r)
		}
		return t.roundTripFallback(r)
	}
	c, reused, err := t.conn(r, now)
	if err != nil {
		return nil, err
	}
	res, err := t.exchange(c, r, wire, now, it)
	if err == nil {
		return res, nil
	}
	c.close()
	var silent *silentClose
	if !reused || !errors.As(err, &silent) || r.Context().Err() != nil {
		return nil, unwrapSilent(err)
	}
	t.counts.StaleRetries.Add(1)
	if c, err = t.dialFor(r); err != nil {
		return nil, err
	}
	res, err = t.exchange(c, r, wire, time.Now(), it)
	if err != nil {
		c.close()
		return nil, unwrapSilent(err)
	}
	return res, nil
}

// silentClose marks a failure of the connection before any response byte
// arrived: the request can be sent again on another connection.
type silentClose struct{ err error }

func (e *silentClose) Error() string { return e.err.Error() }
func (e *silentClose) Unwrap() error { return e.err }

func unwrapSilent(err error) error {
	if s, ok := err.(*silentClose); ok {
		return s.err
	}
	return err
}

// roundTripFallback sends a request the lean path does not handle through
// net/http. net/http sends a request again after a pooled connection
// failed only when its method is idempotent; the origin never saw one
// that got no response byte at all, so any request whose body can be
// read again is sent once more, on a connection of its own.
func (t *h1Transport) roundTripFallback(r *http.Request) (*http.Response, error) {
	var reused, answered atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn:              func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
		GotFirstResponseByte: func() { answered.Store(true) },
	}
	res, err := t.fallback.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
	if err == nil || !reused.Load() || answered.Load() || r.Context().Err() != nil || isTimeout(err) {
		return res, err
	}
	again := r
	if r.Body != nil && r.Body != http.NoBody {
		if r.GetBody == nil {
			return nil, err
		}
		body, gerr := r.GetBody()
		if gerr != nil {
			return nil, err
		}
		again = r.Clone(r.Context())
		again.Body = body
	}
	t.counts.StaleRetries.Add(1)
	return t.fresh.RoundTrip(again)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// exchange writes r on c and reads the response header, as wire bytes
// when wire is set and the head is plain.
func (t *h1Transport) exchange(c *h1conn, r *http.Request, wire bool, now time.Time, it *interim) (*http.Response, error) {
	// The head's deadline is set before the cancel hook is attached: a
	// cancel cuts the connection with a past deadline, which a deadline
	// set after it would replace, leaving the request to wait for the
	// origin's head until response_header.
	if t.headerWait > 0 {
		c.setReadDeadline(headerDeadline(now, t.headerWait))
	}
	stop := onCancel(r.Context(), c.cut)
	if err := c.send(r); err != nil {
		stop()
		if staleConnError(err) && r.Context().Err() == nil {
			return nil, &silentClose{err}
		}
		return nil, err
	}
	if _, err := c.br.Peek(1); err != nil {
		stop()
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
		if staleConnError(err) {
			return nil, &silentClose{err}
		}
		return nil, err
	}
	var wh *wireHead
	if wire {
		wh = &c.wire
	}
	if lh, ok := readLeanHead(c.br, r, wh); ok {
		if lh.length > int64(c.br.Buffered()) {
			// Body bytes still to come are read without the header
			// deadline; a body already in the buffer needs no read, and
			// the deadline left set saves a timer update per request.
			c.setReadDeadline(time.Time{})
		}
		res := lh.res
		if lh.wire != nil {
			if ka := lh.wire.keepAlive; ka != "" {
				c.idleFor = keepAliveIdle([]string{ka}, c.idleFor)
			}
		} else {
			c.noteKeepAlive(res)
		}
		res.Body = &h1body{t: t, c: c, stop: stop, reuse: !r.Close, lean: true, left: lh.length, wire: lh.wire}
		return res, nil
	}
	res, err := http.ReadResponse(c.br, r)
	for n := 0; err == nil && res.StatusCode >= 100 && res.StatusCode < 200; n++ {
		if n == maxInterim {
			err = errTooManyInterim
			break
		}
		reportInterim(r, res, it) // 103 Early Hints and the like go to the client
		res, err = http.ReadResponse(c.br, r)
	}
	if err == nil {
		c.setReadDeadline(time.Time{})
	}
	if err != nil {
		stop()
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
		return nil, err
	}
	c.noteKeepAlive(res)
	res.Body = &h1body{t: t, c: c, rc: res.Body, stop: stop, reuse: !res.Close && !r.Close}
	return res, nil
}

// headerDeadline is the deadline for an origin's response head: wait
// after now, rounded up to a sixteenth of wait, so that requests in the
// same sixteenth share one deadline and the connection's timer is not
// updated for each (a runtime timer update per request showed in the
// profile). The head is thus waited for at most wait*17/16.
func headerDeadline(now time.Time, wait time.Duration) time.Time {
	return deadline.Round(now.Add(wait), deadline.Granule(wait))
}

// setReadDeadline sets c's read deadline unless it is the one set.
func (c *h1conn) setReadDeadline(t time.Time) {
	deadline.Set(&c.readDeadline, t, 0, c.nc.SetReadDeadline)
}

// onCancel runs cut when ctx is done, until stop is called. A context with
// an AfterFunc of its own (h1server's request context, under the 1xx
// trace) takes cut directly: context.AfterFunc would wrap it in a context
// of its own and take the parent's Done, which keeps h1server from reusing
// the request's context and http.Request for the connection's next
// request.
func onCancel(ctx context.Context, cut func()) (stop func() bool) {
	if af, ok := ctx.(afterFuncer); ok {
		return af.AfterFunc(cut)
	}
	return context.AfterFunc(ctx, cut)
}

// noteKeepAlive shortens c's idle timeout to what the origin announced.
func (c *h1conn) noteKeepAlive(res *http.Response) {
	if ka := res.Header["Keep-Alive"]; ka != nil {
		c.idleFor = keepAliveIdle(ka, c.idleFor)
	}
}

// appendRequest appends a body-less request in origin form to dst.
func appendRequest(dst []byte, r *http.Request) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	if p := r.URL.EscapedPath(); p != "" {
		dst = append(dst, p...)
	} else {
		dst = append(dst, '/')
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		dst = append(dst, '?')
		dst = append(dst, r.URL.RawQuery...)
	}
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	for k, vv := range r.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vv {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	if r.Close {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// maxKeptRequestBuf bounds the request buffer a pooled connection keeps
// between requests; a larger head's buffer is let go after it is sent.
const maxKeptRequestBuf = 8 << 10

// send writes r on c. On a plain TCP connection it also waits until the
// answer is there to read (rawio's SendThenAwait), which saves the read
// that would find nothing yet.
func (c *h1conn) send(r *http.Request) error {
	out := appendRequest(c.out[:0], r)
	if cap(out) <= maxKeptRequestBuf {
		c.out = out
	}
	if c.sock == nil {
		_, err := c.nc.Write(out)
		return err
	}
	n, err := c.sock.SendThenAwait(out)
	if err == nil && n < len(out) {
		_, err = c.sock.Write(out[n:])
	}
	return err
}

// conn returns an idle pooled connection or dials a new one; reused says
// which.
func (t *h1Transport) conn(r *http.Request, now time.Time) (*h1conn, bool, error) {
	if c := t.takeIdle(originKey{r.URL.Scheme, r.URL.Host}, now); c != nil {
		return c, true, nil
	}
	c, err := t.dialFor(r)
	return c, false, err
}

// dialFor dials a new connection to r's origin.
func (t *h1Transport) dialFor(r *http.Request) (*h1conn, error) {
	c, err := t.dial(r.Context(), r.URL.Scheme, r.URL.Host)
	if err != nil {
		return nil, err
	}
	c.key = originKey{r.URL.Scheme, r.URL.Host}
	c.idleFor = t.idleFor
	return c, nil
}

// defaultPeekAfter is how long a connection must have sat idle before it is
// peeked at (closedByPeer) when taken. Origins close idle connections
// after their idle timeout, seconds in common servers' defaults, and that is
// when a stray byte (a 408 sent as they close) can be waiting. A
// connection back in the pool for less is taken without the system call,
// one of five a pass-through request made: if the origin did close it
// meanwhile, the request gets no response byte and roundTrip sends it again
// on a new connection (levee_proxy_stale_retries_total), as it already did
// for a close that lands between the peek and the write.
const defaultPeekAfter = 100 * time.Millisecond

// takeIdle pops the most recently used idle connection that is within
// its idle timeout and still open. Those found expired or closed by the
// origin are closed and dropped; the check costs one non-blocking peek,
// made on connections idle for t.peekAfter or longer.
func (t *h1Transport) takeIdle(key originKey, now time.Time) *h1conn {
	for {
		c := t.pop(key)
		if c == nil {
			return nil
		}
		if !c.readDeadline.IsZero() && !now.Before(c.readDeadline) {
			// A head's deadline left set has passed while the connection
			// was idle: the peek would read it as a failure.
			c.setReadDeadline(time.Time{})
		}
		idle := now.Sub(c.idleAt)
		switch {
		case idle >= c.idleFor:
			t.counts.Expired.Add(1)
		case idle >= t.peekAfter && c.closedByPeer():
			t.counts.ClosedByOrigin.Add(1)
		default:
			return c
		}
		c.close()
	}
}

func (t *h1Transport) pop(key originKey) *h1conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	stack := t.idle[key]
	if len(stack) == 0 {
		return nil
	}
	c := stack[len(stack)-1]
	stack[len(stack)-1] = nil
	t.idle[key] = stack[:len(stack)-1]
	return c
}

// putIdle pushes c on its origin's stack. The stack is used from the top,
// so connections at its bottom can outlive their timeout unseen: expired
// ones are closed from the bottom on the way.
func (t *h1Transport) putIdle(c *h1conn) {
	now := time.Now()
	c.idleAt = now
	if c.idleFor <= 0 {
		c.close()
		return
	}
	var expired []*h1conn
	t.mu.Lock()
	stack := t.idle[c.key]
	n := 0
	for n < len(stack) && now.Sub(stack[n].idleAt) >= stack[n].idleFor {
		n++
	}
	if n > 0 {
		expired = append(expired, stack[:n]...)
		stack = append(stack[:0], stack[n:]...)
		clear(stack[len(stack) : len(stack)+n])
	}
	keep := len(stack) < t.maxIdle
	if keep {
		stack = append(stack, c)
	}
	t.idle[c.key] = stack
	t.mu.Unlock()
	t.counts.Expired.Add(int64(len(expired)))
	for _, e := range expired {
		e.close()
	}
	if !keep {
		t.counts.PoolFull.Add(1)
		c.close()
	}
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
	t.counts.Dials.Add(1)
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
	var rd io.Reader = nc
	sock := rawio.New(nc)
	if sock != nil {
		rd = sock
	}
	c := &h1conn{nc: nc, br: bufio.NewReaderSize(rd, 16<<10), sock: sock}
	c.preparePeek()
	c.cut = func() { nc.SetDeadline(time.Unix(1, 0)) }
	return c, nil
}

// CloseIdleConnections closes every pooled connection of both paths.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	for k, stack := range t.idle {
		for _, c := range stack {
			c.close()
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
	// lean: the head was read by readLeanHead and the body is the next
	// left bytes of the connection, read here without a reader of
	// net/http's in between.
	lean bool
	left int64
	// wire, when set, is the response's head as bytes (the response's
	// Header is nil until responseHeader builds it).
	wire *wireHead
}

func (b *h1body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.lean {
		return b.readLean(p)
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// readLean reads the body of a lean head. The last bytes come with
// io.EOF, so the connection goes back to the pool without another call.
func (b *h1body) readLean(p []byte) (int, error) {
	if b.left == 0 {
		b.finish(true)
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.c.br.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		b.finish(true)
		return n, io.EOF
	case err == io.EOF:
		b.finish(false)
		return n, io.ErrUnexpectedEOF
	case err != nil:
		b.finish(false)
	}
	return n, err
}

// whole returns the rest of a lean body when all of it is in the
// connection's buffer. The bytes are the buffer's: the caller must be done
// with them before consumeWhole, which hands the connection back.
func (b *h1body) whole() ([]byte, bool) {
	if !b.lean || b.done || b.left <= 0 || int64(b.c.br.Buffered()) < b.left {
		return nil, false
	}
	p, err := b.c.br.Peek(int(b.left))
	return p, err == nil
}

// consumeWhole ends a body taken by whole, as reading it to the end would.
func (b *h1body) consumeWhole() {
	b.c.br.Discard(int(b.left))
	b.left = 0
	b.finish(true)
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
	b.c.close()
}

func staleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// keepAliveIdle returns how long to keep a connection whose response said
// Keep-Alive: timeout=N: a quarter less than N, at most a second less, so
// the request is not sent just as the origin closes; never more than def.
func keepAliveIdle(values []string, def time.Duration) time.Duration {
	for _, v := range values {
		for _, param := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(param, "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "timeout") {
				continue
			}
			secs, err := strconv.ParseInt(strings.TrimSpace(val), 10, 32)
			if err != nil || secs < 0 {
				return def
			}
			d := time.Duration(secs) * time.Second
			d -= min(d/4, time.Second)
			return min(d, def)
		}
	}
	return def
}
