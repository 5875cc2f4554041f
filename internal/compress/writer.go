package compress

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// state is where a response is in the compression decision.
type state uint8

const (
	undecided   state = iota // no status yet
	buffering                // eligible, length unknown: holding the first bytes
	compressing              // headers sent with Content-Encoding
	passing                  // sent as the inner phases wrote it
	replaying                // sent from the store; the inner body is dropped
)

// writer sits between the phases inside compress and the client. It
// decides at the status line whether to compress, and when the length is
// unknown holds at most MinSize bytes to decide: a body that ends below
// it is sent as it is. Beyond that it streams: every Write goes through
// the encoder, every Flush flushes the encoder first.
type writer struct {
	w      http.ResponseWriter
	s      *settings
	coding string // negotiated; "" means identity
	head   bool   // HEAD: headers only
	st     state
	status int
	buf    []byte
	enc    encoder
	// host and uri name the response in the store; key is set once the
	// response qualifies for it, tee collects the encoded bytes to store.
	host, uri string
	key       string
	tee       []byte
	teeOff    bool
	counted
}

// counted counts the bytes before and after encoding for the metrics.
type counted struct{ in, out int64 }

// countingWriter counts what the encoder writes to the client.
type countingWriter struct {
	w http.ResponseWriter
	n *int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// teeWriter copies what the encoder sends into the writer's tee, until it
// grows past what the store takes.
type teeWriter struct {
	out io.Writer
	cw  *writer
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.out.Write(p)
	cw := t.cw
	if !cw.teeOff {
		if len(cw.tee)+n > cw.s.store.maxEntry {
			cw.teeOff, cw.tee = true, nil
		} else {
			cw.tee = append(cw.tee, p[:n]...)
		}
	}
	return n, err
}

func (cw *writer) Header() http.Header { return cw.w.Header() }

// Unwrap lets pipeline.From and http.ResponseController reach the
// exchange (deadlines, hijack).
func (cw *writer) Unwrap() http.ResponseWriter { return cw.w }

func (cw *writer) WriteHeader(code int) {
	if cw.st != undecided {
		return
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols {
			cw.st = passing
		}
		cw.w.WriteHeader(code) // 1xx interim responses go straight through
		return
	}
	cw.status = code
	h := cw.w.Header()
	if !cw.s.eligible(code, h) {
		cw.pass()
		return
	}
	addVary(h)
	if cw.coding == "" {
		cw.pass()
		return
	}
	if cw.fromStore(h) {
		return
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < cw.s.minSize {
			cw.pass()
			return
		}
		cw.start()
		return
	}
	if cw.head {
		// The body that GET would send is unknown: answer as GET would
		// for a short one.
		cw.pass()
		return
	}
	cw.st = buffering
}

// fromStore answers from the store if it holds this response encoded,
// and otherwise marks the response for storing once encoded whole. Only
// responses with a strong ETag qualify (it names their exact bytes).
func (cw *writer) fromStore(h http.Header) bool {
	st := cw.s.store
	et := h.Get("ETag")
	if st == nil || cw.head || et == "" || strings.HasPrefix(et, "W/") {
		return false
	}
	key := storeKey(cw.coding, cw.host, cw.uri, et)
	body, ok := st.get(key)
	if !ok {
		cw.key = key
		return false
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Content-Encoding", cw.coding)
	h.Set("ETag", "W/"+et)
	cw.st = replaying
	cw.w.WriteHeader(cw.status)
	n, _ := cw.w.Write(body)
	cw.out += int64(n)
	return true
}

// pass sends the status as the inner phases wrote it.
func (cw *writer) pass() {
	cw.st = passing
	cw.w.WriteHeader(cw.status)
}

// start sends the status with the encoding's headers and opens the
// encoder. ETag is weakened: the encoded bytes differ from the
// identity's, so a strong validator would be wrong (RFC 9110 8.8.1), and a
// weak one still matches If-None-Match from a client holding either.
func (cw *writer) start() {
	h := cw.w.Header()
	h.Del("Content-Length")
	h.Set("Content-Encoding", cw.coding)
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("ETag", "W/"+et)
	}
	cw.st = compressing
	cw.w.WriteHeader(cw.status)
	if cw.head {
		return
	}
	var out io.Writer = countingWriter{w: cw.w, n: &cw.out}
	if cw.key != "" {
		out = teeWriter{out: out, cw: cw}
	}
	cw.enc = getEncoder(cw.coding, out)
	if cw.enc == nil {
		// No encoder (out of memory for one): too late to take the
		// header back, so fail the response rather than send identity
		// bytes labelled as encoded.
		cw.s.m.encoderErrors.Inc()
	}
}

func (cw *writer) Write(p []byte) (int, error) {
	if cw.st == undecided {
		cw.WriteHeader(http.StatusOK)
	}
	switch cw.st {
	case buffering:
		if int64(len(cw.buf)+len(p)) < cw.s.minSize {
			cw.buf = append(cw.buf, p...)
			return len(p), nil
		}
		cw.start()
		if err := cw.drain(); err != nil {
			return 0, err
		}
		return cw.encode(p)
	case compressing:
		return cw.encode(p)
	case replaying:
		cw.in += int64(len(p))
		return len(p), nil
	default:
		return cw.w.Write(p)
	}
}

func (cw *writer) encode(p []byte) (int, error) {
	if cw.head {
		return len(p), nil
	}
	if cw.enc == nil {
		return 0, errNoEncoder
	}
	cw.in += int64(len(p))
	return cw.enc.Write(p)
}

// drain sends what was buffered while deciding.
func (cw *writer) drain() error {
	if len(cw.buf) == 0 {
		return nil
	}
	b := cw.buf
	cw.buf = nil
	_, err := cw.encode(b)
	return err
}

// ReadFrom keeps sendfile for responses passed through; encoded ones are
// copied through the encoder.
func (cw *writer) ReadFrom(r io.Reader) (int64, error) {
	if cw.st == undecided {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.st == passing {
		if rf, ok := cw.w.(io.ReaderFrom); ok {
			return rf.ReadFrom(r)
		}
		return io.Copy(cw.w, r)
	}
	return io.Copy(writeOnly{cw}, r)
}

// writeOnly hides ReadFrom so io.Copy does not call back into it.
type writeOnly struct{ io.Writer }

// Flush sends what the encoder holds so far: a streaming response (SSE,
// chunks) reaches the client compressed as it is produced. A flush while
// deciding commits to compressing, as the response is a stream.
func (cw *writer) Flush() {
	if cw.st == undecided {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.st == buffering {
		cw.start()
		_ = cw.drain()
	}
	if cw.st == compressing && cw.enc != nil {
		_ = cw.enc.Flush()
	}
	if f, ok := cw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// finish ends the response after the inner phases return. If they failed
// before anything reached the client, what was buffered is dropped, so
// the wall can answer the error.
func (cw *writer) finish(failed bool) error {
	switch cw.st {
	case buffering:
		if failed {
			return nil
		}
		cw.pass()
		if len(cw.buf) > 0 {
			_, err := cw.w.Write(cw.buf)
			return err
		}
	case compressing:
		if cw.enc == nil {
			return nil
		}
		if failed {
			// No end-of-stream marker: a truncated body must not
			// decode as a complete one.
			putEncoder(cw.coding, cw.enc)
			cw.enc = nil
			return nil
		}
		err := cw.enc.Close()
		putEncoder(cw.coding, cw.enc)
		cw.enc = nil
		cw.s.m.count(cw.coding, cw.in, cw.out)
		if err == nil && cw.key != "" && !cw.teeOff {
			cw.s.store.put(cw.key, cw.tee)
		}
		return err
	case replaying:
		cw.s.m.count(cw.coding, cw.in, cw.out)
	}
	return nil
}

// addVary adds Accept-Encoding to Vary: the answer depends on it.
func addVary(h http.Header) {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}
