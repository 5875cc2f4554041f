package h1server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"levee/internal/deadline"
)

// response is the http.ResponseWriter of one request. The header is written
// at the first body write, flush or the handler's return, so a handler that
// writes nothing gets "Content-Length: 0". Without a Content-Length the body
// is chunked (HTTP/1.1) or ends with the connection (HTTP/1.0).
type response struct {
	cn     *conn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // the handler chose the status
	headSent    bool // status line and header are in the write buffer
	done        bool // the handler returned
	noBody      bool // HEAD, 1xx, 204 or 304
	chunked     bool
	closeAfter  bool
	length      int64 // declared Content-Length, -1 if none
	written     int64
	trailers    []string // declared in "Trailer" (chunked responses)
}

var errAfterHandler = errors.New("http1: write after the handler returned")

func (w *response) reset(cn *conn, r *http.Request) {
	h := w.header
	if h == nil {
		h = make(http.Header, 16)
	} else {
		clear(h)
	}
	*w = response{cn: cn, req: r, header: h, length: -1}
}

func (w *response) Header() http.Header { return w.header }

// Arrived is when the request's first bytes were found readable
// (httpwire.Arrival).
func (w *response) Arrived() time.Time { return w.cn.arrived }

func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.done {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	w.wroteHeader, w.status = true, code
}

// writeInformational sends a 1xx (such as 103 Early Hints) at once, with
// the header as it stands.
func (w *response) writeInformational(code int) {
	if w.req.ProtoMajor == 1 && w.req.ProtoMinor == 0 {
		return // RFC 9110 15.2: no 1xx to an HTTP/1.0 client
	}
	bw := w.cn.bw
	writeStatusLine(bw, code)
	for k, vv := range w.header {
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.closeAfter = true
	}
}

// begin is the start of every body write and flush: a 200 unless the
// handler chose, and the head. first is the body's start, for sniffing.
func (w *response) begin(first []byte) error {
	if w.done {
		return errAfterHandler
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.sendHead(first, false)
	}
	return nil
}

func (w *response) Write(p []byte) (int, error) {
	if err := w.begin(p); err != nil {
		return 0, err
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if len(p) == 0 {
		return 0, nil
	}
	var err error
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		p, err = p[:w.length-w.written], http.ErrContentLength
	}
	n, werr := w.writeBody(p)
	w.written += int64(n)
	if werr != nil {
		w.closeAfter = true
		return n, werr
	}
	return n, err
}

func (w *response) writeBody(p []byte) (int, error) {
	bw := w.cn.bw
	if !w.chunked {
		if w.cn.sock != nil && len(p) > bw.Available() {
			return w.writeLarge(p)
		}
		return bw.Write(p)
	}
	size := strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16)
	bw.Write(append(size, "\r\n"...))
	n, err := bw.Write(p)
	if err == nil {
		_, err = bw.WriteString("\r\n")
	}
	return n, err
}

// writeLarge writes a body part larger than the room left in the write
// buffer straight from p, after what the buffer holds (the head): bufio
// would copy the start of p into the buffer and send it as a segment of
// its own.
func (w *response) writeLarge(p []byte) (int, error) {
	if _, err := w.flushBefore(int64(len(p))); err != nil {
		return 0, err
	}
	return w.cn.sock.Write(p)
}

// flushBefore flushes the write buffer ahead of n body bytes sent past it.
// On a raw socket the buffered bytes (the head) wait in the socket for the
// body's first bytes (MSG_MORE): sent alone they are a packet of their
// own, delivered and read apart. more says MSG_MORE was used: the caller
// must send again, or Push.
func (w *response) flushBefore(n int64) (more bool, err error) {
	more = w.cn.sock != nil && n > 0 && w.cn.bw.Buffered() > 0
	if more {
		w.cn.sock.MoreFollows()
	}
	return more, w.cn.bw.Flush()
}

// ReadFrom sends a file (or memfd) body with sendfile when the length is
// known, through the write buffer otherwise.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if err := w.begin(nil); err != nil {
		return 0, err
	}
	rf, ok := w.cn.c.(io.ReaderFrom)
	if w.noBody || w.chunked || w.length < 0 || !ok {
		return w.copyFrom(src)
	}
	remaining := w.length - w.written
	if lr, isLR := src.(*io.LimitedReader); !isLR || lr.N > remaining {
		if _, isFile := src.(*os.File); !isFile {
			return w.copyFrom(src)
		}
		src = &io.LimitedReader{R: src, N: remaining}
	}
	more, err := w.flushBefore(remaining)
	if err != nil {
		w.closeAfter = true
		return 0, err
	}
	n, err := rf.ReadFrom(src)
	w.written += n
	if err != nil {
		w.closeAfter = true
	}
	if more && n == 0 {
		// Nothing followed the head: send it now (the connection is closed
		// after an error, which sends it too, but not before the handler
		// returns).
		_ = w.cn.sock.Push()
	}
	return n, err
}

// copyBuffers are ReadFrom's copy buffers where sendfile cannot serve (a
// TLS connection, a chunked body): io.Copy would allocate 32 KiB per
// response for a source without WriteTo, such as a cached file's section.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (w *response) copyFrom(src io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(writerOnly{w}, src, *buf)
}

func (w *response) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController calls.
func (w *response) FlushError() error {
	if err := w.begin(nil); err != nil {
		return err
	}
	err := w.cn.bw.Flush()
	if err != nil {
		w.closeAfter = true
	}
	return err
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
// A write deadline already set at most a sixteenth of WriteTimeout later
// than t stands (the proxy extends the response's deadline as its body
// starts to move: the one the request began with).
//
// The read deadline is also set by the client watch's read, on another
// goroutine, under the watch's lock: taken here too.
func (w *response) SetReadDeadline(t time.Time) error {
	w.cn.watch.mu.Lock()
	defer w.cn.watch.mu.Unlock()
	return w.cn.setReadDeadline(t, 0)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	return w.cn.setWriteDeadline(t, deadline.Granule(w.cn.srv.WriteTimeout))
}

// finish completes the response after the handler returned and reports
// whether the connection may carry another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.sendHead(nil, true)
	}
	w.done = true
	bw := w.cn.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	}
	if w.length >= 0 && w.written < w.length && !w.noBody {
		// The body is shorter than declared: the client can only tell by the
		// connection closing.
		w.closeAfter = true
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	return !w.closeAfter
}

// writeTrailers sends the fields announced in "Trailer" and those set with
// http.TrailerPrefix, as net/http does.
func (w *response) writeTrailers() {
	bw := w.cn.bw
	for _, name := range w.trailers {
		for _, v := range w.header[name] {
			writeField(bw, name, v)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			for _, v := range vv {
				writeField(bw, name, v)
			}
		}
	}
}
