//go:build unix

package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// closedByPeer reports whether an idle connection can no longer carry a
// request: the origin closed it (EOF), reset it, or sent bytes nobody asked
// for. It peeks at the socket without blocking and without consuming.
// On a TLS connection any pending byte counts as dead, since it cannot be
// told from a close_notify without reading it.
func closedByPeer(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var buf [1]byte
	dead := false
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the one answer of a healthy idle connection;
		// EOF (no error, no byte), data and errors all mean dead.
		dead = rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK
		return true
	})
	return dead || err != nil
}
