package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// udpBuffer is the socket buffer asked for on each UDP socket.
const udpBuffer = 4 << 20

// listener is one configured address: several UDP sockets bound with
// SO_REUSEPORT (the kernel spreads packets over them, one reader each) and
// a TCP listener served by levee's own loop (tcp.go).
type listener struct {
	addr string
	udp  []*net.UDPConn
	tcp  *tcpServer
}

// reconcileLocked opens addresses that are new and closes those gone.
func (s *Server) reconcileLocked(want []string) {
	keep := map[string]bool{}
	for _, a := range want {
		keep[a] = true
		if _, ok := s.listeners[a]; ok {
			continue
		}
		l, err := s.open(a)
		if err != nil {
			s.m.listen.Inc()
			s.log.Error("dns: cannot listen; this address does not serve", "addr", a, "err", err)
			continue
		}
		s.listeners[a] = l
	}
	for a, l := range s.listeners {
		if !keep[a] {
			l.close()
			delete(s.listeners, a)
		}
	}
}

func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}

// open binds addr over UDP (n sockets) and TCP, on the same port when the
// configured port is 0. A few attempts cover a port 0 whose TCP side is
// taken.
func (s *Server) open(addr string) (*listener, error) {
	n := s.sockets
	if n <= 0 {
		n = min(runtime.GOMAXPROCS(0), 16)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var l *listener
		if l, err = s.tryOpen(addr, n); err == nil {
			return l, nil
		}
	}
	return nil, err
}

func (s *Server) tryOpen(addr string, n int) (*listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	ctx := context.Background()
	l := &listener{addr: addr}
	bind := addr
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(ctx, "udp", bind)
		if err != nil {
			l.close()
			return nil, err
		}
		uc := pc.(*net.UDPConn)
		// Bursts outrun one reader for a moment; a deeper queue loses fewer
		// packets. The kernel caps it at net.core.rmem_max.
		_ = uc.SetReadBuffer(udpBuffer)
		_ = uc.SetWriteBuffer(udpBuffer)
		l.udp = append(l.udp, uc)
		bind = uc.LocalAddr().String()
	}
	tl, err := (&net.ListenConfig{}).Listen(ctx, "tcp", bind)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("tcp: %w", err)
	}
	l.tcp = newTCPServer(s, tl)
	for _, uc := range l.udp {
		s.wall.Go("dns-udp:"+addr, func() { s.serveUDP(uc) })
	}
	s.wall.Go("dns-tcp:"+addr, l.tcp.serve)
	return l, nil
}

func (l *listener) close() {
	for _, uc := range l.udp {
		uc.Close()
	}
	if l.tcp != nil {
		l.tcp.close()
	}
}

// serveUDPPlain reads and answers packets on one socket, one system call
// per datagram each way, until it is closed. serveUDP batches instead where
// the platform allows.
func (s *Server) serveUDPPlain(uc *net.UDPConn) {
	w := newWorker()
	buf := make([]byte, 65535)
	for {
		n, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if out := s.respond(w, buf[:n], from.Addr(), false); out != nil {
			_, _ = uc.WriteToUDPAddrPort(out, from)
		}
	}
}
