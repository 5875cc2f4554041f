package h1server

import (
	"errors"
	"syscall"
	"time"

	"levee/internal/deadline"
)

var errNoSocket = errors.New("h1server: no socket to watch")

// socketFD returns the connection's socket descriptor, if it has one.
func socketFD(c any) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errNoSocket
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := raw.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// armIdle makes the connection's idle timer fire at t, or at most slack
// later. The timer is not stopped when a wait ends: kept-alive requests
// within the same slack share it instead of resetting and stopping a
// runtime timer on every request (issue 18). A timer that fired while the
// connection was busy has an expiry before t, so it is reset here (which
// drops the stale tick); one that stands expires at or after t, so a tick
// received while waiting is always a real idle timeout.
func (cn *conn) armIdle(t time.Time, slack time.Duration) {
	if cn.idle != nil && deadline.Keep(cn.idleAt, t, slack) {
		return
	}
	cn.idleAt = deadline.Round(t, slack)
	if cn.idle == nil {
		cn.idle = time.NewTimer(time.Until(cn.idleAt))
		return
	}
	cn.idle.Reset(time.Until(cn.idleAt))
}
