package admin

import (
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what the admin listener may cost the node.
type Limits struct {
	// MaxInflight is how many admin requests run at once; more get 503.
	MaxInflight int
	// PerClientInflight is how many one token (or, without one, one IP)
	// may have running at once; more get 429.
	PerClientInflight int
	// PerClientRate is the sustained requests per second of one client,
	// with PerClientBurst at once; more get 429 with Retry-After.
	PerClientRate  float64
	PerClientBurst float64
	// MaxClients bounds the table of per-client state.
	MaxClients int
	// MaxConns bounds the admin listener's open connections.
	MaxConns int
	// MaxRate is the sustained requests per second of the whole listener,
	// every client together, with MaxBurst at once; more get 503 with
	// Retry-After. It bounds the work the admin API may ask of the node
	// however many clients or tokens a flood uses.
	MaxRate  float64
	MaxBurst float64
}

// DefaultLimits are the limits of a node's admin listener.
var DefaultLimits = Limits{MaxInflight: 16, PerClientInflight: 4, PerClientRate: 20, PerClientBurst: 40, MaxClients: 1024, MaxConns: 64,
	MaxRate: 200, MaxBurst: 200}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxInflight > 0 {
		d.MaxInflight = l.MaxInflight
	}
	if l.PerClientInflight > 0 {
		d.PerClientInflight = l.PerClientInflight
	}
	if l.PerClientRate > 0 {
		d.PerClientRate = l.PerClientRate
	}
	if l.PerClientBurst > 0 {
		d.PerClientBurst = l.PerClientBurst
	}
	if l.MaxClients > 0 {
		d.MaxClients = l.MaxClients
	}
	if l.MaxConns > 0 {
		d.MaxConns = l.MaxConns
	}
	if l.MaxRate > 0 {
		d.MaxRate = l.MaxRate
	}
	if l.MaxBurst > 0 {
		d.MaxBurst = l.MaxBurst
	}
	return d
}

// bucket is a token bucket: rate a second, at most burst at once. The
// whole listener has one, and each client one of its own.
type bucket struct {
	tokens, rate, burst float64
	last                time.Time
}

func newBucket(rate, burst float64, now time.Time) bucket {
	return bucket{tokens: burst, rate: rate, burst: burst, last: now}
}

// refill adds what the time since the last refill earned.
func (b *bucket) refill(now time.Time) {
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

// full reports whether the bucket would be full at now: a client with a
// full bucket and nothing running is as if it were new.
func (b *bucket) full(now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst
}

// wait is how many whole seconds until the bucket holds one token.
func (b *bucket) wait() int { return int(math.Max(1, math.Ceil((1-b.tokens)/b.rate))) }

// client is one client's (or the whole listener's) share: its bucket and
// its requests running.
type client struct {
	bucket
	inflight int
}

type limiter struct {
	lim  Limits
	log  *slog.Logger
	refs refusals

	mu       sync.Mutex
	inflight int
	all      client // the whole listener's rate
	clients  map[string]*client
	logged   [numReasons]time.Time
}

func newLimiter(l Limits, m *metrics, log *slog.Logger) *limiter {
	return &limiter{lim: l, log: log, refs: newRefusals(l, m), clients: map[string]*client{},
		all: client{bucket: newBucket(l.MaxRate, l.MaxBurst, time.Now())}}
}

// acquire admits one request of key, or says why not (and a Retry-After
// in seconds). A refusal allocates nothing: its answer is made once, in
// newRefusals.
func (l *limiter) acquire(key string) (release func(), rej *refusal, retryAfter int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[key]
	if c == nil {
		if len(l.clients) >= l.lim.MaxClients {
			l.forgetIdle(now)
		}
		if len(l.clients) >= l.lim.MaxClients {
			return nil, l.refuse(now, reasonClients), 1
		}
		c = &client{bucket: newBucket(l.lim.PerClientRate, l.lim.PerClientBurst, now)}
		l.clients[key] = c
	}
	c.refill(now)
	l.all.refill(now)
	switch {
	case l.inflight >= l.lim.MaxInflight:
		return nil, l.refuse(now, reasonInflight), 1
	case l.all.tokens < 1:
		return nil, l.refuse(now, reasonRate), 1
	case c.inflight >= l.lim.PerClientInflight:
		return nil, l.refuse(now, reasonClientInflight), 1
	case c.tokens < 1:
		return nil, l.refuse(now, reasonClientRate), c.wait()
	}
	c.tokens--
	l.all.tokens--
	c.inflight++
	l.inflight++
	return func() {
		l.mu.Lock()
		c.inflight--
		l.inflight--
		l.mu.Unlock()
	}, nil, 0
}

// forgetIdle drops clients with nothing running and a full bucket: they
// would be made again exactly as they are.
func (l *limiter) forgetIdle(now time.Time) {
	for k, c := range l.clients {
		if c.inflight == 0 && c.full(now) {
			delete(l.clients, k)
		}
	}
}

// refuse counts every refusal and logs at most one a second per reason:
// a flood costs a counter, not a log line per request.
func (l *limiter) refuse(now time.Time, why reason) *refusal {
	r := &l.refs[why]
	r.counter.Inc()
	if now.Sub(l.logged[why]) >= time.Second {
		l.logged[why] = now
		l.log.Warn("admin API request rejected", "reason", r.metricReason, "status", r.status)
	}
	return r
}

type metrics struct {
	rejected *prometheus.CounterVec
	renders  *prometheus.CounterVec
	shared   *prometheus.CounterVec
}

// newMetrics registers the admin metrics; a listener replaced on a reload
// reuses the ones already registered.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_admin_rejected_total",
			Help: "Admin API requests refused, by reason (unauthorized, forbidden, csrf, inflight, rate, client_inflight, client_rate, clients)."}, []string{"reason"}),
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_admin_renders_total",
			Help: "Fresh reads of the node's metrics made for the admin API, by kind (gather, text); bounded to about one a second."}, []string{"kind"}),
		shared: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_admin_renders_shared_total",
			Help: "Admin reads of the node's metrics answered from the last snapshot (at most a second old) instead of a fresh render."}, []string{"kind"}),
	}
	m.rejected = register(reg, m.rejected)
	m.renders = register(reg, m.renders)
	m.shared = register(reg, m.shared)
	return m
}

func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return c
}
