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
	// offer is the coding negotiated for a stored variant from the
	// cache; it differs from coding only for Range requests, which are
	// not encoded on the fly (their bytes are the identity's) but may be
	// answered from a stored variant (their bytes are the variant's).
	offer string
	// served: the cache is answering with its stored variant in offer,
	// which is passed through as it comes.
	served bool
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
	if cw.served || !cw.s.eligible(code, h) {
		cw.pass()
		return
	}
	addVary(h)
	if cw.coding == "" {
		cw.pass()
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

// CacheCoding is the coding for a stored response the cache answers
// with (cache.Encoder): the negotiated one when the response qualifies
// as it would on the fly.
func (cw *writer) CacheCoding(status int, contentType, contentEncoding string, cacheControl []string, size int64) string {
	if cw.offer == "" || status != http.StatusOK || size < cw.s.minSize || noTransform(cacheControl) {
		return ""
	}
	if contentEncoding != "" && !strings.EqualFold(contentEncoding, "identity") {
		return ""
	}
	if !cw.s.compressible(contentType) {
		return ""
	}
	return cw.offer
}

// CacheServed marks the response as the cache's stored variant: it
// carries its Content-Encoding and is passed through.
func (cw *writer) CacheServed(string) { cw.served = true }

// StoredEncoder encodes at the level for stored copies.
func (cw *writer) StoredEncoder(coding string, w io.Writer) (io.WriteCloser, error) {
	return storedEncoder(coding, w)
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
	cw.enc = getEncoder(cw.coding, countingWriter{w: cw.w, n: &cw.out})
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
		return err
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
