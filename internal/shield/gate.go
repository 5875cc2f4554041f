package shield

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"

	"levee/internal/pipeline"
)

// GateConfig is the connection gate's settings of one generation.
type GateConfig struct {
	MaxTotal      int
	MaxPerIP      int
	Prefix        bool
	ProxyProtocol bool
	Trust         *pipeline.Trust
	Deny, Allow   *IPSet
	ReadHeader    time.Duration
}

// Gate enforces connection limits at accept time: total and per client IP
// or prefix, the deny list and overload level 3 (stop accepting). Counts
// are per open connection, so the per-IP table never holds more entries
// than there are open connections (bounded by max_total, or else by the
// process's file descriptor limit).
//
// Connections from trusted proxies are exempt from the per-IP limit (they
// carry many clients) and, with proxy_protocol on, have their PROXY header
// read to learn the client address.
type Gate struct {
	cfg   atomic.Pointer[GateConfig]
	st    *State
	total atomic.Int64

	mu  sync.Mutex
	per map[netip.Addr]int32
}

func newGate(st *State) *Gate {
	g := &Gate{st: st, per: map[netip.Addr]int32{}}
	g.cfg.Store(&GateConfig{Trust: &pipeline.Trust{}})
	return g
}

// Open returns the number of open connections counted.
func (g *Gate) Open() int64 { return g.total.Load() }

// Admit decides on a freshly accepted connection: it returns the
// connection to serve (possibly wrapped) or nil after closing it.
func (g *Gate) Admit(c net.Conn) net.Conn {
	cfg := g.cfg.Load()
	if g.st.Killed(KillAll) {
		return c
	}
	reject := func(reason string) net.Conn {
		g.st.m.ConnsRejected.WithLabelValues(reason).Inc()
		c.Close()
		return nil
	}
	if g.st.OverloadLevel() >= 3 {
		return reject("overload")
	}
	peer := addrOf(c.RemoteAddr())
	if cfg.Deny.Contains(peer) && !cfg.Allow.Contains(peer) && !g.st.Killed(KillLists) {
		return reject("denied")
	}
	trusted := cfg.Trust.Contains(peer)
	key := peer
	if cfg.Prefix {
		key = prefixOf(peer)
	}
	perIP := cfg.MaxPerIP
	if perIP > 0 && g.st.AnyUnderAttack() {
		perIP = max(1, int(float64(perIP)*g.st.attackFactor()))
	}
	if cfg.MaxTotal > 0 && g.total.Load() >= int64(cfg.MaxTotal) {
		return reject("total")
	}
	counted := !trusted && perIP > 0
	if counted {
		g.mu.Lock()
		if int(g.per[key]) >= perIP {
			g.mu.Unlock()
			return reject("per_ip")
		}
		g.per[key]++
		g.mu.Unlock()
	}
	g.total.Add(1)
	g.st.m.ConnsOpen.Inc()
	var out net.Conn = c
	if trusted && cfg.ProxyProtocol {
		out = proxyproto.NewConn(c, proxyproto.WithPolicy(proxyproto.USE), proxyproto.SetReadHeaderTimeout(cfg.ReadHeader))
	}
	return &gatedConn{Conn: out, g: g, key: key, counted: counted}
}

func (g *Gate) release(key netip.Addr, counted bool) {
	g.total.Add(-1)
	g.st.m.ConnsOpen.Dec()
	if !counted {
		return
	}
	g.mu.Lock()
	if g.per[key]--; g.per[key] <= 0 {
		delete(g.per, key)
	}
	g.mu.Unlock()
}

// gatedConn gives its slot back once, on the first Close.
type gatedConn struct {
	net.Conn
	g       *Gate
	key     netip.Addr
	counted bool
	once    sync.Once
}

// CloseWrite lets net/http half-close (it then gives the client time to
// read an error response before the connection goes).
func (c *gatedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) behind
// the gate: net/http's response.ReadFrom uses sendfile for io.Copy from a
// file only when its connection is an io.ReaderFrom.
func (c *gatedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// StreamSocket tells internal/rawio that reading and writing the socket
// below is the same as reading and writing this connection: the gate adds
// nothing to the bytes.
func (c *gatedConn) StreamSocket() bool {
	_, ok := c.Conn.(*net.TCPConn)
	return ok
}

// SyscallConn reaches the socket (levee's HTTP/1 server watches it with
// its own epoll).
func (c *gatedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.g.release(c.key, c.counted) })
	return err
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func gateConfig(cl *ConnLimits, readHeader time.Duration, trust *pipeline.Trust, allow, deny *IPSet) *GateConfig {
	return &GateConfig{MaxTotal: cl.MaxTotal, MaxPerIP: cl.MaxPerIP, Prefix: cl.Key == "prefix",
		ProxyProtocol: cl.ProxyProtocol, Trust: trust, Allow: allow, Deny: deny, ReadHeader: readHeader}
}
