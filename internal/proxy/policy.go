package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/config"
	"levee/internal/router"
)

// RoutePolicy is a route's retry and fallback policy, compiled.
type RoutePolicy struct {
	// Attempts is the total tries, the first included; PerPool the most
	// tries in one pool before the next.
	Attempts, PerPool int
	// PerTry bounds each try up to the response headers; 0: no own bound.
	PerTry time.Duration
	// Methods are retryable besides the idempotent ones.
	Methods map[string]bool
	// OnStatus are origin statuses retried elsewhere.
	OnStatus []int
	// MaxBody is the largest request body buffered for a retry.
	MaxBody int64
	// Fallback answers when every pool failed; nil returns the error.
	Fallback *Fallback
}

// Fallback is a static page answered with 503 when every pool failed.
type Fallback struct {
	Body        []byte
	ContentType string
	RetryAfter  string
}

// singleTry is the policy of a route that has none: one try, no retries.
var singleTry = &RoutePolicy{Attempts: 1, PerPool: 1}

func (p *Proxy) policyOf(rt *router.Route) *RoutePolicy {
	if rt.ID < len(p.Policies) && p.Policies[rt.ID] != nil {
		return p.Policies[rt.ID]
	}
	return singleTry
}

// CompilePolicy compiles a route's retries: and fallback: blocks.
func CompilePolicy(r *config.Retries, f *config.Fallback) *RoutePolicy {
	p := &RoutePolicy{Attempts: r.Attempts, PerPool: r.PerPool, PerTry: r.PerTryTimeout.D(),
		OnStatus: r.OnStatus, MaxBody: int64(r.MaxBody), Methods: map[string]bool{}}
	for _, m := range r.Methods {
		p.Methods[m] = true
	}
	if f != nil && f.Static != "" {
		p.Fallback = &Fallback{Body: []byte(f.Static), ContentType: f.ContentType,
			RetryAfter: strconv.Itoa(int(f.RetryAfter.D().Seconds()))}
	}
	return p
}

// retryableMethod reports whether r may be sent twice: an idempotent
// method (RFC 9110 9.2.2), a method the route lists, or an
// Idempotency-Key header.
func (p *RoutePolicy) retryableMethod(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return p.Methods[r.Method] || len(r.Header["Idempotency-Key"]) > 0
}

func (p *RoutePolicy) retryStatus(code int) bool {
	for _, s := range p.OnStatus {
		if s == code {
			return true
		}
	}
	return false
}

// Failover is the node-level state retries need: the budget, the health
// store to tell about panic mode, and metrics. A Proxy without one tries
// once.
type Failover struct {
	Budget  *Budget
	Health  PanicReporter
	Metrics *FailoverMetrics
}

// PanicReporter is told when a request finds no usable origin in any pool
// of its route and tries the origins of pool anyway.
type PanicReporter interface {
	Panic(pool string)
}

// FailoverMetrics count retries, failovers and fallbacks.
type FailoverMetrics struct {
	Retries         *prometheus.CounterVec
	BudgetExhausted prometheus.Counter
	Failovers       prometheus.Counter
	Fallbacks       *prometheus.CounterVec
	CircuitOpen     prometheus.Counter
}

// NewFailoverMetrics registers the failover metrics on reg.
func NewFailoverMetrics(reg prometheus.Registerer) *FailoverMetrics {
	m := &FailoverMetrics{
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_proxy_retries_total", Help: "Retries by reason (connect: the origin never got the request, free of the budget; error; status).",
		}, []string{"reason"}),
		BudgetExhausted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_proxy_retry_budget_exhausted_total", Help: "Retries refused because the node-wide retry budget was spent.",
		}),
		Failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_proxy_failovers_total", Help: "Tries sent to a pool other than the route's first.",
		}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_proxy_fallbacks_total", Help: "Requests answered by the route's fallback after every pool failed, by kind (static, error).",
		}, []string{"kind"}),
		CircuitOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "levee_proxy_circuit_open_total", Help: "Origins skipped because their max_conns and max_pending were full.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Retries, m.BudgetExhausted, m.Failovers, m.Fallbacks, m.CircuitOpen)
	}
	return m
}
