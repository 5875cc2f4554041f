package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"levee/internal/httpwire"
	"levee/internal/pipeline"
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// stream copies the origin's response to the client. Responses of unknown
// length and event streams are flushed as they arrive.
func (p *Proxy) stream(w http.ResponseWriter, ex *pipeline.Exchange, res *http.Response) error {
	defer res.Body.Close()
	if b, ok := res.Body.(*h1body); ok && b.wire != nil && res.Header == nil {
		if sendWireHead(w, res, b.wire) {
			return p.copyBody(w, res.Body, b.wire.eventStream)
		}
		res.Header = responseHeader(res)
	}
	removeHopHeaders(res.Header)
	dst := w.Header()
	for k, vv := range res.Header {
		dst[k] = vv
	}
	if _, ok := res.Header["Content-Type"]; !ok {
		// The origin stated no media type: none is guessed for it. A
		// present key with no value keeps the servers from sniffing one.
		dst["Content-Type"] = nil
	}
	if len(res.Trailer) > 0 {
		names := make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(res.StatusCode)
	flush := res.ContentLength == -1 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	if err := p.copyBody(w, res.Body, flush); err != nil {
		return err
	}
	for k, vv := range res.Trailer {
		dst[http.TrailerPrefix+k] = vv
	}
	return nil
}

// sendWireHead sends the head of a response read as bytes, when every
// writer down to the server's takes it that way (httpwire.HeadWriter).
func sendWireHead(w http.ResponseWriter, res *http.Response, wh *wireHead) bool {
	hw, ok := w.(httpwire.HeadWriter)
	return ok && hw.WriteWireHead(res.StatusCode, res.ContentLength, wh.fields, wh.hasDate)
}

// roundTrip sends r through t, taking a plain response head as bytes when
// t is the lean transport; it forwards the origin's 1xx responses.
func roundTrip(t http.RoundTripper, r *http.Request, now time.Time, it *interim) (*http.Response, error) {
	if h1, ok := t.(*h1Transport); ok {
		return h1.roundTrip(r, true, now, it)
	}
	return t.RoundTrip(it.traced(r))
}

// responseHeader returns res's header, building it from the head's bytes
// if it was read that way.
func responseHeader(res *http.Response) http.Header {
	if res.Header == nil {
		if b, ok := res.Body.(*h1body); ok && b.wire != nil {
			res.Header = b.wire.header(res.ContentLength)
		} else {
			res.Header = http.Header{}
		}
	}
	return res.Header
}

// copyBody streams body to w, extending the write deadline while data
// moves, so a slow but live client is not cut and a stalled one is.
func (p *Proxy) copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	rc := http.NewResponseController(w)
	if b, ok := body.(*h1body); ok {
		if whole, ok := b.whole(); ok {
			// The whole body is in the connection's buffer (most small
			// answers): one write from there, no copy buffer.
			return p.writeWhole(w, rc, b, whole, flush)
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var lastExtend time.Time
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if p.WriteTimeout > 0 {
				if now := time.Now(); now.Sub(lastExtend) > p.WriteTimeout/4 {
					_ = rc.SetWriteDeadline(now.Add(p.WriteTimeout))
					lastExtend = now
				}
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_write", "client went away", werr)
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			// Headers are out: WriteError will cut the connection.
			return pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "origin_body", "origin response body failed", rerr)
		}
	}
}

// writeWhole writes a body that is whole in the origin connection's buffer
// straight from there, then lets the connection go back to the pool (the
// buffer is the connection's: it must not be reused before the write).
func (p *Proxy) writeWhole(w http.ResponseWriter, rc *http.ResponseController, b *h1body, whole []byte, flush bool) error {
	if p.WriteTimeout > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(p.WriteTimeout))
	}
	_, werr := w.Write(whole)
	b.consumeWhole()
	if werr != nil {
		return pipeline.Errorf(pipeline.SourceClient, pipeline.StatusClientClosed, "client_write", "client went away", werr)
	}
	if flush {
		_ = rc.Flush()
	}
	return nil
}
