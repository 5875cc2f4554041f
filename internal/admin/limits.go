package admin

import (
	"errors"
	"log/slog"
	"math"
	"strconv"
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

type client struct {
	tokens   float64
	last     time.Time
	inflight int
}

type limiter struct {
	lim     Limits
	metrics *metrics
	log     *slog.Logger

	mu       sync.Mutex
	inflight int
	all      client // the whole listener's rate bucket
	clients  map[string]*client
	logged   map[string]time.Time
}

type rejection struct {
	status          int
	code, msg       string
	retryAfter      string
	reasonForMetric string
}

func newLimiter(l Limits, m *metrics, log *slog.Logger) *limiter {
	return &limiter{lim: l, metrics: m, log: log, clients: map[string]*client{}, logged: map[string]time.Time{},
		all: client{tokens: l.MaxBurst, last: time.Now()}}
}

// acquire admits one request of key, or says why not.
func (l *limiter) acquire(key string) (release func(), rej *rejection) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[key]
	if c == nil {
		if len(l.clients) >= l.lim.MaxClients {
			l.forgetIdle()
		}
		if len(l.clients) >= l.lim.MaxClients {
			return nil, l.reject(now, &rejection{status: 503, code: "busy", reasonForMetric: "clients",
				msg: "the admin API tracks too many clients at once; try again shortly", retryAfter: "1"})
		}
		c = &client{tokens: l.lim.PerClientBurst, last: now}
		l.clients[key] = c
	}
	c.tokens = math.Min(l.lim.PerClientBurst, c.tokens+now.Sub(c.last).Seconds()*l.lim.PerClientRate)
	c.last = now
	l.all.tokens = math.Min(l.lim.MaxBurst, l.all.tokens+now.Sub(l.all.last).Seconds()*l.lim.MaxRate)
	l.all.last = now
	switch {
	case l.inflight >= l.lim.MaxInflight:
		return nil, l.reject(now, &rejection{status: 503, code: "busy", reasonForMetric: "inflight",
			msg: "the admin API is busy; try again shortly", retryAfter: "1"})
	case l.all.tokens < 1:
		return nil, l.reject(now, &rejection{status: 503, code: "busy", reasonForMetric: "rate",
			msg: "the admin API is over " + strconv.FormatFloat(l.lim.MaxRate, 'f', -1, 64) + " requests per second in all; try again shortly", retryAfter: "1"})
	case c.inflight >= l.lim.PerClientInflight:
		return nil, l.reject(now, &rejection{status: 429, code: "rate_limited", reasonForMetric: "client_inflight",
			msg: "too many requests of this client at once", retryAfter: "1"})
	case c.tokens < 1:
		wait := math.Ceil((1 - c.tokens) / l.lim.PerClientRate)
		return nil, l.reject(now, &rejection{status: 429, code: "rate_limited", reasonForMetric: "client_rate",
			msg:        "over " + strconv.FormatFloat(l.lim.PerClientRate, 'f', -1, 64) + " requests per second for this client",
			retryAfter: strconv.Itoa(int(math.Max(1, wait)))})
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
	}, nil
}

// forgetIdle drops clients with nothing running and a full bucket: they
// would be made again exactly as they are.
func (l *limiter) forgetIdle() {
	now := time.Now()
	for k, c := range l.clients {
		full := c.tokens+now.Sub(c.last).Seconds()*l.lim.PerClientRate >= l.lim.PerClientBurst
		if c.inflight == 0 && full {
			delete(l.clients, k)
		}
	}
}

// reject counts every rejection and logs at most one a second per reason.
func (l *limiter) reject(now time.Time, r *rejection) *rejection {
	l.metrics.rejected.WithLabelValues(r.reasonForMetric).Inc()
	if now.Sub(l.logged[r.reasonForMetric]) >= time.Second {
		l.logged[r.reasonForMetric] = now
		l.log.Warn("admin API request rejected", "reason", r.reasonForMetric, "status", r.status)
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
