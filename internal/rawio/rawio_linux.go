// Package rawio reads and writes a connection's socket with raw system
// calls. See README.md for why.
package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Sock reads and writes one socket. A read and a write may run at the same
// time, but not two reads or two writes: each direction keeps its call's
// state in the Sock. Its users are one bufio.Reader and one bufio.Writer,
// which allow no more anyway (h1server's client watch reads only while the
// handler does not, and hands the reader back through a channel).
type Sock struct {
	c  net.Conn
	rc syscall.RawConn
	r  op
	w  op
	// sa is SendThenAwait's call: a write made under the read side.
	sa sendAwait
}

// sendAwait is SendThenAwait's state: a write's, and whether it is done
// (the next call then means the socket is readable).
type sendAwait struct {
	op
	sent bool
}

// op is one direction's call in progress. Its function is made once per
// socket, so a call allocates nothing.
type op struct {
	buf []byte
	n   int
	err syscall.Errno
	eof bool // a read found the end of the stream; a write made no progress
	// more (writes only) sends with MSG_MORE: the bytes wait in the
	// socket for the next send, whose data joins them in one segment.
	more bool
	fn   func(fd uintptr) bool
}

// New returns a Sock for c when c is a TCP connection, or a wrapper that
// says it reads and writes one unchanged (StreamSocket). Otherwise (TLS, a
// pipe, a test's wrapper) it returns nil and the caller keeps using c.
func New(c net.Conn) *Sock {
	if _, tcp := c.(*net.TCPConn); !tcp && !isWrapped(c) {
		return nil
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	keepMonitor.Do(func() { go keepMonitorAwake() })
	s := &Sock{c: c, rc: rc}
	s.r.fn = s.readOnce
	s.w.fn = s.writeSome
	s.sa.fn = s.sendThenWait
	return s
}

// monitorTick bounds how long the runtime's monitor thread sleeps.
const monitorTick = 20 * time.Millisecond

var keepMonitor sync.Once

// keepMonitorAwake keeps a timer pending at all times. The monitor thread
// (sysmon) sleeps, once every P is idle, until the next timer or until a
// goroutine makes a system call through the scheduler; raw calls make none.
// A goroutine woken by the netpoller that then runs for long would
// otherwise not be preempted, and connections that became ready meanwhile
// would not be polled, until some timer came due. Waking from a timer does
// not put the monitor back to its 20 µs polling, so this costs 50
// wake-ups a second. It never ends: its Socks may be anywhere.
func keepMonitorAwake() {
	for {
		time.Sleep(monitorTick)
	}
}

// isWrapped accepts a wrapper (the shield's gate) that says it carries a
// TCP socket and adds nothing to its bytes. A wrapper that reaches a socket
// through SyscallConn but changes or buffers the bytes must not say so.
func isWrapped(c net.Conn) bool {
	w, ok := c.(interface{ StreamSocket() bool })
	return ok && w.StreamSocket()
}

// readOnce is called by the poller with the socket descriptor. It returns
// false when nothing is there yet, so the poller parks the goroutine.
func (s *Sock) readOnce(fd uintptr) bool {
	o := &s.r
	for {
		n, e := sysRead(fd, o.buf)
		switch e {
		case 0:
			o.n, o.eof = n, n == 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			o.err = e
			return true
		}
	}
}

// writeSome writes what is left of the buffer; it returns false to wait
// for room when the socket's send buffer is full.
func (s *Sock) writeSome(fd uintptr) bool {
	return !writeOut(fd, &s.w)
}

// writeOut writes what is left of o.buf. It stops when all of it went, at
// an error (o.err), when write(2) takes nothing (o.eof), or when the send
// buffer is full, which it reports.
func writeOut(fd uintptr, o *op) (full bool) {
	for o.n < len(o.buf) {
		rest := o.buf[o.n:]
		var n int
		var e syscall.Errno
		if o.more {
			n, e = sysSendMore(fd, rest)
		} else {
			n, e = sysWrite(fd, rest)
		}
		switch {
		case e == 0 && n == 0:
			o.eof = true
			return false
		case e == 0:
			o.n += n
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return true
		default:
			o.err = e
			return false
		}
	}
	return false
}

// answerLikely is how long a write must have taken for the answer to be
// worth reading for before waiting. A write to a loopback or LAN peer
// takes a few microseconds; when it takes much longer, the thread was
// most likely switched out for the peer (on a shared core the peer's
// wake-up preempts the writer), which may then have answered. Measured
// under the bench's dyn load (a debug build, writes by duration): of the
// writes under 32 µs, 7 in 51,000 found the answer there; of those over
// 32 µs, 6,689 in 7,127 did.
var answerLikely = 16 * time.Microsecond // a variable for tests

// sendThenWait is called by the poller under the read side: the first
// call writes the buffer, and returns false to park until the socket is
// readable once all of it went; the call after the wake-up only says so.
// A write that cannot finish without waiting (a full send buffer), or
// that took so long that the answer may be there already, ends the call
// without the wait: the caller's next Read reads first, as usual.
func (s *Sock) sendThenWait(fd uintptr) bool {
	o := &s.sa
	if o.sent {
		return true
	}
	start := time.Now()
	if writeOut(fd, &o.op); o.n < len(o.buf) {
		return true // a full send buffer, an error, or nothing taken
	}
	o.sent = true
	return time.Since(start) >= answerLikely
}

// SendThenAwait writes p and waits until the socket has something to
// read (an answer, its end, or an error), for a client that sends a
// request and then reads its answer. It saves the read that would find
// nothing yet and park: the wait is registered before p is written, so
// an answer that arrives at once cannot be missed, which a wait started
// after the write, without that read, could. Bytes that were there before
// the call may not end the wait (the netpoller may have taken their
// readiness already), so call it only on a connection with nothing to
// read: the proxy peeks at a pooled connection before it reuses one. Any
// later arrival (the answer, the peer's close or reset) ends the wait.
//
// It waits only when the write was quick (answerLikely): a parked
// goroutine runs again only once the scheduler polls the network, which
// a busy scheduler does seldom (every 10 ms at 1,000 connections), so an
// answer that may be there already is read for first.
//
// It returns how much of p went. When all of p went, the next Read reads
// the answer, or reports what ended the wait (the read deadline, Close).
// When the send buffer was full, n < len(p) and nothing was waited for;
// the caller writes p[n:] with Write, which applies the write deadline,
// and then reads. err is a write error only.
func (s *Sock) SendThenAwait(p []byte) (n int, err error) {
	o := &s.sa
	o.buf, o.n, o.err, o.eof, o.sent = p, 0, 0, false, false
	// An error of the wait itself (a deadline, Close) is left to the
	// next Read, which meets it again: the request went.
	werr := s.rc.Read(o.fn)
	n, errno := o.n, o.err
	o.buf = nil
	switch {
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	case werr != nil && n < len(p):
		return n, s.opError("write", werr)
	}
	return n, nil
}

// Read reads like net.Conn's Read: the read deadline and Close apply.
func (s *Sock) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o := &s.r
	o.buf, o.n, o.err, o.eof = p, 0, 0, false
	err := s.rc.Read(o.fn)
	n, errno, eof := o.n, o.err, o.eof
	o.buf = nil
	switch {
	case err != nil:
		return 0, s.opError("read", err)
	case errno != 0:
		return 0, s.opError("read", os.NewSyscallError("read", errno))
	case eof:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p like net.Conn's Write: the write deadline and
// Close apply, and n says how much went out before an error.
func (s *Sock) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	o := &s.w
	o.buf, o.n, o.err, o.eof = p, 0, 0, false
	err := s.rc.Write(o.fn)
	n, errno, stuck := o.n, o.err, o.eof
	o.buf, o.more = nil, false
	switch {
	case err != nil:
		return n, s.opError("write", err)
	case errno != 0:
		return n, s.opError("write", os.NewSyscallError("write", errno))
	case stuck:
		return n, io.ErrUnexpectedEOF // as net.Conn's Write when write(2) takes nothing
	}
	return n, nil
}

// MoreFollows makes the next Write send with MSG_MORE: its bytes wait in
// the socket until the next send (a write or sendfile) without it, and
// leave in the same segment as that send's first bytes. h1server sends a
// response head this way before the body's sendfile, so the head is not a
// segment of its own. The caller must send again, or call Push, or close
// the socket: the kernel holds such bytes until then (about 200 ms was
// seen in a test run without the push).
func (s *Sock) MoreFollows() { s.w.more = true }

// Push sends bytes held by a MoreFollows write that no send followed.
// Setting TCP_NODELAY (levee's sockets have it already) pushes what the
// socket holds.
func (s *Sock) Push() error {
	var serr error
	err := s.rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// opError words an error as net.Conn's would be: a deadline stays a
// net.Error whose Timeout is true, a closed socket stays net.ErrClosed.
func (s *Sock) opError(opname string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: opname, Net: s.c.LocalAddr().Network(), Source: s.c.LocalAddr(), Addr: s.c.RemoteAddr(), Err: err}
}
