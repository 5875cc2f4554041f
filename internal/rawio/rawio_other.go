//go:build !linux

package rawio

import "net"

// Sock is only built on Linux; elsewhere New returns nil and callers keep
// using their connection.
type Sock struct{}

// New returns nil: raw socket calls are Linux-only here.
func New(net.Conn) *Sock { return nil }

func (*Sock) Read([]byte) (int, error)  { panic("rawio: Linux only") }
func (*Sock) Write([]byte) (int, error) { panic("rawio: Linux only") }
func (*Sock) MoreFollows()              { panic("rawio: Linux only") }
func (*Sock) Push() error               { panic("rawio: Linux only") }

func (*Sock) SendThenAwait([]byte) (int, error) { panic("rawio: Linux only") }
