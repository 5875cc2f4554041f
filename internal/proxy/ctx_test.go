package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/router"
)

// hookCtx is a request context with AfterFunc of its own, as h1server's
// is, counting the functions attached to it.
type hookCtx struct {
	context.Context
	mu    sync.Mutex
	done  chan struct{}
	fns   []func()
	hooks int
}

func newHookCtx() *hookCtx { return &hookCtx{Context: context.Background(), done: make(chan struct{})} }

func (c *hookCtx) Done() <-chan struct{} { return c.done }

func (c *hookCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

func (c *hookCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks++
	i := len(c.fns)
	c.fns = append(c.fns, f)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		ok := c.fns[i] != nil
		c.fns[i] = nil
		return ok
	}
}

func (c *hookCtx) cancel() {
	c.mu.Lock()
	close(c.done)
	fns := c.fns
	c.fns = make([]func(), len(fns))
	c.mu.Unlock()
	for _, f := range fns {
		if f != nil {
			go f()
		}
	}
}

func (c *hookCtx) hookCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hooks
}

func hookRoute(t *testing.T, addr string) *router.Route { return routeVia(testH1(t), addr) }

// routeVia is a route to the origin at addr through transport tr.
func routeVia(tr *h1Transport, addr string) *router.Route {
	u, _ := url.Parse("http://" + addr)
	return &router.Route{Pools: []*pool.Pool{pool.New("p", []*pool.Origin{pool.NewOrigin("o", u, 1, nil, 0, 0)}, tr)}}
}

// serveAsync runs the proxy for a GET with ctx on route; its result
// arrives on the channel.
func serveAsync(ctx context.Context, route *router.Route) <-chan error {
	req := httptest.NewRequest("GET", "http://shop.example/dyn", nil).WithContext(ctx)
	ex := pipeline.NewExchange(httptest.NewRecorder(), time.Time{})
	ex.Route = route
	errc := make(chan error, 1)
	go func() { errc <- (&Proxy{}).ServeHTTP(ex, req) }()
	return errc
}

// wantClientGone waits up to 10 s for the client-gone error on errc.
func wantClientGone(t *testing.T, errc <-chan error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		var perr *pipeline.Error
		if !errors.As(err, &perr) || perr.Status != pipeline.StatusClientClosed {
			t.Fatalf("got %v, want the client-gone error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

// The lean transport's cancel hook goes through the request context's
// own AfterFunc, under the 1xx trace the proxy adds: before, context
// found no AfterFunc on the trace's value context and started a
// goroutine per request to wait on the request's Done.
func TestCancelHookUsesRequestContextAfterFunc(t *testing.T) {
	route := hookRoute(t, rawOrigin(t, dynResponse))
	ctx := newHookCtx()
	req := httptest.NewRequest("GET", "http://shop.example/dyn", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	ex := pipeline.NewExchange(w, time.Time{})
	ex.Route = route
	if err := (&Proxy{}).ServeHTTP(ex, req); err != nil || w.Code != 200 {
		t.Fatalf("status %d, %v", w.Code, err)
	}
	if ctx.hookCount() == 0 {
		t.Fatal("no function was attached through the request context's AfterFunc")
	}
}

// Cancelling such a context still cuts a request the origin sits on.
func TestHookContextCancelCutsStalledOrigin(t *testing.T) {
	ctx := newHookCtx()
	errc := serveAsync(ctx, hookRoute(t, silentOrigin(t)))
	for i := 0; i < 500 && ctx.hookCount() == 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	ctx.cancel()
	wantClientGone(t, errc, "the request outlived its cancelled context")
}

var _ http.RoundTripper = (*h1Transport)(nil)

// A cancel that lands once the request was written, while the answer is
// awaited, is not overridden by the head's read deadline: the request
// ends at once instead of waiting response_header (here an hour) for an
// origin that never answers.
func TestCancelBeforeHeadDeadlineIsKept(t *testing.T) {
	tr := testH1(t)
	tr.headerWait = time.Hour
	got := make(chan struct{}, 1)
	route := routeVia(tr, silentOriginTold(t, got))
	ctx := newHookCtx()
	errc := serveAsync(ctx, route)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the origin never got the request")
	}
	ctx.cancel()
	wantClientGone(t, errc, "a request cancelled after it was written waited on the origin")
}

// silentOrigin is an origin that reads requests and never answers.
func silentOrigin(t *testing.T) string { return silentOriginTold(t, nil) }

// silentOriginTold is silentOrigin, and it sends on got (when not nil)
// each time it reads.
func silentOriginTold(t *testing.T, got chan<- struct{}) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				if got != nil {
					select {
					case got <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return ln.Addr().String()
}
