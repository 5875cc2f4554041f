//go:build unix

package proxy

import (
	"crypto/tls"
	"syscall"
	"unsafe"
)

// preparePeek keeps what closedByPeer needs, once per connection: the
// socket's RawConn and the function given to it, which would otherwise be
// allocated on every request.
func (c *h1conn) preparePeek() {
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = raw
	c.peek = func(fd uintptr) bool {
		var buf [1]byte
		// A raw call: the peek never blocks, so the scheduler need not
		// hand the P to another thread while it runs.
		_, _, rerr := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		// Nothing to read is the one answer of a healthy idle connection;
		// EOF (no error, no byte), data and errors all mean dead.
		c.dead = rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK
		return true
	}
}

// closedByPeer reports whether an idle connection can no longer carry a
// request: the origin closed it (EOF), reset it, or sent bytes nobody asked
// for. It peeks at the socket without blocking and without consuming.
// On a TLS connection any pending byte counts as dead, since it cannot be
// told from a close_notify without reading it.
func (c *h1conn) closedByPeer() bool {
	if c.raw == nil {
		return false
	}
	c.dead = false
	err := c.raw.Read(c.peek)
	return c.dead || err != nil
}
