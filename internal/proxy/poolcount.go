package proxy

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolCounters count what the origin connection pools do, for every
// transport of one node (TransportStore): dials, idle connections closed
// and why, and requests sent again after a pooled connection failed. They
// tell an operator whether max_idle_per_origin and timeouts.idle fit the
// load: a pool smaller than the load shows as dials and pool_full closes
// growing with the request count.
type PoolCounters struct {
	Dials          atomic.Int64 // origin connections dialed, both paths
	PoolFull       atomic.Int64 // closed on return: max_idle_per_origin idle already
	Expired        atomic.Int64 // closed idle past timeouts.idle (or the origin's Keep-Alive)
	ClosedByOrigin atomic.Int64 // found closed (or sending) by the check before reuse
	StaleRetries   atomic.Int64 // requests sent again after a pooled connection failed silently
}

// RegisterPoolMetrics exports c on reg.
func RegisterPoolMetrics(reg prometheus.Registerer, c *PoolCounters) {
	count := func(v *atomic.Int64) func() float64 { return func() float64 { return float64(v.Load()) } }
	closed := func(reason string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "levee_proxy_origin_idle_closed_total", ConstLabels: prometheus.Labels{"reason": reason},
			Help: "Idle origin connections closed, by reason (pool_full: max_idle_per_origin were idle already; expired: idle past timeouts.idle; closed_by_origin: found closed before reuse).",
		}, count(v))
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "levee_proxy_origin_dials_total", Help: "Origin connections dialed.",
		}, count(&c.Dials)),
		closed("pool_full", &c.PoolFull),
		closed("expired", &c.Expired),
		closed("closed_by_origin", &c.ClosedByOrigin),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "levee_proxy_stale_retries_total", Help: "Requests sent again on a new connection after a pooled one failed before any response byte.",
		}, count(&c.StaleRetries)),
	)
}
