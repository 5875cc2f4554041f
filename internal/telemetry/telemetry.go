// Package telemetry builds a node's logger and its Prometheus registry with
// the core metrics that are not owned by one capability.
package telemetry

import (
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is one node's registry and core metrics. Each node has its own, so
// several nodes in one test process do not share counters.
type Metrics struct {
	Registry *prometheus.Registry

	Reloads          *prometheus.CounterVec
	Generation       prometheus.Gauge
	LastKnownGood    prometheus.Gauge
	Requests         *prometheus.CounterVec
	RequestDuration  *prometheus.HistogramVec
	OriginErrors     *prometheus.CounterVec
	ClientsGone      *prometheus.CounterVec
	UpgradesActive   prometheus.Gauge
	RejectedRequests *prometheus.CounterVec

	sites siteCache
}

// NewMetrics returns a registry with Go runtime, process and core metrics.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_config_reloads_total", Help: "Config loads and reloads by result (success, rejected).",
		}, []string{"result"}),
		Generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "levee_config_generation", Help: "Number of the active config generation.",
		}),
		LastKnownGood: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "levee_config_last_known_good", Help: "1 when the node runs on its last-known-good config because the configured file was rejected.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_http_requests_total", Help: "Client requests by site and status class.",
		}, []string{"site", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "levee_http_request_duration_seconds", Help: "Time from request to the end of the response, by site.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"site"}),
		OriginErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_proxy_origin_errors_total", Help: "Failed origin exchanges by site and kind (dial, tls, timeout, protocol).",
		}, []string{"site", "kind"}),
		ClientsGone: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_http_client_gone_total", Help: "Requests whose client went away before the response ended (logged as 499).",
		}, []string{"site"}),
		UpgradesActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "levee_proxy_upgraded_connections", Help: "Open upgraded (WebSocket) connections.",
		}),
		RejectedRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "levee_http_rejected_requests_total", Help: "Requests rejected before routing, by reason (body_too_large, no_site, bad_request).",
		}, []string{"reason"}),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Reloads, m.Generation, m.LastKnownGood, m.Requests, m.RequestDuration, m.OriginErrors,
		m.ClientsGone, m.UpgradesActive, m.RejectedRequests)
	return m
}

// NewLogger returns a JSON logger at the named level (debug, info, warn, error).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
