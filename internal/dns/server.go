// Package dns is levee's authoritative DNS server: zones from zone files and
// config, answers steered by the same health state as the proxy, online
// DNSSEC signing, response rate limiting, AXFR and NOTIFY. It is the only
// package that imports github.com/miekg/dns.
package dns

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
)

// maxAnswerCache bounds the pre-packed answers of one view.
const maxAnswerCache = 200000

// viewMaxAge forces a rebuild of the answers (and so fresh signatures) at
// least this often, well inside the signatures' validity.
const viewMaxAge = 24 * time.Hour

// Options configure a Server beyond its config.
type Options struct {
	Log    *slog.Logger
	Wall   *guard.Wall
	Health Health
	// Registry receives the levee_dns_* metrics; nil keeps them private.
	Registry prometheus.Registerer
}

// Server serves the zones of the applied config on its addresses. Its
// listeners, health tracker and metrics outlive configs; zones and answers
// are swapped whole.
type Server struct {
	log    *slog.Logger
	wall   *guard.Wall
	health Health
	m      *metrics

	// testPanic, when set, is called with each query's key (tests of the
	// panic wall).
	testPanic atomic.Pointer[func(name []byte)]

	view atomic.Pointer[view]
	chal challenges // ACME DNS-01 records (dynamic.go)
	rrl  atomic.Pointer[rrl]
	// tcpTimeout is dns.tcp_query_timeout in nanoseconds; read by every
	// TCP connection, so a reload applies to open ones too.
	tcpTimeout atomic.Int64
	tcpWorkers sync.Pool

	mu        sync.Mutex // guards the fields below
	zones     *Zones
	tracker   *tracker
	poll      time.Duration
	listeners map[string]*listener
	sockets   int
	polling   bool
	stopped   bool
	stop      chan struct{}
}

// view is what queries read: zones, the health they are answered with,
// and the answers packed so far. A new view replaces it whole.
type view struct {
	zones  *Zones
	health map[string]bool
	cache  *answerCache
	built  time.Time
	m      *metrics
}

func (v *view) up(m *member) bool {
	u, ok := v.health[m.key]
	return !ok || u
}

// New returns a server with no zones and no listeners.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Wall == nil {
		o.Wall = guard.New(o.Log, nil)
	}
	s := &Server{log: o.Log, wall: o.Wall, health: o.Health, m: newMetrics(o.Registry),
		listeners: map[string]*listener{}, stop: make(chan struct{}), tracker: newTracker(0)}
	return s
}

// Apply swaps in the zones of c (built by Build), opens and closes
// addresses to match c, and NOTIFYs the secondaries of changed zones. An
// address that cannot be opened is logged and counted; the others serve.
func (s *Server) Apply(c *Config, zs *Zones) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	old := s.zones
	s.zones = zs
	for _, w := range zs.warnings {
		s.log.Warn(w)
	}
	s.poll = c.HealthPoll.D()
	s.tcpTimeout.Store(int64(c.TCPQueryTimeout.D()))
	s.tracker.restoreAfter = c.RestoreAfter.D()
	s.rrl.Store(newRRL(&c.RRL, s.m.rrlEvict.Inc))
	for _, z := range zs.zones {
		if z.signer != nil {
			z.signer.hits = s.m.signing.WithLabelValues("hit").Inc
			z.signer.misses = s.m.signing.WithLabelValues("miss").Inc
			z.signer.flushes = s.m.signing.WithLabelValues("flush").Inc
		}
	}
	s.refreshLocked(true)
	s.m.zones.Set(float64(len(zs.zones)))
	s.sockets = c.UDPSockets
	s.reconcileLocked(c.Listen)
	// Steered names need health; signed zones need their packed answers
	// (and so signatures) renewed before the signatures expire.
	if (len(zs.members) > 0 || zs.signed()) && !s.polling {
		s.polling = true
		s.wall.Go("dns-health", s.pollHealth)
	}
	s.notifyChanged(old, zs)
}

// refreshLocked reads health and, when it changed (or force), publishes a
// new view with an empty answer cache.
func (s *Server) refreshLocked(force bool) {
	if s.zones == nil {
		return
	}
	health, changed := s.tracker.update(s.health, s.zones.members)
	cur := s.view.Load()
	if !force && !changed && cur != nil && time.Since(cur.built) < viewMaxAge {
		return
	}
	s.view.Store(&view{zones: s.zones, health: health, cache: newAnswerCache(maxAnswerCache), built: time.Now(), m: s.m})
}

// pollHealth re-reads health every poll interval until Stop. It runs from
// the first config with a steered name or a signed zone, never lazily on
// a query.
func (s *Server) pollHealth() {
	for {
		s.mu.Lock()
		d := s.poll
		s.mu.Unlock()
		select {
		case <-s.stop:
			return
		case <-time.After(d):
		}
		s.Refresh()
	}
}

// Refresh reads health once and republishes the answers if it changed.
// The poller calls it; tests call it instead of waiting.
func (s *Server) Refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.refreshLocked(false)
	}
}

// SetClock replaces the health damping clock (tests).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.tracker.now = now
	s.mu.Unlock()
}

// Addrs returns the bound UDP address of each configured address.
func (s *Server) Addrs() map[string]net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]net.Addr{}
	for k, l := range s.listeners {
		out[k] = l.udp[0].LocalAddr()
	}
	return out
}

// Stop closes every listener and stops the health poller.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	close(s.stop)
	for k, l := range s.listeners {
		l.close()
		delete(s.listeners, k)
	}
}
