package health

import "github.com/prometheus/client_golang/prometheus"

// metrics are the health store's; label values come from config (pool
// names and origin URLs), so their number is bounded by the config bounds.
type metrics struct {
	up          *prometheus.GaugeVec
	usable      *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	checks      *prometheus.CounterVec
	ejections   *prometheus.CounterVec
	panics      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "levee_health_origin_up", Help: "1 when the origin is a member of its pool (up), 0 when down or ejected.",
		}, []string{"pool", "origin"}),
		usable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "levee_health_pool_up_origins", Help: "Origins of the pool that are up.",
		}, []string{"pool"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_health_transitions_total", Help: "Published membership changes by pool and direction (up, down).",
		}, []string{"pool", "to"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_health_checks_total", Help: "Active checks by pool and result (ok, fail).",
		}, []string{"pool", "result"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_health_ejections_total", Help: "Passive ejections by pool and result (ejected, refused_share: the pool had its max_ejected_share out).",
		}, []string{"pool", "result"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_health_panic_total", Help: "Requests that found no usable origin in any pool of their route and tried this pool's origins anyway (panic mode).",
		}, []string{"pool"}),
	}
	if reg != nil {
		reg.MustRegister(m.up, m.usable, m.transitions, m.checks, m.ejections, m.panics)
	}
	return m
}

// forget drops an origin's series when it leaves the config.
func (m *metrics) forget(pool, origin string) {
	m.up.DeleteLabelValues(pool, origin)
}
