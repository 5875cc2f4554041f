package listener

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exports the counters of levee's HTTP/2 servers: the
// connections they cut for abuse, by reason, the streams they refused and
// the handlers that panicked. Counters read at scrape time cost nothing on
// the request path.
func (set *Set) RegisterMetrics(reg prometheus.Registerer) {
	cuts := func(reason string, read func() int64) {
		_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "levee_http2_connections_cut_total",
			Help:        "HTTP/2 connections levee's server closed, by reason (reset: rapid reset; flood: control frames or CONTINUATION; protocol: protocol error).",
			ConstLabels: prometheus.Labels{"reason": reason},
		}, func() float64 { return float64(read()) }))
	}
	cuts("reset", set.h2.ResetCuts.Load)
	cuts("flood", set.h2.FloodCuts.Load)
	cuts("protocol", set.h2.ProtocolErrors.Load)
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "levee_http2_streams_refused_total",
		Help: "HTTP/2 streams refused past the connection's concurrent-stream limit.",
	}, func() float64 { return float64(set.h2.RefusedStreams.Load()) }))
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "levee_http2_streams_stalled_total",
		Help: "HTTP/2 responses reset after waiting for the client's flow-control window longer than timeouts.write.",
	}, func() float64 { return float64(set.h2.StalledStreams.Load()) }))
	_ = reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "levee_http2_handler_panics_total",
		Help: "HTTP/2 request handlers that panicked (the stream was reset; the connection and node went on).",
	}, func() float64 { return float64(set.h2.Panics.Load()) }))
}
