package h2server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// stream is one request and its response. Fields below are guarded by
// the connection's mu unless noted.
type stream struct {
	c      *conn
	id     uint32
	ctx    context.Context
	cancel context.CancelFunc
	req    *http.Request
	w      responseWriter // the handler's goroutine only
	h      http.Handler

	sendWindow     int64
	recvWindow     int64
	recvCredit     int64
	closed         bool // in the protocol's sense
	remoteDone     bool // the client sent END_STREAM
	resetSent      bool // RST_STREAM went either way: nothing more goes out
	peerReset      bool // the client sent RST_STREAM
	done           bool // the handler returned
	handlerRunning bool

	body         []byte // received, unread
	bodyOff      int
	bodyBuffered int
	bodyErr      error // set when the body ends abnormally
	bodyCond     sync.Cond
	declaredLen  int64 // -1 if none
	received     int64
	trailer      http.Header
	readDeadline *time.Timer
	// writeTimer ends a response that cannot go on: at the handler's
	// write deadline (http.ResponseController), or when the stream has
	// waited for flow-control window longer than the server's stall bound
	// (a client that reads the socket but never grants window).
	writeTimer    *time.Timer
	writeDeadline time.Time // set by the handler; zero if none
	awaitingSince time.Time // when the stream began to wait for window; zero if not
	writeTimedOut bool
	expect100     bool
	sent100       bool
	bodyTrailerOK bool
}

// abortLocked ends the stream for its handler: body reads and writes fail,
// the context is cancelled.
func (st *stream) abortLocked(err error) {
	if st.bodyErr == nil {
		st.bodyErr = err
	}
	st.bodyCond.Broadcast()
	if st.cancel != nil {
		st.cancel()
	}
}

// headerBlock collects one HEADERS (+CONTINUATION) block as it is decoded.
type headerBlock struct {
	c         *conn
	streamID  uint32
	endStream bool
	kind      int // blockRequest, blockTrailers, blockIgnore
	frames    int
	raw       int
	size      uint32
	truncated bool
	invalid   bool
	regular   bool
	pseudo    uint8
	method    string
	scheme    string
	authority string
	path      string
	header    http.Header
	cookies   []string
	order     []byte // pseudo-header order, for the fingerprint
}

const (
	blockRequest = iota
	blockTrailers
	blockIgnore
)

func (hb *headerBlock) reset(id uint32, end bool, kind int) {
	*hb = headerBlock{c: hb.c, streamID: id, endStream: end, kind: kind, order: hb.order[:0], cookies: hb.cookies[:0]}
	hb.header = make(http.Header, 8)
}

func (hb *headerBlock) emit(f hpack.HeaderField) {
	if hb.truncated || hb.invalid {
		return
	}
	hb.size += f.Size()
	if hb.size > hb.c.srv.maxHeaderList() {
		hb.truncated = true
		hb.c.hdec.SetEmitEnabled(false)
		return
	}
	if !httpguts.ValidHeaderFieldValue(f.Value) {
		hb.invalid = true
		return
	}
	if strings.HasPrefix(f.Name, ":") {
		hb.emitPseudo(f)
		return
	}
	hb.regular = true
	if !validFieldName(f.Name) {
		hb.invalid = true
		return
	}
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		hb.invalid = true // connection-specific: malformed in HTTP/2
		return
	case "te":
		if f.Value != "trailers" {
			hb.invalid = true
			return
		}
	case "cookie":
		hb.cookies = append(hb.cookies, f.Value)
		return
	}
	k := canonicalKey(f.Name)
	hb.header[k] = append(hb.header[k], f.Value)
}

func (hb *headerBlock) emitPseudo(f hpack.HeaderField) {
	if hb.regular || hb.kind == blockTrailers {
		hb.invalid = true
		return
	}
	var bit uint8
	var dst *string
	switch f.Name {
	case ":method":
		bit, dst = 1, &hb.method
		hb.order = append(hb.order, 'm')
	case ":scheme":
		bit, dst = 2, &hb.scheme
		hb.order = append(hb.order, 's')
	case ":authority":
		bit, dst = 4, &hb.authority
		hb.order = append(hb.order, 'a')
	case ":path":
		bit, dst = 8, &hb.path
		hb.order = append(hb.order, 'p')
	default:
		hb.invalid = true
		return
	}
	if hb.pseudo&bit != 0 {
		hb.invalid = true
		return
	}
	hb.pseudo |= bit
	*dst = f.Value
}

func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b >= 'A' && b <= 'Z' {
			return false
		}
	}
	return httpguts.ValidHeaderFieldName(name)
}

func (c *conn) onHeaders(f *http2.HeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	kind := blockRequest
	c.mu.Lock()
	st := c.streams[id]
	switch {
	case id > c.lastStreamID:
		c.lastStreamID = id
		if c.goAwaySent {
			kind = blockIgnore
		}
	case st != nil && !st.closed && !st.remoteDone:
		kind = blockTrailers
	case st != nil && !st.closed:
		c.mu.Unlock()
		c.resetStream(id, http2.ErrCodeStreamClosed)
		return c.decodeOnly(f)
	case c.resetByUsLocked(id) && (st == nil || !st.peerReset):
		c.mu.Unlock()
		return c.decodeOnly(f) // sent before our RST_STREAM reached the client
	default:
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	c.mu.Unlock()
	if f.HasPriority() && f.Priority.StreamDep == id {
		c.resetStream(id, http2.ErrCodeProtocol)
		return c.decodeOnly(f)
	}
	c.hb.reset(id, f.StreamEnded(), kind)
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded())
}

// decodeOnly keeps the HPACK state in step for a block that is refused.
func (c *conn) decodeOnly(f *http2.HeadersFrame) error {
	c.hb.reset(f.StreamID, f.StreamEnded(), blockIgnore)
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded())
}

func (c *conn) onContinuation(f *http2.ContinuationFrame) error {
	c.hb.frames++
	if c.hb.frames > maxContinuations {
		c.srv.Stats().FloodCuts.Add(1)
		return &cutError{http2.ErrCodeEnhanceYourCalm, "too many CONTINUATION frames"}
	}
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded())
}

// feedBlock decodes a fragment of a header block and, on its last one,
// ends the block.
func (c *conn) feedBlock(frag []byte, ended bool) error {
	if err := c.feed(frag); err != nil {
		return err
	}
	if ended {
		return c.endHeaders()
	}
	return nil
}

// feed decodes a fragment. A block far past the header list bound is cut
// before it is decoded (CONTINUATION floods).
func (c *conn) feed(frag []byte) error {
	c.hb.raw += len(frag)
	if c.hb.raw > 2*int(c.srv.maxHeaderList())+int(c.srv.maxFrame()) {
		c.srv.Stats().FloodCuts.Add(1)
		return &cutError{http2.ErrCodeEnhanceYourCalm, "header block too large"}
	}
	c.hdec.SetEmitEnabled(true)
	if _, err := c.hdec.Write(frag); err != nil {
		return http2.ConnectionError(http2.ErrCodeCompression)
	}
	return nil
}

func (c *conn) endHeaders() error {
	if err := c.hdec.Close(); err != nil {
		return http2.ConnectionError(http2.ErrCodeCompression)
	}
	hb := &c.hb
	switch hb.kind {
	case blockIgnore:
		return nil
	case blockTrailers:
		return c.onTrailers(hb)
	}
	return c.startStream(hb)
}

func (c *conn) onTrailers(hb *headerBlock) error {
	if !hb.endStream || hb.invalid || hb.pseudo != 0 {
		c.resetStream(hb.streamID, http2.ErrCodeProtocol)
		return nil
	}
	c.lockWrite()
	defer c.unlockWrite()
	st := c.streams[hb.streamID]
	if st == nil || st.closed {
		return nil
	}
	st.trailer = hb.header
	c.endBodyLocked(st)
	return nil
}

// startStream validates a request's head and runs its handler.
func (c *conn) startStream(hb *headerBlock) error {
	if !c.fp.done {
		c.fp.finish(c.ctx, hb.order)
	}
	req, err := c.newRequest(hb)
	if err != nil {
		c.resetStream(hb.streamID, http2.ErrCodeProtocol)
		return nil
	}
	c.lockWrite()
	maxStreams := int(c.srv.maxStreams())
	if c.running >= 4*maxStreams {
		c.unlockWrite()
		c.srv.Stats().FloodCuts.Add(1)
		return &cutError{http2.ErrCodeEnhanceYourCalm, "too many handlers still running"}
	}
	if c.open >= maxStreams {
		c.srv.Stats().RefusedStreams.Add(1)
		_ = c.fr.WriteRSTStream(hb.streamID, http2.ErrCodeRefusedStream)
		c.unlockWrite()
		return nil
	}
	st := &stream{c: c, id: hb.streamID, h: c.handler, declaredLen: req.ContentLength}
	st.bodyCond.L = &c.mu
	st.sendWindow = c.initWindow
	st.recvWindow = streamRecvWindow
	st.remoteDone = hb.endStream
	st.ctx, st.cancel = context.WithCancel(c.ctx)
	st.expect100 = req.Header.Get("Expect") == "100-continue"
	if hb.truncated {
		st.h = http.HandlerFunc(headerTooLarge)
	}
	if !hb.endStream {
		req.Body = &requestBody{st: st}
	}
	st.req = req.WithContext(st.ctx)
	st.w.init(st)
	st.handlerRunning = true
	c.streams[st.id] = st
	c.open++
	c.running++
	c.moreInput = c.br.Buffered() > 0
	c.setIdle()
	c.unlockWrite()
	c.srv.goroutine("h2-stream", func() { c.runHandler(st) })
	return nil
}

func headerTooLarge(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "request header fields too large", http.StatusRequestHeaderFieldsTooLarge)
}

// newRequest builds the handler's request from a validated head.
func (c *conn) newRequest(hb *headerBlock) (*http.Request, error) {
	if hb.invalid {
		return nil, errMalformed
	}
	connect := hb.method == "CONNECT"
	switch {
	case hb.method == "":
		return nil, errMalformed
	case connect && (hb.authority == "" || hb.scheme != "" || hb.path != ""):
		return nil, errMalformed
	case !connect && (hb.scheme == "" || hb.path == ""):
		return nil, errMalformed
	case !connect && hb.path[0] != '/' && !(hb.path == "*" && hb.method == "OPTIONS"):
		return nil, errMalformed
	}
	if len(hb.cookies) > 0 {
		hb.header["Cookie"] = []string{strings.Join(hb.cookies, "; ")}
	}
	host := hb.authority
	if host == "" {
		host = hb.header.Get("Host")
	}
	r := &http.Request{
		Method:     hb.method,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     hb.header,
		Host:       host,
		RemoteAddr: c.remote,
		TLS:        c.tlsState,
		Body:       http.NoBody,
	}
	var err error
	if connect {
		r.URL, r.RequestURI = &url.URL{Host: hb.authority}, hb.authority
	} else if r.URL, err = parsePath(hb.path); err != nil {
		return nil, errMalformed
	} else {
		r.RequestURI = hb.path
	}
	if r.ContentLength, err = contentLength(hb); err != nil {
		return nil, err
	}
	if tr := hb.header["Trailer"]; len(tr) > 0 {
		r.Trailer = declaredTrailers(tr)
	}
	return r, nil
}

var errMalformed = errors.New("h2: malformed request head")

// parsePath avoids url.ParseRequestURI for the common plain path.
func parsePath(p string) (*url.URL, error) {
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f || b == '%' || b == '#' {
			return url.ParseRequestURI(p)
		}
	}
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return &url.URL{Path: p[:i], RawQuery: p[i+1:], ForceQuery: i == len(p)-1}, nil
	}
	return &url.URL{Path: p}, nil
}

func contentLength(hb *headerBlock) (int64, error) {
	vs := hb.header["Content-Length"]
	if len(vs) == 0 {
		if hb.endStream {
			return 0, nil
		}
		return -1, nil
	}
	n, err := strconv.ParseUint(vs[0], 10, 63)
	if err != nil || len(vs) > 1 && !allSame(vs) {
		return 0, errMalformed
	}
	if hb.endStream && n != 0 {
		return 0, errMalformed
	}
	return int64(n), nil
}

func allSame(vs []string) bool {
	for _, v := range vs[1:] {
		if v != vs[0] {
			return false
		}
	}
	return true
}

func declaredTrailers(vs []string) http.Header {
	t := http.Header{}
	for _, v := range vs {
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
				t[k] = nil
			}
		}
	}
	return t
}

func (c *conn) onData(f *http2.DataFrame) error {
	data := f.Data()
	length := int64(f.Header().Length)
	if len(data) == 0 && !f.StreamEnded() {
		if err := c.budget(0); err != nil {
			return err
		}
	}
	c.lockWrite()
	defer c.unlockWrite()
	if length > c.recvWindow {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= length
	st := c.streams[f.StreamID]
	if st == nil || st.closed || st.remoteDone {
		c.creditLocked(length)
		if f.StreamID > c.lastStreamID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		// Closed by the client, or half-closed by it: STREAM_CLOSED.
		// Frames after our own RST_STREAM are ignored (RFC 9113 5.1).
		switch {
		case st != nil && !st.closed:
			c.resetLocked(f.StreamID, st, http2.ErrCodeStreamClosed)
		case st == nil && !c.resetByUsLocked(f.StreamID) || st != nil && (!st.resetSent || st.peerReset):
			_ = c.fr.WriteRSTStream(f.StreamID, http2.ErrCodeStreamClosed)
		}
		return nil
	}
	if length > st.recvWindow {
		c.creditLocked(length)
		c.resetLocked(f.StreamID, st, http2.ErrCodeFlowControl)
		return nil
	}
	st.recvWindow -= length
	if pad := length - int64(len(data)); pad > 0 {
		c.creditLocked(pad)
		st.recvCredit += pad
	}
	st.received += int64(len(data))
	if st.declaredLen >= 0 && st.received > st.declaredLen {
		c.creditLocked(int64(len(data)))
		c.resetLocked(f.StreamID, st, http2.ErrCodeProtocol)
		return nil
	}
	if len(data) > 0 {
		if st.bodyOff > 0 && st.bodyOff == len(st.body) {
			st.body, st.bodyOff = st.body[:0], 0
		}
		st.body = append(st.body, data...)
		st.bodyBuffered += len(data)
		st.bodyCond.Broadcast()
	}
	if f.StreamEnded() {
		if st.declaredLen >= 0 && st.received != st.declaredLen {
			c.resetLocked(f.StreamID, st, http2.ErrCodeProtocol)
			return nil
		}
		c.endBodyLocked(st)
	}
	return nil
}

// endBodyLocked marks the client's side done; the stream closes if the
// response is done too.
func (c *conn) endBodyLocked(st *stream) {
	st.remoteDone = true
	st.bodyCond.Broadcast()
	if st.done {
		c.closeStreamLocked(st)
	}
}

// requestBody is a stream's request body, fed by the read loop within the
// stream's receive window.
type requestBody struct{ st *stream }

func (b *requestBody) Read(p []byte) (int, error) {
	st := b.st
	c := st.c
	c.lockWrite()
	defer c.unlockWrite()
	for st.bodyBuffered == 0 && !st.remoteDone && st.bodyErr == nil {
		if st.expect100 && !st.sent100 && !st.w.headersSent {
			st.sent100 = true
			c.writeHeadersLocked(st.id, false, func() { c.encodeField(":status", "100") })
		}
		if c.bw.Buffered() > 0 && c.writeErr == nil {
			if err := c.bw.Flush(); err != nil {
				c.writeFailedLocked(err)
			}
		}
		c.writers.Add(-1)
		st.bodyCond.Wait()
		c.writers.Add(1)
	}
	if st.bodyBuffered > 0 {
		n := copy(p, st.body[st.bodyOff:])
		st.bodyOff += n
		st.bodyBuffered -= n
		c.returnCreditLocked(st, int64(n))
		return n, nil
	}
	if st.bodyErr != nil {
		return 0, st.bodyErr
	}
	if st.trailer != nil && st.req.Trailer != nil {
		for k, v := range st.trailer {
			st.req.Trailer[k] = v
		}
	}
	return 0, io.EOF
}

// returnCreditLocked gives read bytes back to the client's windows.
func (c *conn) returnCreditLocked(st *stream, n int64) {
	c.creditLocked(n)
	st.recvWindow += n
	st.recvCredit += n
	if !st.remoteDone && !st.closed && st.recvCredit >= streamRecvWindow/4 && c.writeErr == nil {
		_ = c.fr.WriteWindowUpdate(st.id, uint32(st.recvCredit))
		st.recvCredit = 0
	}
}

func (b *requestBody) Close() error {
	st := b.st
	st.c.lockWrite()
	defer st.c.unlockWrite()
	if st.bodyErr == nil {
		st.bodyErr = errBodyClosed
	}
	if st.bodyBuffered > 0 {
		st.c.returnCreditLocked(st, int64(st.bodyBuffered))
		st.bodyBuffered, st.bodyOff, st.body = 0, 0, st.body[:0]
	}
	return nil
}

var errBodyClosed = errors.New("h2: read on closed body")

// setWriteDeadline makes the response's writes fail once t passes: the
// stream is reset and every later write returns os.ErrDeadlineExceeded.
func (st *stream) setWriteDeadline(t time.Time) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st.writeDeadline = t
	st.armWriteTimerLocked()
}

// armWriteTimerLocked sets the write timer to the earlier of the
// handler's deadline and the end of the current wait for window.
func (st *stream) armWriteTimerLocked() {
	at := st.writeDeadline
	if !st.awaitingSince.IsZero() {
		if stall := st.awaitingSince.Add(st.c.srv.stall()); at.IsZero() || stall.Before(at) {
			at = stall
		}
	}
	if at.IsZero() {
		if st.writeTimer != nil {
			st.writeTimer.Stop()
		}
		return
	}
	if st.writeTimer == nil {
		st.writeTimer = time.AfterFunc(time.Until(at), st.onWriteTimer)
		return
	}
	st.writeTimer.Reset(time.Until(at))
}

// onWriteTimer resets a stream whose response is past its deadline or has
// waited too long for window. A timer that fires late, after the deadline
// moved or the window came, finds nothing due and re-arms itself.
func (st *stream) onWriteTimer() {
	c := st.c
	c.lockWrite()
	defer c.unlockWrite()
	if st.done || st.w.ended || st.resetSent {
		return
	}
	now := time.Now()
	dueDeadline := !st.writeDeadline.IsZero() && !now.Before(st.writeDeadline)
	dueStall := !st.awaitingSince.IsZero() && now.Sub(st.awaitingSince) >= c.srv.stall()
	if !dueDeadline && !dueStall {
		st.armWriteTimerLocked()
		return
	}
	st.writeTimedOut = true
	if dueStall {
		c.srv.Stats().StalledStreams.Add(1)
	}
	c.resetLocked(st.id, st, http2.ErrCodeInternal)
}

// setReadDeadline fails the body's reads once t passes.
func (st *stream) setReadDeadline(t time.Time) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.readDeadline != nil {
		st.readDeadline.Stop()
		st.readDeadline = nil
	}
	if t.IsZero() {
		return
	}
	st.readDeadline = time.AfterFunc(time.Until(t), func() {
		c.mu.Lock()
		if st.bodyErr == nil && !st.remoteDone {
			st.bodyErr = os.ErrDeadlineExceeded
			st.bodyCond.Broadcast()
		}
		c.mu.Unlock()
	})
}
