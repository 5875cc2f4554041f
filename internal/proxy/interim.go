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
}

// newInterim returns the interim that forwards r's 1xx responses to w; stop
// it before the final response is written. The lean transport reports to
// it directly (reportInterim); a request that goes through net/http
// carries it in its context as an httptrace (traced), built only then:
// the value context and the trace cost a pass-through request allocations
// it does not need.
func newInterim(w http.ResponseWriter, r *http.Request) *interim {
	return &interim{w: w, client: r}
}

// traced returns r with a context carrying the trace that forwards 1xx
// responses, for a transport that reports them through httptrace.
// Each call makes a trace of its own: WithClientTrace merges into the
// trace it is given the hooks of one already in the context, and a trace
// shared between tries could be changed under a try still running.
func (it *interim) traced(r *http.Request) *http.Request {
	ctx := r.Context()
	var traced context.Context = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: it.got})
	if af, ok := ctx.(afterFuncer); ok {
		traced = &tracedCtx{Context: traced, af: af}
	}
	return r.WithContext(traced)
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

// reportInterim hands a 1xx read on the lean path to it, or without one
// (a caller of RoundTrip) to the request's trace.
func reportInterim(r *http.Request, res *http.Response, it *interim) {
	if it != nil {
		_ = it.got(res.StatusCode, textproto.MIMEHeader(res.Header))
		return
	}
	if t := httptrace.ContextClientTrace(r.Context()); t != nil && t.Got1xxResponse != nil {
		_ = t.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header))
	}
}
