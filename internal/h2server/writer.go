package h2server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// bufSize is how much of a body a handler's writes collect before frames
// go out: a small answer leaves as HEADERS + one DATA with END_STREAM.
const bufSize = 8 << 10

// responseWriter is a stream's http.ResponseWriter. Only the handler's
// goroutine uses it; the frames it writes go out under the conn's mu.
type responseWriter struct {
	st          *stream
	header      http.Header
	status      int
	wroteHeader bool
	headersSent bool
	ended       bool
	isHead      bool
	buf         []byte
	written     int64
	declared    int64 // Content-Length the handler set, -1 if none
	trailers    []string
	// copying is set while ReadFrom runs: more of the body follows at
	// once, so its writes leave the frames for the connection buffer's
	// own full-size flushes (or flushDelay) instead of flushing each
	// chunk, which cut a 100 KiB body into 11 TLS records (and as many
	// write calls) where 7 carry it.
	copying bool
}

func (w *responseWriter) init(st *stream) {
	w.st = st
	w.header = make(http.Header, 8)
	w.declared = -1
	w.isHead = st.req.Method == http.MethodHead
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
	for _, v := range w.header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
				w.trailers = append(w.trailers, k)
			}
		}
	}
}

// writeInterim sends a 1xx response (103 Early Hints) at once.
func (w *responseWriter) writeInterim(code int) {
	c := w.st.c
	c.lockWrite()
	defer c.unlockWrite()
	if w.st.writableLocked() != nil {
		return
	}
	c.writeHeadersLocked(w.st.id, false, func() {
		c.encodeField(":status", statusText(code))
		c.encodeHeader(w.header)
	})
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == 204 || status == 304)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHead {
		return len(p), nil
	}
	if len(w.buf)+len(p) <= bufSize {
		if w.buf == nil {
			w.buf = make([]byte, 0, min(bufSize, max(len(p), 1024)))
		}
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if err := w.send(w.buf, false); err != nil {
		return 0, err
	}
	w.buf = w.buf[:0]
	if err := w.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *responseWriter) WriteString(s string) (int, error) {
	if len(w.buf)+len(s) <= bufSize && w.wroteHeader && bodyAllowed(w.status) && !w.isHead &&
		(w.declared < 0 || w.written+int64(len(s)) <= w.declared) && w.buf != nil {
		w.written += int64(len(s))
		w.buf = append(w.buf, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// copyBuffers serve ReadFrom: without it io.Copy allocates 32 KiB per
// response whose body is a reader (a cache hit kept in a memfd or a file),
// garbage at the rate of the hits.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writerOnly hides ReadFrom, so io.CopyBuffer does not call it again.
type writerOnly struct{ io.Writer }

// ReadFrom copies r to the response through a pooled buffer; each write
// goes out as Write's would (frames within the windows), and nothing keeps
// the buffer after Write returns.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	w.copying = true
	defer func() { w.copying = false }()
	return io.CopyBuffer(writerOnly{w}, r, *bp)
}

// Flush sends what is buffered; it leaves the connection as soon as no
// other stream is writing.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush for http.ResponseController.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	err := w.send(w.buf, false)
	w.buf = w.buf[:0]
	return err
}

// SetWriteDeadline bounds the response's writes (http.ResponseController):
// past t the stream is reset and writes return os.ErrDeadlineExceeded.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	w.st.setWriteDeadline(t)
	return nil
}

// SetReadDeadline bounds the reads of the request body
// (http.ResponseController).
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	w.st.setReadDeadline(t)
	return nil
}

// finish ends the response after the handler returned.
func (w *responseWriter) finish() {
	if w.ended {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.declared >= 0 && w.written != w.declared && !w.isHead && bodyAllowed(w.status) {
		w.st.c.resetStream(w.st.id, http2.ErrCodeInternal) // a truncated body must not look whole
		return
	}
	if !w.headersSent && w.declared < 0 && bodyAllowed(w.status) && (!w.isHead || w.written > 0) {
		w.header.Set("Content-Length", strconv.FormatInt(w.written, 10))
	}
	_ = w.send(w.buf, true)
	w.buf = w.buf[:0]
}

// send writes the head if it has not gone yet, then p as DATA frames
// within the flow-control windows; end closes the stream's side.
func (w *responseWriter) send(p []byte, end bool) error {
	st, c := w.st, w.st.c
	c.lockWrite()
	defer c.unlockWrite()
	if w.copying && !end {
		defer func() { c.deferFlush = true }() // runs before unlockWrite
	}
	if err := st.writableLocked(); err != nil {
		return err
	}
	trailers := end && w.hasTrailers()
	if !w.headersSent {
		w.headersSent = true
		endHead := end && len(p) == 0 && !trailers
		c.writeHeadersLocked(st.id, endHead, w.encodeHead)
		if endHead {
			w.endedLocked()
			return nil
		}
	}
	if end && len(p) == 0 && !trailers {
		err := c.fr.WriteData(st.id, true, nil)
		w.endedLocked()
		return err
	}
	for len(p) > 0 {
		n, err := c.awaitWindowLocked(st, len(p))
		if err != nil {
			return err
		}
		last := n == len(p) && end && !trailers
		if err := c.fr.WriteData(st.id, last, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	if end {
		if trailers {
			c.writeHeadersLocked(st.id, true, func() { c.encodeTrailers(w) })
		}
		w.endedLocked()
	}
	return nil
}

// endedLocked notes that END_STREAM went out: the stream is closed if the
// client's side is done too, and the frames may wait for those of the
// other running streams.
func (w *responseWriter) endedLocked() {
	c := w.st.c
	w.ended = true
	if w.st.remoteDone {
		c.closeStreamLocked(w.st)
	}
	c.deferFlush = c.moreInput || c.running > 1
}

func (w *responseWriter) hasTrailers() bool {
	for _, k := range w.trailers {
		if len(w.header[k]) > 0 {
			return true
		}
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

func (st *stream) writableLocked() error {
	if st.c.writeErr != nil {
		return st.c.writeErr
	}
	if st.writeTimedOut {
		return os.ErrDeadlineExceeded
	}
	if st.resetSent {
		return errStreamClosed
	}
	return nil
}

// awaitWindowLocked waits until both windows allow some bytes of a frame
// and takes them. It flushes before waiting: the client only grows the
// windows once it has read what we sent.
func (c *conn) awaitWindowLocked(st *stream, want int) (int, error) {
	for {
		if err := st.writableLocked(); err != nil {
			return 0, err
		}
		n := min(int64(want), c.sendWindow, st.sendWindow, int64(min(c.peerMaxFrame, 16<<10)))
		if n > 0 {
			c.sendWindow -= n
			st.sendWindow -= n
			st.windowCameLocked()
			return int(n), nil
		}
		if c.bw.Buffered() > 0 {
			if err := c.bw.Flush(); err != nil {
				c.writeFailedLocked(err)
				continue
			}
		}
		if st.awaitingSince.IsZero() {
			st.awaitingSince = time.Now()
			st.armWriteTimerLocked()
		}
		c.writers.Add(-1)
		c.wcond.Wait()
		c.writers.Add(1)
	}
}

// windowCameLocked ends a stream's wait for window.
func (st *stream) windowCameLocked() {
	if !st.awaitingSince.IsZero() {
		st.awaitingSince = time.Time{}
		st.armWriteTimerLocked()
	}
}

// writeHeadersLocked encodes a header block with the connection's HPACK
// encoder and writes it as HEADERS and, if it is larger than a frame,
// CONTINUATION frames.
func (c *conn) writeHeadersLocked(id uint32, end bool, encode func()) {
	c.hbuf.Reset()
	encode()
	block := c.hbuf.Bytes()
	max := int(min(c.peerMaxFrame, 16<<10))
	first := min(len(block), max)
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:first], EndStream: end, EndHeaders: first == len(block)})
	for block = block[first:]; len(block) > 0; {
		n := min(len(block), max)
		_ = c.fr.WriteContinuation(id, n == len(block), block[:n])
		block = block[n:]
	}
}

func (w *responseWriter) encodeHead() {
	c := w.st.c
	c.encodeField(":status", statusText(w.status))
	if v := w.header["Connection"]; len(v) > 0 && strings.EqualFold(v[0], "close") {
		// A draining server's "Connection: close": on HTTP/2, GOAWAY once
		// this stream is done, so the client moves to the new server.
		c.goAwaySoonLocked()
	}
	c.encodeHeader(w.header)
	if _, ok := w.header["Date"]; !ok {
		c.encodeField("date", httpDate())
	}
	if _, ok := w.header["Content-Type"]; !ok && bodyAllowed(w.status) && len(w.buf) > 0 {
		c.encodeField("content-type", http.DetectContentType(w.buf))
	}
}

func (c *conn) encodeHeader(h http.Header) {
	for k, vs := range h {
		switch k {
		case "Connection", "Transfer-Encoding", "Keep-Alive", "Proxy-Connection", "Upgrade":
			continue
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		lk := lowerKey(k)
		if !httpguts.ValidHeaderFieldName(lk) {
			continue
		}
		for _, v := range vs {
			if httpguts.ValidHeaderFieldValue(v) {
				c.encodeField(lk, v)
			}
		}
	}
}

func (c *conn) encodeTrailers(w *responseWriter) {
	for _, k := range w.trailers {
		for _, v := range w.header[k] {
			c.encodeField(lowerKey(k), v)
		}
	}
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			for _, v := range vs {
				c.encodeField(strings.ToLower(name), v)
			}
		}
	}
}

func (c *conn) encodeField(name, value string) {
	_ = c.henc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// goAwaySoonLocked sends GOAWAY now (new streams go elsewhere); the
// connection closes once its running streams are done.
func (c *conn) goAwaySoonLocked() {
	if c.goAwaySent || c.closed {
		return
	}
	c.goAwaySent = true
	c.goAwayID = c.lastStreamID
	_ = c.fr.WriteGoAway(c.lastStreamID, http2.ErrCodeNo, nil)
}

// runHandler runs a stream's handler behind its own wall: a panic resets
// that stream only.
func (c *conn) runHandler(st *stream) {
	ok := false
	defer func() { c.handlerDone(st, ok) }()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				c.srv.Stats().Panics.Add(1)
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logger().Error("h2: handler panic", "peer", c.remote, "panic", fmt.Sprint(v), "stack", string(buf))
			}
		}
	}()
	st.h.ServeHTTP(&st.w, st.req)
	ok = true
}

func (c *conn) handlerDone(st *stream, ok bool) {
	if ok {
		st.w.finish()
	} else {
		c.resetStream(st.id, http2.ErrCodeInternal)
	}
	c.lockWrite()
	st.done = true
	st.handlerRunning = false
	c.running--
	if st.readDeadline != nil {
		st.readDeadline.Stop()
	}
	if st.writeTimer != nil {
		st.writeTimer.Stop()
	}
	switch {
	case st.closed:
		delete(c.streams, st.id)
		c.setIdle()
	case !st.remoteDone:
		// The answer is complete before the request: the client may stop
		// sending (RFC 9113 8.1).
		c.resetLocked(st.id, st, http2.ErrCodeNo)
		delete(c.streams, st.id)
	default:
		c.closeStreamLocked(st)
		delete(c.streams, st.id)
	}
	if c.goAwaySent && c.open == 0 && c.running == 0 {
		c.closeAfterFlush = true
	}
	c.deferFlush = c.moreInput || c.running > 0
	c.unlockWrite()
	st.cancel()
}

// headerBuf is the HPACK encoder's output.
type headerBuf = bytes.Buffer
