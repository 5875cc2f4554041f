package proxy

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// originPoll watches plain-TCP origin connections with an edge-triggered
// epoll instance of levee's own, registered once per connection, so that
// a request needs neither of two system calls it used to make:
//
//   - After writing a request, the exchange waits here for the origin's
//     answer instead of first trying a read: that read almost always found
//     nothing yet (EAGAIN) and then parked in the runtime's netpoller.
//   - An idle pooled connection that got no event since it was returned
//     needs no peek (a recvfrom) before it is taken: an origin that closed
//     it, reset it or wrote to it raised an event. One that did is peeked
//     as before.
//
// The events are hints, never the truth: after a wake-up the exchange reads
// through net.Conn as before (a spurious wake-up only parks that read in the
// runtime's netpoller, under the same header deadline), and a closed
// connection whose event is not drained yet fails on its first read and is
// sent again on a new connection (RoundTrip's silentClose path). A wait is
// bounded: a sweep every pollSweep wakes whoever waited through a whole
// period, so the header timeout is enforced by the read deadline as before.
type originPoll struct {
	ep  *os.File
	raw syscall.RawConn
	mu  sync.Mutex
	// conns holds every registered socket by descriptor.
	conns map[int32]*h1conn
	sweep uint64 // sweeps done; a waiter that saw an older one is woken
	// waiters counts exchanges waiting, so a sweep with none (an idle
	// node, or answers quicker than a period) does not walk conns.
	waiters int
	// answered counts waits ended by an event (tests).
	answered atomic.Int64
}

const pollSweep = 50 * time.Millisecond

// pollState is a connection's part in the originPoll, guarded by its mu.
type pollState struct {
	fd         int32
	registered bool
	// event: an event came while nobody waited (bytes, EOF or an error
	// since the connection was last read to the end).
	event   bool
	waiting bool
	waitGen uint64
	cut     bool // the request was cancelled: never wait again
	wake    chan struct{}
	ctl     func(ep uintptr)
	ctlOp   int
	ctlErr  error
	ev      unix.EpollEvent
}

var (
	originPollOnce sync.Once
	theOriginPoll  *originPoll
)

// sharedOriginPoll returns the process's originPoll, or nil when epoll is
// not available (connections then peek and read as before).
func sharedOriginPoll() *originPoll {
	originPollOnce.Do(func() {
		p, err := newOriginPoll()
		if err != nil {
			return
		}
		theOriginPoll = p
		go p.run()
		go p.sweeper()
	})
	return theOriginPoll
}

func newOriginPoll() (*originPoll, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so os.NewFile puts it in the runtime's netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	ep := os.NewFile(uintptr(fd), "proxy-origin-epoll")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	return &originPoll{ep: ep, raw: raw, conns: make(map[int32]*h1conn)}, nil
}

// run drains events for the life of the process. One RawConn.Read for the
// whole loop: the runtime resets the epoll descriptor's readiness only when
// a Read starts, so inside it, an event that arrives after a drain that
// emptied the ready list makes the wait return at once; returning false is
// therefore safe once a drain came back short.
func (p *originPoll) run() {
	var evs [128]unix.EpollEvent
	var werr error
	drain := func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), evs[:], 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = err
				return true
			}
			p.mu.Lock()
			for i := range n {
				p.deliver(evs[i].Fd)
			}
			p.mu.Unlock()
			if n < len(evs) {
				return false
			}
		}
	}
	for {
		if err := p.raw.Read(drain); err != nil || werr != nil {
			return
		}
	}
}

// deliver wakes the exchange waiting on fd, or notes the event on a
// connection nobody waits on. Call with p.mu held.
func (p *originPoll) deliver(fd int32) {
	c := p.conns[fd]
	if c == nil {
		return
	}
	if c.ps.waiting {
		p.wake(c)
		p.answered.Add(1)
		return
	}
	c.ps.event = true
}

// sweeper wakes waits older than a whole period, so a wait lasts at most
// about two periods before it falls back to the runtime's read.
func (p *originPoll) sweeper() {
	t := time.NewTicker(pollSweep)
	defer t.Stop()
	for range t.C {
		p.mu.Lock()
		gen := p.sweep
		p.sweep++
		if p.waiters > 0 {
			for _, c := range p.conns {
				if c.ps.waiting && c.ps.waitGen < gen {
					p.wake(c)
				}
			}
		}
		p.mu.Unlock()
	}
}

// register adds c's socket, once, right after it was dialed.
func (p *originPoll) register(c *h1conn) {
	if c.raw == nil {
		return
	}
	fd := int32(-1)
	if err := c.raw.Control(func(u uintptr) { fd = int32(u) }); err != nil || fd < 0 {
		return
	}
	ps := &c.ps
	ps.fd = fd
	ps.wake = make(chan struct{}, 1)
	ps.ev = unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: fd}
	ps.ctl = func(ep uintptr) { ps.ctlErr = unix.EpollCtl(int(ep), ps.ctlOp, int(ps.fd), &ps.ev) }
	// In the map first: an event may be drained before the call returns.
	p.mu.Lock()
	p.conns[fd] = c
	p.mu.Unlock()
	if !p.ctl(c, unix.EPOLL_CTL_ADD) {
		p.mu.Lock()
		delete(p.conns, fd)
		p.mu.Unlock()
		return
	}
	ps.registered = true
	c.poll = p
}

func (p *originPoll) ctl(c *h1conn, op int) bool {
	c.ps.ctlOp = op
	if err := p.raw.Control(c.ps.ctl); err != nil {
		return false
	}
	return c.ps.ctlErr == nil
}

// unregister removes c's socket; it must come before the socket is closed,
// or a later connection given the same descriptor number would be removed
// in its place.
func (p *originPoll) unregister(c *h1conn) {
	if !c.ps.registered {
		return
	}
	c.ps.registered = false
	p.mu.Lock()
	if c.ps.waiting { // not expected: the exchange closes after its wait
		p.wake(c)
	}
	if p.conns[c.ps.fd] == c {
		delete(p.conns, c.ps.fd)
	}
	p.mu.Unlock()
	p.ctl(c, unix.EPOLL_CTL_DEL)
}

// waitAnswer parks the exchange until c's socket has had an event since
// it was last read to the end, the request is cancelled, or a sweep.
func (p *originPoll) waitAnswer(c *h1conn) {
	ps := &c.ps
	p.mu.Lock()
	if ps.event || ps.cut {
		if ps.event {
			p.answered.Add(1)
		}
		ps.event = false
		p.mu.Unlock()
		return
	}
	select { // a token left by a wake-up that raced an earlier wait
	case <-ps.wake:
	default:
	}
	ps.waiting = true
	p.waiters++
	ps.waitGen = p.sweep
	p.mu.Unlock()
	<-ps.wake
}

// quiet reports whether idle c had no event since it was returned: no
// peek is needed then.
func (p *originPoll) quiet(c *h1conn) bool {
	p.mu.Lock()
	q := !c.ps.event
	p.mu.Unlock()
	return q
}

// settle is called when c goes back to the pool with nothing left to read:
// an event noted while the answer was read (a second segment of it) says
// nothing about the idle connection, so a connection that still has one
// is peeked now, once, and the mark cleared when it is alive.
func (p *originPoll) settle(c *h1conn) (alive bool) {
	p.mu.Lock()
	ev := c.ps.event
	p.mu.Unlock()
	if !ev {
		return true
	}
	if c.closedByPeer() {
		return false
	}
	p.mu.Lock()
	c.ps.event = false
	p.mu.Unlock()
	return true
}

// interrupt wakes c's waiting exchange for good: its request was cancelled.
func (p *originPoll) interrupt(c *h1conn) {
	p.mu.Lock()
	c.ps.cut = true
	if c.ps.waiting {
		p.wake(c)
	}
	p.mu.Unlock()
}

// wake ends c's wait. Call with p.mu held and c waiting.
func (p *originPoll) wake(c *h1conn) {
	c.ps.waiting = false
	p.waiters--
	select {
	case c.ps.wake <- struct{}{}:
	default:
	}
}

// clearEvent forgets an event on idle c once a peek found it alive.
func (p *originPoll) clearEvent(c *h1conn) {
	p.mu.Lock()
	c.ps.event = false
	p.mu.Unlock()
}
