package shield

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the shield's metrics, registered once per node.
type Metrics struct {
	Decisions     *prometheus.CounterVec // phase, result
	Evictions     *prometheus.CounterVec // rule
	ConnsOpen     prometheus.Gauge
	ConnsRejected *prometheus.CounterVec // reason
	ResetCuts     prometheus.Counter
	MinRateCuts   *prometheus.CounterVec // direction
	AdmitLimit    *prometheus.GaugeVec   // pool
	AdmitInflight *prometheus.GaugeVec   // pool
	Overload      prometheus.Gauge
	RoomActive    *prometheus.GaugeVec // room
	RoomQueued    *prometheus.GaugeVec // room
	ListEntries   *prometheus.GaugeVec // list
	ListLoads     *prometheus.CounterVec
	RoomSyncs     *prometheus.CounterVec // result
}

// NewMetrics registers the shield's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_shield_" + name, Help: help}, labels)
	}
	gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "levee_shield_" + name, Help: help}, labels)
	}
	m := &Metrics{
		Decisions:     cv("decisions_total", "Shield verdicts by sub-phase and result (limited, blocked, logged, denied, shed, queued, panic_open, panic_closed).", "phase", "result"),
		Evictions:     cv("evictions_total", "Live rate-limit entries evicted to keep a rule's key table in bound.", "rule"),
		ConnsOpen:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_shield_connections_open", Help: "Open client connections counted by the connection gate."}),
		ConnsRejected: cv("connections_rejected_total", "Connections closed at accept time, by reason (total, per_ip, overload, denied).", "reason"),
		ResetCuts:     prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_shield_h2_reset_disconnects_total", Help: "HTTP/2 connections closed for resetting streams too fast."}),
		MinRateCuts:   cv("min_rate_cuts_total", "Transfers cut for going slower than shield.min_rate, by direction (request, response).", "direction"),
		AdmitLimit:    gv("admission_limit", "Adaptive concurrency limit by pool.", "pool"),
		AdmitInflight: gv("admission_inflight", "Requests in flight counted by the admission limit, by pool.", "pool"),
		Overload:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_shield_overload_level", Help: "Overload level: 0 normal, 1 no keep-alive, 2 shedding, 3 not accepting."}),
		RoomActive:    gv("waitingroom_active", "Active users of a waiting room.", "room"),
		RoomQueued:    gv("waitingroom_queued", "Users queued in a waiting room.", "room"),
		ListEntries:   gv("list_entries", "Entries of the allow and deny lists in force.", "list"),
		ListLoads:     cv("list_loads_total", "Allow/deny list loads by result (ok, rejected).", "result"),
		RoomSyncs:     cv("waitingroom_syncs_total", "Waiting-room synchronisations with the cluster by result (ok, error).", "result"),
	}
	reg.MustRegister(m.Decisions, m.Evictions, m.ConnsOpen, m.ConnsRejected, m.ResetCuts, m.MinRateCuts,
		m.AdmitLimit, m.AdmitInflight, m.Overload, m.RoomActive, m.RoomQueued, m.ListEntries, m.ListLoads, m.RoomSyncs)
	return m
}
