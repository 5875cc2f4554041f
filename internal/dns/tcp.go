package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// TCP bounds. A connection first has dns.tcp_query_timeout to deliver a
// complete query; once it has, it may idle tcpIdleTimeout between queries
// (RFC 7766 section 6.2.3), and each later query, from its first byte, again
// has dns.tcp_query_timeout to arrive whole.
const (
	tcpIdleTimeout  = 10 * time.Second
	tcpWriteTimeout = 5 * time.Second
	// maxTCPConns bounds the open connections per address; past it a new
	// one is closed at once (counted).
	maxTCPConns = 1024
	// defaultTCPQueryTimeout applies when the config has none (a Server
	// driven without config defaults).
	defaultTCPQueryTimeout = time.Second
)

// tcpServer serves DNS over one TCP listener with levee's own loop: each
// message goes through the same respond path as a UDP packet (so error
// replies are the same bytes), zone transfers aside.
type tcpServer struct {
	s  *Server
	ln net.Listener

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool
}

func newTCPServer(s *Server, ln net.Listener) *tcpServer {
	return &tcpServer{s: s, ln: ln, conns: map[net.Conn]struct{}{}}
}

// serve accepts connections until the listener is closed.
func (t *tcpServer) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a moment rather
			// than spin on the error.
			t.s.log.Warn("dns: tcp accept failed", "addr", t.ln.Addr().String(), "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !t.track(c) {
			t.s.m.tcpClosed.WithLabelValues("limit").Inc()
			c.Close()
			continue
		}
		t.s.wall.Go("dns-tcp-conn", func() {
			defer t.untrack(c)
			t.s.serveTCPConn(c)
		})
	}
}

func (t *tcpServer) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.conns) >= maxTCPConns {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *tcpServer) untrack(c net.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// close stops accepting and closes every open connection.
func (t *tcpServer) close() {
	t.mu.Lock()
	t.closed = true
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.ln.Close()
}

// tcpQueryTimeout is the configured time a TCP query may take to arrive.
func (s *Server) tcpQueryTimeout() time.Duration {
	if d := time.Duration(s.tcpTimeout.Load()); d > 0 {
		return d
	}
	return defaultTCPQueryTimeout
}

// serveTCPConn answers the queries of one connection, one at a time, until
// the client closes it or is too slow.
func (s *Server) serveTCPConn(c net.Conn) {
	client := addrOf(c.RemoteAddr())
	w := s.tcpWorker()
	defer s.tcpWorkers.Put(w)
	first := true
	for {
		q, started, err := s.readTCPQuery(c, w.in[:0], first)
		if err != nil {
			var ne net.Error
			switch {
			case !errors.As(err, &ne) || !ne.Timeout():
			case first || started:
				s.m.tcpClosed.WithLabelValues("slow").Inc()
				s.log.Debug("dns: tcp connection closed: no complete query in time", "client", client.String())
			default:
				s.m.tcpClosed.WithLabelValues("idle").Inc()
			}
			return
		}
		w.in = q[:0]
		first = false
		if req := transferQuery(q); req != nil {
			ok := s.wall.Run("dns-axfr", func() { s.transfer(c, req, client) })
			if !ok {
				return
			}
			continue
		}
		if out := s.respond(w, q, client, true); out != nil {
			if writeTCP(c, out) != nil {
				return
			}
		}
	}
}

func (s *Server) tcpWorker() *worker {
	if w, ok := s.tcpWorkers.Get().(*worker); ok {
		return w
	}
	w := newWorker()
	w.in = make([]byte, 0, 512)
	return w
}

// readTCPQuery reads one length-prefixed message into buf. The first
// message must arrive whole within the query timeout of the connection's
// start; a later one may wait the idle timeout for its first byte, then has
// the query timeout for the rest.
func (s *Server) readTCPQuery(c net.Conn, buf []byte, first bool) (q []byte, started bool, err error) {
	qt := s.tcpQueryTimeout()
	wait := tcpIdleTimeout
	if first {
		wait = qt
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, false, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:1]); err != nil {
		return nil, false, err
	}
	if !first {
		if err := c.SetReadDeadline(time.Now().Add(qt)); err != nil {
			return nil, true, err
		}
	}
	if _, err := io.ReadFull(c, l[1:]); err != nil {
		return nil, true, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, true, err
	}
	return buf, true, nil
}

// writeTCP sends one message with its length prefix.
func writeTCP(c net.Conn, b []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
		return err
	}
	l := [2]byte{byte(len(b) >> 8), byte(len(b))}
	bufs := net.Buffers{l[:], b}
	_, err := bufs.WriteTo(c)
	return err
}

// writeTCPMsg packs m and sends it.
func writeTCPMsg(c net.Conn, m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	return writeTCP(c, b)
}

// transferQuery returns the parsed query when q asks for a zone transfer
// (AXFR or IXFR, one question, opcode QUERY); nil sends q down the usual
// path, which also answers malformed transfers.
func transferQuery(q []byte) *mdns.Msg {
	if len(q) < 12 || q[2]&0x80 != 0 || (q[2]>>3)&0xF != mdns.OpcodeQuery || be16(q[4:]) != 1 {
		return nil
	}
	// Look at the type before parsing the whole message: most queries are
	// not transfers.
	off := 12
	for off < len(q) && q[off] != 0 && q[off] <= 63 {
		off += int(q[off]) + 1
	}
	if off+3 > len(q) {
		return nil
	}
	// A compression pointer (legal, if odd, in a question) is left to the
	// full parser below.
	if t := be16(q[off+1:]); q[off] == 0 && t != mdns.TypeAXFR && t != mdns.TypeIXFR {
		return nil
	}
	req := new(mdns.Msg)
	if req.Unpack(q) != nil || len(req.Question) != 1 {
		return nil
	}
	if t := req.Question[0].Qtype; t != mdns.TypeAXFR && t != mdns.TypeIXFR {
		return nil
	}
	return req
}
