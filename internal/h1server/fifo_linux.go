//go:build linux

package h1server

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"levee/internal/deadline"
)

// fifo wakes keep-alive connections waiting for their next request in the
// order the kernel reports them readable. The runtime's netpoller hands a
// batch of ready goroutines back last-ready-first, so on a saturated core
// the connection that has waited longest runs last in its batch, and the
// latency spread (p99 against p50) grows; nginx's epoll loop serves in
// order. Here a connection's socket is registered, edge-triggered, with an
// epoll instance of the server's own the first time it waits, and one
// goroutine drains that instance and wakes the waiting connections in
// event order. The epoll descriptor is itself watched by the runtime's
// netpoller, so the draining goroutine never blocks a thread.
//
// Edge-triggered and registered once, not re-armed (EPOLLONESHOT) before
// each wait: re-arming was an epoll_ctl call per request. The price is
// events for connections that are not waiting (bytes arriving while a
// request is served); such an event marks the connection ready, and its
// next wait reads the socket directly instead of parking.
type fifo struct {
	ep  *os.File // the epoll instance, non-blocking, in the netpoller
	raw syscall.RawConn
	mu  sync.Mutex
	// registered holds every socket in the epoll instance: an event wakes
	// the connection if it waits (its waiting flag, set and cleared per
	// request without a map update), and marks it ready if not.
	registered map[int32]*conn
	wakes      atomic.Int64 // connections woken (tests)
	ctls       atomic.Int64 // epoll_ctl calls (tests)
	readies    atomic.Int64 // waits that found their connection marked ready (tests)
	// eventWatches counts client watches left to events (tests).
	eventWatches atomic.Int64
}

func newFifo() (*fifo, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so os.NewFile puts it in the runtime's netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	ep := os.NewFile(uintptr(fd), "h1server-epoll")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	f := &fifo{ep: ep, raw: raw, registered: make(map[int32]*conn)}
	return f, nil
}

// run drains events until the epoll instance is closed.
func (f *fifo) run() {
	var evs [128]unix.EpollEvent
	var n int
	var werr error
	var hung []*conn // watched connections whose client hung up
	// One closure for the whole loop: made per round it cost allocations
	// per wake-up.
	drain := func(fd uintptr) bool {
		// A raw call: with a zero timeout it never blocks, and a call
		// through the scheduler's syscall path would wake its monitor
		// thread after every idle spell.
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
		n, werr = int(r), nil
		if e != 0 {
			n, werr = 0, e
		}
		if werr == unix.EINTR {
			return false
		}
		return werr != nil || n > 0
	}
	for {
		err := f.raw.Read(drain)
		if err != nil || (werr != nil && werr != unix.EINTR) {
			return
		}
		f.mu.Lock()
		for i := range n {
			if cn := f.deliver(evs[i].Fd, evs[i].Events); cn != nil {
				hung = append(hung, cn)
			}
		}
		f.mu.Unlock()
		// Outside f.mu: the watch takes its own lock, which is held
		// around calls into the fifo.
		for i, cn := range hung {
			cn.watch.read()
			hung[i] = nil
		}
		hung = hung[:0]
	}
}

// deliver wakes the connection of fd if it waits, or marks it ready if
// it is busy. A hang-up on a busy connection is remembered, and
// returned when its request is watched (the caller then starts the watch's
// read, which tells a client gone from pipelined bytes). Call with f.mu
// held.
func (f *fifo) deliver(fd int32, events uint32) (watched *conn) {
	hangUp := events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	cn := f.registered[fd]
	if cn == nil {
		return nil
	}
	if cn.waiting {
		// A hang-up that came with the request (or instead of one) is
		// remembered: the request is then watched by the read.
		cn.hungUp = cn.hungUp || hangUp
		cn.waiting = false
		f.wakes.Add(1)
		select {
		case cn.wake <- struct{}{}:
		default:
		}
		return nil
	}
	cn.ready = true
	if hangUp {
		cn.hungUp = true
		if cn.watched {
			cn.watched = false
			// A handler is watched once it ran for watchDelay; a
			// hang-up before that starts the read then (rare: an
			// allocated timer is fine).
			if d := watchDelay - time.Since(cn.watchedSince); d > 0 {
				time.AfterFunc(d, cn.watch.read)
				return nil
			}
			return cn
		}
	}
	return nil
}

// watchByEvent is the client watch of a registered connection whose
// handler started at since: instead of a timer and then a goroutine parked
// in a read, the fifo's events tell when the client hangs up. It reports
// false when the caller must watch by the timer and the read: the
// connection is not registered, or a hang-up came already.
func (f *fifo) watchByEvent(cn *conn, since time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registered[int32(cn.fd)] != cn || cn.hungUp {
		return false
	}
	cn.watched, cn.watchedSince = true, since
	f.eventWatches.Add(1)
	return true
}

// unwatch ends an event watch.
func (f *fifo) unwatch(cn *conn) {
	f.mu.Lock()
	cn.watched = false
	f.mu.Unlock()
}

func (f *fifo) close() { f.ep.Close() }

// waitReadable parks cn until its socket is readable, the idle timeout d
// passes, or the server closes it. ok false with fallback true means the
// caller reads the socket directly instead: it could not be registered, or
// bytes arrived while the previous request was served (the edge that
// announced them is gone, and a spurious one must not cut an idle
// connection at the header timeout).
func (f *fifo) waitReadable(cn *conn, d time.Duration) (ok, fallback bool) {
	if err := f.arm(cn); err != nil {
		return false, !errors.Is(err, errKilled)
	}
	f.mu.Lock()
	if cn.ready {
		cn.ready = false
		f.mu.Unlock()
		f.readies.Add(1)
		return false, true
	}
	cn.waiting = true
	f.mu.Unlock()
	var idle <-chan time.Time
	if d > 0 {
		cn.armIdle(time.Now().Add(d), deadline.Granule(d))
		idle = cn.idle.C
	}
	select {
	case <-cn.wake:
		return true, false
	case <-idle:
	case <-cn.killed:
	}
	f.forget(cn)
	return false, false
}

var errKilled = errors.New("h1server: connection closed by the server")

// arm registers cn's socket, once per connection. Bytes that arrived
// before are reported at once (epoll checks readiness when a socket is
// added). It holds the connection's registration lock, which kill also
// takes, so a socket is never closed while registered: its descriptor
// number, reused by a later connection, could otherwise be unregistered
// under that one.
func (f *fifo) arm(cn *conn) error {
	cn.regMu.Lock()
	defer cn.regMu.Unlock()
	if cn.closed {
		return errKilled
	}
	if cn.registered {
		return nil
	}
	// In the map first: the event for bytes already there may be drained
	// before the call returns.
	f.mu.Lock()
	f.registered[int32(cn.fd)] = cn
	f.mu.Unlock()
	if err := f.ctl(cn, unix.EPOLL_CTL_ADD); err != nil {
		f.mu.Lock()
		delete(f.registered, int32(cn.fd))
		f.mu.Unlock()
		return err
	}
	cn.registered = true
	return nil
}

// epollCtl is a connection's registration call, made once per connection
// (a closure per call would allocate on every request). Call with
// cn.regMu held.
type epollCtl struct {
	op  int
	fd  int
	ev  unix.EpollEvent
	err error
	fn  func(ep uintptr)
}

func (f *fifo) ctl(cn *conn, op int) error {
	c := &cn.ctl
	if c.fn == nil {
		c.fd = cn.fd
		c.ev = unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(cn.fd)}
		c.fn = func(ep uintptr) { c.err = unix.EpollCtl(int(ep), c.op, c.fd, &c.ev) }
	}
	c.op = op
	f.ctls.Add(1)
	if err := f.raw.Control(c.fn); err != nil {
		return err
	}
	return c.err
}

// forget ends cn's wait and drains a wake-up that raced.
func (f *fifo) forget(cn *conn) {
	f.mu.Lock()
	cn.waiting = false
	f.mu.Unlock()
	select {
	case <-cn.wake:
	default:
	}
}

// release unregisters cn's socket; the caller then closes or hands it off.
// Call with cn.regMu held.
func (f *fifo) release(cn *conn) {
	if !cn.registered {
		return
	}
	f.forget(cn)
	_ = f.ctl(cn, unix.EPOLL_CTL_DEL)
	f.mu.Lock()
	if f.registered[int32(cn.fd)] == cn {
		delete(f.registered, int32(cn.fd))
	}
	cn.ready = false
	f.mu.Unlock()
	cn.registered = false
}
