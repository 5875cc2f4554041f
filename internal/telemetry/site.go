package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// SiteMetrics are one site's request metrics, resolved once so the request
// path does not hash label values on every request.
type SiteMetrics struct {
	codes    [7]prometheus.Counter // 1xx..5xx, 499, other
	Duration prometheus.Observer
	Gone     prometheus.Counter
}

// Code returns the counter for a status class index (see CodeClass).
func (s *SiteMetrics) Code(i int) prometheus.Counter { return s.codes[i] }

// CodeClasses are the code label values, indexed as CodeClass returns.
var CodeClasses = [7]string{"1xx", "2xx", "3xx", "4xx", "5xx", "499", "other"}

// CodeClass maps a status to its index in CodeClasses.
func CodeClass(status int) int {
	if status == 499 {
		return 5
	}
	if c := status/100 - 1; c >= 0 && c < 5 {
		return c
	}
	return 6
}

// siteCache holds resolved SiteMetrics by site name. Names come only from
// config (at most config.MaxSites per generation, plus "-"); like the
// Prometheus series behind them, entries of sites removed by a reload stay
// until restart.
type siteCache struct{ m sync.Map }

// Site returns the metrics of the named site, resolving them once.
func (m *Metrics) Site(name string) *SiteMetrics {
	if v, ok := m.sites.m.Load(name); ok {
		return v.(*SiteMetrics)
	}
	s := &SiteMetrics{
		Duration: m.RequestDuration.WithLabelValues(name),
		Gone:     m.ClientsGone.WithLabelValues(name),
	}
	for i, c := range CodeClasses {
		s.codes[i] = m.Requests.WithLabelValues(name, c)
	}
	v, _ := m.sites.m.LoadOrStore(name, s)
	return v.(*SiteMetrics)
}
