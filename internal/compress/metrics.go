package compress

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the compress capability's metrics, registered once per node.
type Metrics struct {
	responses     *prometheus.CounterVec // encoding
	bytesIn       *prometheus.CounterVec // encoding
	bytesOut      *prometheus.CounterVec // encoding
	encoderErrors prometheus.Counter
}

// NewMetrics registers the metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_compress_responses_total",
			Help: "Responses compressed, by encoding."}, []string{"encoding"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_compress_bytes_in_total",
			Help: "Body bytes before compression, by encoding."}, []string{"encoding"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_compress_bytes_out_total",
			Help: "Body bytes sent after compression, by encoding."}, []string{"encoding"}),
		encoderErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_compress_encoder_errors_total",
			Help: "Responses failed because no encoder could be made."}),
	}
	if reg != nil {
		reg.MustRegister(m.responses, m.bytesIn, m.bytesOut, m.encoderErrors)
	}
	return m
}

func (m *Metrics) count(coding string, in, out int64) {
	m.responses.WithLabelValues(coding).Inc()
	m.bytesIn.WithLabelValues(coding).Add(float64(in))
	m.bytesOut.WithLabelValues(coding).Add(float64(out))
}
