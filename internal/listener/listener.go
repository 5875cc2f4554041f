// Package listener owns levee's client-facing sockets. A socket outlives
// config generations: each reload stages the listeners its config names
// (opening only new addresses, loading certificates), and the commit
// starts, swaps or retires the servers behind them without closing a
// socket that stays. Connections go from one accept loop through the
// connection hooks (ConnOrder in internal/pipeline/order.go) to levee's own
// HTTP/1 server or to net/http.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"levee/internal/config"
	"levee/internal/guard"
	"levee/internal/h2server"
)

// Hooks are the connection-level hooks, run in the order of
// pipeline.ConnOrder. Each may be nil.
type Hooks struct {
	// Admit runs on each accepted connection before any byte is read; it
	// returns nil to refuse (and close) it. The shield's connection gate.
	Admit func(net.Conn) net.Conn
	// Wrap wraps every server's handler and returns the ConnContext that
	// feeds it. The shield's HTTP/2 reset guard.
	Wrap func(http.Handler) (http.Handler, func(context.Context, net.Conn) context.Context)
	// Hello fingerprints a TLS ClientHello during the handshake (bot
	// management's JA4); requests on the connection find the result with
	// pipeline.HelloFrom.
	Hello func(*tls.ClientHelloInfo) string
	// Certificate serves the handshakes of tls.auto listeners that the
	// listener's own certificates do not cover, and ACME's TLS-ALPN-01
	// challenges. Automatic HTTPS (internal/autotls).
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Spec is one listener of a generation: its config block, the client
// limits and timeouts its server applies, and its certificates (TLS only).
type Spec struct {
	Listener config.Listener
	Timeouts config.ClientTimeouts
	Limits   config.Limits
	Certs    *Certs
}

// Set is a node's listeners. Its methods are called with the node's reload
// lock held, except Addrs, which takes it through the caller too.
type Set struct {
	log     *slog.Logger
	wall    *guard.Wall
	handler http.Handler
	hooks   Hooks
	stopped <-chan struct{}
	slots   map[string]*slot // by address as configured
	// h2 counts what every levee HTTP/2 server of the set refused; it
	// outlives the servers, which come and go with reloads.
	h2 h2server.Stats
}

// NewSet returns an empty set whose servers hand requests to handler.
// stopped is closed at shutdown (retiring servers stop waiting then).
func NewSet(log *slog.Logger, wall *guard.Wall, handler http.Handler, hooks Hooks, stopped <-chan struct{}) *Set {
	return &Set{log: log, wall: wall, handler: handler, hooks: hooks, stopped: stopped, slots: map[string]*slot{}}
}

// Specs builds the listener specs of a config, loading each TLS
// listener's certificates; nothing is opened.
func Specs(c *config.Config) ([]Spec, error) {
	specs := make([]Spec, 0, len(c.Listeners))
	var errs []error
	for i, l := range c.Listeners {
		sp := Spec{Listener: l, Timeouts: c.Timeouts, Limits: c.Limits}
		if l.TLS != nil {
			cs, err := LoadCerts(l.TLS)
			if err != nil {
				// One line per pair, each with its full path, so levee
				// validate can give each its own line number.
				for _, line := range strings.Split(err.Error(), "\n") {
					errs = append(errs, fmt.Errorf("listeners[%d].tls.%s", i, line))
				}
				continue
			}
			sp.Certs = cs
		}
		specs = append(specs, sp)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return specs, nil
}

// Commit is a staged change of listeners: sockets already opened, and
// servers to start, swap or retire once the generation is swapped in.
type Commit struct {
	set     *Set
	specs   []Spec
	drain   time.Duration
	opened  map[string]*slot
	udp     map[string]net.PacketConn // HTTP/3 sockets opened for this stage, by address
	changed []*slot
	removed []*slot
}

// Stage opens the sockets the new specs add. Nothing running is touched;
// a socket that cannot be opened fails the stage, and what it opened is
// closed again.
func (set *Set) Stage(specs []Spec, drain time.Duration) (*Commit, error) {
	c := &Commit{set: set, specs: specs, drain: drain, opened: map[string]*slot{}, udp: map[string]net.PacketConn{}}
	want := map[string]bool{}
	for i := range specs {
		sp := &specs[i]
		addr := sp.Listener.Listen
		want[addr] = true
		if s, ok := set.slots[addr]; ok {
			if s.settings != sp.settings() {
				c.changed = append(c.changed, s)
			}
			if sp.Listener.HTTP3 && s.h3 == nil {
				if err := c.openUDP(i, addr, s.ln.Addr()); err != nil {
					return nil, err
				}
			}
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			c.Rollback()
			return nil, fmt.Errorf("listeners[%d].listen: %w", i, err)
		}
		c.opened[addr] = &slot{addr: addr, ln: ln, settings: sp.settings()}
		if sp.Listener.HTTP3 {
			if err := c.openUDP(i, addr, ln.Addr()); err != nil {
				return nil, err
			}
		}
	}
	for k, s := range set.slots {
		if !want[k] {
			c.removed = append(c.removed, s)
		}
	}
	return c, nil
}

// openUDP opens listener i's HTTP/3 socket; on failure the stage is
// rolled back.
func (c *Commit) openUDP(i int, addr string, tcp net.Addr) error {
	udp, err := openUDP(tcp)
	if err != nil {
		c.Rollback()
		return fmt.Errorf("listeners[%d].http3: %w", i, err)
	}
	c.udp[addr] = udp
	return nil
}

// Rollback closes the sockets the stage opened.
func (c *Commit) Rollback() {
	for _, s := range c.opened {
		s.ln.Close()
	}
	for _, u := range c.udp {
		u.Close()
	}
}

// Apply starts servers for new and changed listeners, retires the rest,
// and puts each listener's certificates in force.
func (c *Commit) Apply() {
	set := c.set
	for i := range c.specs {
		sp := &c.specs[i]
		s, ok := c.opened[sp.Listener.Listen]
		if ok {
			s.cur.Store(set.startServer(s, sp))
			set.slots[s.addr] = s
			set.wall.Go("accept:"+s.addr, func() { set.acceptLoop(s) })
		}
		if s := set.slots[sp.Listener.Listen]; s != nil {
			if sp.Certs != nil {
				sp.Certs.log.Store(set.log)
			}
			s.certs.Store(sp.Certs)
			c.applyH3(s, sp)
		}
	}
	for _, s := range c.changed {
		for i := range c.specs {
			if sp := &c.specs[i]; sp.Listener.Listen == s.addr {
				old := s.cur.Swap(set.startServer(s, sp))
				s.settings = sp.settings()
				set.retire(old, c.drain)
			}
		}
	}
	for _, s := range c.removed {
		s.closed.Store(true)
		set.stopH3(s, c.drain)
		s.ln.Close()
		set.retire(s.cur.Load(), c.drain)
		delete(set.slots, s.addr)
	}
}

// applyH3 starts HTTP/3 on a slot that now wants it, with the socket the
// stage opened, or stops it on one that no longer does.
func (c *Commit) applyH3(s *slot, sp *Spec) {
	if udp, ok := c.udp[s.addr]; ok && s.h3 == nil {
		s.h3 = c.set.startH3(s, sp, udp)
	}
	if !sp.Listener.HTTP3 && s.h3 != nil {
		c.set.stopH3(s, c.drain)
	}
}

// stopH3 drains a slot's HTTP/3 server in the background and closes its
// socket.
func (set *Set) stopH3(s *slot, drain time.Duration) {
	h := s.h3
	if h == nil {
		return
	}
	s.h3 = nil
	set.wall.Go("retire-http3", func() {
		ctx, cancel := context.WithTimeout(context.Background(), drain+time.Second)
		defer cancel()
		_ = h.stop(ctx)
	})
}

// Addrs returns the bound address of each listener, keyed by its address
// as configured (which may end in ":0").
func (set *Set) Addrs() map[string]net.Addr {
	out := map[string]net.Addr{}
	for k, s := range set.slots {
		out[k] = s.ln.Addr()
	}
	return out
}

// Shutdown stops accepting on every socket, then drains the servers within
// ctx and cuts what is left.
func (set *Set) Shutdown(ctx context.Context) error {
	for _, s := range set.slots {
		s.closed.Store(true)
		s.ln.Close()
	}
	var err error
	for _, s := range set.slots {
		if s.h3 != nil {
			if e := s.h3.stop(ctx); e != nil {
				err = errors.Join(err, fmt.Errorf("%s: http3 drain: %w", s.addr, e))
			}
			s.h3 = nil
		}
		h := s.cur.Load()
		h.Close()
		if e := h.shutdown(ctx); e != nil {
			err = errors.Join(err, fmt.Errorf("%s: drain: %w", s.addr, e))
		}
	}
	return err
}
