package h1server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// connWriter is what the write buffer flushes to. Before a sendfile body it
// sends the head with MSG_MORE, so the kernel puts head and body into the
// same segments instead of sending (and waking the client for) a small
// packet of headers first.
type connWriter struct {
	c    net.Conn
	raw  syscall.RawConn // nil when the connection has no socket to reach
	more bool
}

func newConnWriter(c net.Conn) *connWriter {
	w := &connWriter{c: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

func (w *connWriter) Write(p []byte) (int, error) {
	if !w.more || w.raw == nil {
		return w.c.Write(p)
	}
	written := 0
	var serr error
	err := w.raw.Write(func(fd uintptr) bool {
		for written < len(p) {
			n, err := unix.SendmsgN(int(fd), p[written:], nil, nil, unix.MSG_MORE)
			if err == unix.EAGAIN {
				return false
			}
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				serr = err
				return true
			}
			written += n
		}
		return true
	})
	if err == nil {
		err = serr
	}
	return written, err
}
