package h1server

import (
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/deadline"
)

// serveRequest runs the handler for the connection's parsed request and
// reports whether the connection may carry another request.
func (cn *conn) serveRequest() bool {
	r := cn.req
	w := &cn.w
	w.reset(cn, r)
	if d := cn.srv.WriteTimeout; d > 0 {
		cn.setWriteDeadline(cn.arrived.Add(d), deadline.Granule(d))
	}
	cn.watch.arm(cn.rctx, cn.arrived)
	completed := cn.runHandler(w, r)
	gone := cn.watch.disarm()
	if !cn.rctx.finish() {
		cn.rctx, cn.req = nil, nil
	}
	if !completed || gone {
		return false
	}
	return w.finish()
}

// nextRequest is the http.Request (and context) the next request fills:
// the previous one's when its context was not observed.
func (cn *conn) nextRequest() *http.Request {
	if cn.req == nil {
		cn.rctx = newReqCtx(cn.ctx, cn.srv)
		cn.req = new(http.Request).WithContext(cn.rctx)
	}
	return cn.req
}

// runHandler is the panic wall of one request: a handler that panics (or
// aborts with http.ErrAbortHandler) costs only its connection.
func (cn *conn) runHandler(w *response, r *http.Request) (completed bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				cn.srv.logger().Error("http1: handler panic", "peer", cn.remote, "panic", v, "stack", string(debug.Stack()))
			}
			w.done = true
			completed = false
		}
	}()
	cn.srv.Handler.ServeHTTP(w, r)
	return true
}

// watcher cancels a request's context when its client goes away, as
// net/http's background read does, but only for requests that run longer
// than watchDelay: a read is parked on the connection until the handler
// returns, then aborted with a past deadline.
type watcher struct {
	cn       *conn
	timer    *time.Timer
	mu       sync.Mutex
	armed    bool
	running  bool
	ctx      *reqCtx // the watched request's context
	done     chan struct{}
	aborting atomic.Bool
	gone     atomic.Bool
	byEvent  bool // this request is watched by the fifo's events, not the timer
}

var aLongTimeAgo = time.Unix(1, 0)

func (wt *watcher) init(cn *conn) {
	wt.cn = cn
	wt.timer = time.AfterFunc(time.Hour, wt.start)
	wt.timer.Stop()
}

func (wt *watcher) release() {
	if wt.timer != nil {
		wt.timer.Stop()
	}
}

// arm watches the request, which arrived at since. A connection in the fifo is
// watched by its events from the start (no timer: a reset and a stop of
// one per request showed in the profile, issue 18); the others by the
// timer, then a read.
func (wt *watcher) arm(ctx *reqCtx, since time.Time) {
	wt.mu.Lock()
	wt.armed, wt.ctx = true, ctx
	wt.mu.Unlock()
	wt.gone.Store(false)
	if f := wt.cn.srv.fifo; f != nil && wt.cn.fd >= 0 && f.watchByEvent(wt.cn, since) {
		wt.byEvent = true
		return
	}
	wt.byEvent = false
	wt.timer.Reset(watchDelay)
}

// startHook, when set (tests), runs as a watch starts: it can make the
// start late, as a busy scheduler may.
var startHook atomic.Pointer[func()]

// start runs on the timer's goroutine. A connection in the fifo is
// watched by its events: only a hang-up starts the read (it may still find
// a pipelined request rather than the end), so a slow request costs no
// goroutine, deadlines or read system call.
func (wt *watcher) start() {
	if h := startHook.Load(); h != nil {
		(*h)()
	}
	if f := wt.cn.srv.fifo; f != nil && wt.cn.fd >= 0 {
		wt.mu.Lock()
		ok := wt.armed && !wt.running && f.watchByEvent(wt.cn, time.Now().Add(-watchDelay))
		wt.mu.Unlock()
		if ok {
			return
		}
	}
	wt.read()
}

// read parks a read on the connection until the handler returns, unless
// the request is no longer watched.
func (wt *watcher) read() {
	wt.mu.Lock()
	defer wt.mu.Unlock()
	if !wt.armed || wt.running {
		return
	}
	// Cleared under the lock, so disarm's abort deadline always comes after.
	wt.cn.setReadDeadline(time.Time{}, 0)
	wt.running = true
	wt.done = make(chan struct{})
	ctx, done := wt.ctx, wt.done
	wt.cn.srv.spawn("http1-watch", func() { wt.watch(ctx, done) })
}

func (wt *watcher) watch(ctx *reqCtx, done chan struct{}) {
	defer close(done)
	// Peek leaves whatever arrives (a pipelined request) in the buffer.
	if _, err := wt.cn.br.Peek(1); err != nil && !wt.aborting.Load() {
		wt.gone.Store(true)
		ctx.cancel()
	}
}

// disarm stops watching and reports whether the client went away. The
// timer may have fired already, its start running late: so whatever Stop
// says, a watch that is running is aborted, and armed is cleared so a late
// start does nothing.
func (wt *watcher) disarm() bool {
	if !wt.byEvent {
		wt.timer.Stop()
	}
	if f := wt.cn.srv.fifo; f != nil && wt.cn.fd >= 0 {
		f.unwatch(wt.cn)
	}
	wt.mu.Lock()
	wt.armed = false
	running, done := wt.running, wt.done
	wt.mu.Unlock()
	if running {
		wt.aborting.Store(true)
		wt.cn.setReadDeadline(aLongTimeAgo, 0)
		<-done
		wt.aborting.Store(false)
		wt.cn.setReadDeadline(time.Time{}, 0)
		wt.mu.Lock()
		wt.running = false
		wt.mu.Unlock()
	}
	return wt.gone.Load()
}
