package cache

import (
	"net/http"
	"sync"
	"sync/atomic"

	"levee/internal/pipeline"
)

// Outcomes of a fill, as waiters see them.
const (
	flightStream  = iota + 1 // a storable response is streaming in: follow it
	flightObject             // obj is complete (revalidated, or stored)
	flightNoShare            // the response may not be shared: fetch your own
	flightFailed             // the origin failed: serve stale or fail
)

// flight is one origin fill that concurrent requests for the same key
// share. The leader publishes the outcome once (closing ready), then, for
// a streaming outcome, appends the body and wakes the followers.
type flight struct {
	ready     chan struct{}
	published bool // leader only
	kind      int
	obj       *Object // response header and status (stream) or the object
	varySel   string  // the leader's Vary selection, for followers to compare
	err       error
	status    int // origin status when failed with a 5xx

	mu     sync.Mutex
	buf    []byte
	done   bool // body complete
	broken bool // body failed mid-stream
	wake   chan struct{}
}

func newFlight() *flight {
	return &flight{ready: make(chan struct{}), wake: make(chan struct{})}
}

// publish sets the outcome; it must be called exactly once.
func (f *flight) publish(kind int, o *Object) {
	f.kind, f.obj = kind, o
	f.published = true
	close(f.ready)
}

// abandon ends the flight of a leader that panicked, so followers do not
// wait for it: they get a failure (stale if allowed) at once.
func (f *flight) abandon() {
	if !f.published {
		f.err = errFillAbandoned
		f.publish(flightFailed, nil)
	}
	f.mu.Lock()
	done := f.done
	f.mu.Unlock()
	if !done {
		f.finish(true)
	}
}

var errFillAbandoned = pipeline.Errorf(pipeline.SourceInternal, http.StatusBadGateway, "fill_abandoned", "the shared fill failed", nil)

// append adds body bytes and wakes followers.
func (f *flight) append(p []byte) {
	f.mu.Lock()
	f.buf = append(f.buf, p...)
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

// finish ends the body, completely or broken.
func (f *flight) finish(broken bool) {
	f.mu.Lock()
	f.done, f.broken = true, broken
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

// read returns the body bytes after off, whether the body is over (and
// broken), and a channel closed when there is more.
func (f *flight) read(off int) (p []byte, done, broken bool, more <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf[off:], f.done, f.broken, f.wake
}

// flights tracks the fills in progress, by key hash, in shards.
type flights struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[uint64]*flight
	}
	n atomic.Int64
}

func (fs *flights) init() {
	for i := range fs.shards {
		fs.shards[i].m = map[uint64]*flight{}
	}
}

// join returns the flight for h and whether the caller leads it. Past
// maxInflight it returns nil, true: lead an untracked fill.
func (fs *flights) join(h uint64) (*flight, bool) {
	sh := &fs.shards[h%64]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f, ok := sh.m[h]; ok {
		return f, false
	}
	if fs.n.Load() >= maxInflight {
		return nil, true
	}
	f := newFlight()
	sh.m[h] = f
	fs.n.Add(1)
	return f, true
}

// busy reports whether a fill for h is in progress.
func (fs *flights) busy(h uint64) bool {
	sh := &fs.shards[h%64]
	sh.mu.Lock()
	_, ok := sh.m[h]
	sh.mu.Unlock()
	return ok
}

// leave removes the leader's flight for h.
func (fs *flights) leave(h uint64, f *flight) {
	if f == nil {
		return
	}
	sh := &fs.shards[h%64]
	sh.mu.Lock()
	if sh.m[h] == f {
		delete(sh.m, h)
		fs.n.Add(-1)
	}
	sh.mu.Unlock()
}
