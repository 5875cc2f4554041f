//go:build !linux

package h1server

import (
	"errors"
	"time"
)

// Without epoll there are no ordered wake-ups: newFifo fails, the server
// logs it once and its connections read their sockets directly (the
// runtime's netpoller wakes them), as on Linux when epoll is refused.
type fifo struct{}

type epollCtl struct{}

func newFifo() (*fifo, error) {
	return nil, errors.New("ordered wake-ups need epoll (Linux)")
}

// The methods below are never called: the server holds no fifo.

func (*fifo) run()                                           {}
func (*fifo) close()                                         {}
func (*fifo) release(*conn)                                  {}
func (*fifo) unwatch(*conn)                                  {}
func (*fifo) watchByEvent(*conn, time.Time) bool             { return false }
func (*fifo) waitReadable(*conn, time.Duration) (bool, bool) { return false, true }
