package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// wantUDPBuffer is the receive buffer quic-go asks the kernel for; less
// means dropped packets under load.
const wantUDPBuffer = 7 << 20

// h3 is a listener's HTTP/3 side: a UDP socket on the TCP listener's port,
// kept for the slot's lifetime across reloads, and the HTTP/3 server on
// it. The server hands every request to the node's handler, which picks
// the current generation per request, so a reload neither closes the
// socket nor disturbs a request in flight.
type h3 struct {
	udp net.PacketConn
	tr  *quic.Transport
	srv *http3.Server
}

// openUDP opens the UDP socket of an HTTP/3 listener on the port its TCP
// socket got (which matters for ":0").
func openUDP(tcp net.Addr) (net.PacketConn, error) {
	ta := tcp.(*net.TCPAddr)
	return net.ListenPacket("udp", net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port)))
}

// startH3 serves HTTP/3 on udp for slot s. 0-RTT is off: early data can
// be replayed, and the pipeline does not tell idempotent requests apart
// at that stage.
func (set *Set) startH3(s *slot, sp *Spec, udp net.PacketConn) *h3 {
	set.reportUDPBuffer(s.addr, udp)
	tc := http3.ConfigureTLSConfig(&tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: set.certificateFor(s, sp.Listener.TLS.Auto),
	})
	tr := &quic.Transport{Conn: udp}
	qc := &quic.Config{
		Allow0RTT:            false,
		HandshakeIdleTimeout: max(sp.Timeouts.ReadHeader.D(), time.Second),
		MaxIdleTimeout:       sp.Timeouts.Idle.D(),
		MaxIncomingStreams:   int64(sp.Listener.HTTP2.MaxConcurrentStreams),
	}
	h := &h3{udp: udp, tr: tr}
	h.srv = &http3.Server{
		Handler:        set.handler,
		TLSConfig:      tc,
		QUICConfig:     qc,
		MaxHeaderBytes: int(sp.Limits.MaxHeaderBytes),
		IdleTimeout:    sp.Timeouts.Idle.D(),
	}
	ln, err := tr.Listen(tc, qc)
	if err != nil {
		set.log.Error("http3: cannot listen", "addr", s.addr, "err", err)
		return h
	}
	var qln http3.QUICListener = ln
	if set.hooks.Admit != nil {
		qln = admitted{Listener: ln, admit: set.hooks.Admit, goFn: set.wall.Go}
	}
	set.wall.Go("http3-server:"+s.addr, func() {
		if err := h.srv.ServeListener(qln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			set.log.Error("http3 server stopped", "addr", s.addr, "err", err)
		}
	})
	return h
}

// stop drains the HTTP/3 server within ctx, then closes the socket.
func (h *h3) stop(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if err != nil {
		_ = h.srv.Close()
	}
	_ = h.tr.Close()
	_ = h.udp.Close()
	return err
}

// reportUDPBuffer logs the UDP receive buffer once, when the socket is
// opened: below what QUIC wants, with what to raise.
func (set *Set) reportUDPBuffer(addr string, udp net.PacketConn) {
	size := udpReceiveBuffer(udp)
	if size <= 0 {
		return
	}
	if size < wantUDPBuffer {
		set.log.Warn("http3: the UDP receive buffer is small; QUIC may drop packets under load (raise net.core.rmem_max)",
			"addr", addr, "bytes", size, "want", wantUDPBuffer)
		return
	}
	set.log.Info("http3: UDP receive buffer", "addr", addr, "bytes", size)
}

func udpReceiveBuffer(udp net.PacketConn) int {
	sc, ok := udp.(syscall.Conn)
	if !ok {
		return 0
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	size := 0
	_ = raw.Control(func(fd uintptr) {
		// quic-go raises it when the transport starts; ask for it the
		// same way first so the figure is the one QUIC will have.
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, wantUDPBuffer)
		size, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	return size
}

// altSvc advertises HTTP/3 on the TCP listener's responses.
type altSvc struct {
	next  http.Handler
	value string
}

func newAltSvc(next http.Handler, port int) altSvc {
	return altSvc{next: next, value: fmt.Sprintf(`h3=":%d"; ma=86400`, port)}
}

func (a altSvc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Alt-Svc", a.value)
	a.next.ServeHTTP(w, r)
}

// admitted puts the connection gate (Hooks.Admit, the shield's per-IP and
// total limits and deny list) in front of a QUIC listener: a refused
// connection is closed before any request is read, and an admitted one is
// counted until it ends.
type admitted struct {
	*quic.Listener
	admit func(net.Conn) net.Conn
	goFn  func(name string, fn func())
}

func (a admitted) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := a.Listener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		g := a.admit(quicNetConn{c})
		if g == nil {
			continue // refused, and closed by the gate
		}
		a.goFn("http3-conn-release", func() {
			<-c.Context().Done()
			g.Close() // releases the gate's count
		})
		return c, nil
	}
}

// quicNetConn shows a QUIC connection to the connection gate, which needs
// its addresses and a way to close it; it never reads or writes.
type quicNetConn struct{ c *quic.Conn }

var errNotStream = errors.New("http3: a QUIC connection is not a byte stream")

func (q quicNetConn) Read([]byte) (int, error)         { return 0, errNotStream }
func (q quicNetConn) Write([]byte) (int, error)        { return 0, errNotStream }
func (q quicNetConn) Close() error                     { return q.c.CloseWithError(0, "") }
func (q quicNetConn) LocalAddr() net.Addr              { return q.c.LocalAddr() }
func (q quicNetConn) RemoteAddr() net.Addr             { return q.c.RemoteAddr() }
func (q quicNetConn) SetDeadline(time.Time) error      { return nil }
func (q quicNetConn) SetReadDeadline(time.Time) error  { return nil }
func (q quicNetConn) SetWriteDeadline(time.Time) error { return nil }
