package proxy

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
)

// maxInterim bounds the informational (1xx) responses one origin answer
// may carry; past it the answer is a protocol error (net/http's transport
// stops at 5 too).
const maxInterim = 5

var errTooManyInterim = errors.New("origin sent more than 5 informational (1xx) responses")

// interim forwards the origin's 1xx responses (103 Early Hints, 102
// Processing) to the client, as RFC 9110 15.2 asks of a proxy. The
// transports report them through httptrace: net/http's from its read
// loop, the lean HTTP/1 path from the request's goroutine. Once the
// final response is being written, late ones (from an abandoned try) are
// dropped.
type interim struct {
	w      http.ResponseWriter
	client *http.Request
	mu     sync.Mutex
	done   bool
	trace  httptrace.ClientTrace
	// traced is the context handed out when the request's has an
	// AfterFunc; part of the interim, not an allocation of its own.
	traced tracedCtx
}

// attachInterim returns r's context carrying the trace that forwards 1xx
// responses to w, and the interim to stop before the final response is
// written. The context, not a copy of r: each try's request is made from
// r with it (target), one copy of the request per try instead of two.
func attachInterim(w http.ResponseWriter, r *http.Request) (context.Context, *interim) {
	it := &interim{w: w, client: r}
	it.trace.Got1xxResponse = it.got
	ctx := r.Context()
	traced := httptrace.WithClientTrace(ctx, &it.trace)
	if af, ok := ctx.(afterFuncer); ok {
		it.traced = tracedCtx{Context: traced, af: af}
		return &it.traced, it
	}
	return traced, it
}

// afterFuncer is a context that runs a function when it is done without
// a goroutine of context's own (h1server's request context is one).
type afterFuncer interface {
	AfterFunc(func()) func() bool
}

// The context package only finds AfterFunc on the very context it is
// given, and the value context httptrace adds has none: every cancel hook
// put on a request's context (the lean transport's, context.WithTimeout's)
// then started a goroutine to wait on it, one per request, seen in a
// runtime trace of the dyn bench. So the traced context of a request
// whose context has AfterFunc (h1server's) is a tracedCtx.

// tracedCtx is a traced context whose AfterFunc is its parent's.
type tracedCtx struct {
	context.Context
	af afterFuncer
}

func (c *tracedCtx) AfterFunc(f func()) func() bool { return c.af.AfterFunc(f) }

func (it *interim) got(code int, h textproto.MIMEHeader) error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if !it.done {
		WriteInterim(it.w, it.client, code, http.Header(h))
	}
	return nil
}

// stop ends forwarding: call it before writing the final response.
func (it *interim) stop() {
	it.mu.Lock()
	it.done = true
	it.mu.Unlock()
}

// WriteInterim sends one 1xx response with fields h to w, without
// leaving them in w's header for the final response, nor sending what the
// final response's header holds so far. 100 Continue is the server's to
// send (it answers the client's own Expect) and 101 is not interim; an
// HTTP/1.0 client gets no 1xx at all (RFC 9110 15.2).
func WriteInterim(w http.ResponseWriter, client *http.Request, code int, h http.Header) {
	if code <= http.StatusSwitchingProtocols || code >= 200 || client.ProtoMajor == 1 && client.ProtoMinor == 0 {
		return
	}
	dst := w.Header()
	saved := maps.Clone(dst)
	clear(dst)
	for k, vv := range h {
		dst[k] = vv
	}
	removeHopHeaders(dst)
	w.WriteHeader(code)
	clear(dst)
	maps.Copy(dst, saved)
}

// reportInterim hands a 1xx read on the lean path to the request's trace.
func reportInterim(r *http.Request, res *http.Response) {
	if t := httptrace.ContextClientTrace(r.Context()); t != nil && t.Got1xxResponse != nil {
		_ = t.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header))
	}
}
