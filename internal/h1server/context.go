package h1server

import (
	"context"
	"slices"
	"sync"
)

// reqCtx is a request's context, with the connection's values and
// deadline. net/http gives every request a new context and so a new
// http.Request (WithContext copies it); on a cache hit those were most of the
// garbage left. Here a request whose context nobody asked Done of (so
// nobody can be waiting on it) leaves its context, and its http.Request, to
// the connection's next request. A context whose Done was taken is
// cancelled when its handler returns, as in net/http, and replaced.
type reqCtx struct {
	context.Context         // the connection's
	srv             *Server // runs AfterFunc callbacks behind its wall

	mu       sync.Mutex
	done     chan struct{}
	err      error
	observed bool
	afters   []*afterFunc
}

type afterFunc struct{ f func() }

func newReqCtx(parent context.Context, srv *Server) *reqCtx {
	return &reqCtx{Context: parent, srv: srv}
}

func (c *reqCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.observed = true
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	return c.done
}

func (c *reqCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc lets context.WithCancel and friends attach children without a
// goroutine each (the context package looks for this method). A function
// still attached when the handler returns keeps the context from the next
// request (finish); one stopped before, as the proxy's cancel hook is, does
// not: nothing is left to run.
func (c *reqCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		c.srv.spawn("http1-afterfunc", f)
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	c.afters = append(c.afters, a)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.afters, a)
		if i < 0 {
			return false
		}
		c.afters = slices.Delete(c.afters, i, i+1)
		return true
	}
}

// cancel ends the context (the client went away, or the request ended).
func (c *reqCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = context.Canceled
	if c.done != nil {
		close(c.done)
	}
	for _, a := range c.afters {
		c.srv.spawn("http1-afterfunc", a.f)
	}
	c.afters = nil
}

// finish ends a request's use of the context and reports whether the next
// request may reuse it: nobody took its Done and no AfterFunc function is
// left attached.
func (c *reqCtx) finish() (reusable bool) {
	c.mu.Lock()
	reusable = !c.observed && c.err == nil && len(c.afters) == 0
	c.mu.Unlock()
	if !reusable {
		c.cancel()
	}
	return reusable
}
