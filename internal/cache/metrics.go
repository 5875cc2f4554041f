package cache

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the cache's Prometheus metrics, registered once per node.
type Metrics struct {
	Requests   *prometheus.CounterVec // site, result
	Coalesced  *prometheus.CounterVec // site
	FillErrors *prometheus.CounterVec // site
	Evictions  *prometheus.CounterVec // tier
	DiskErrors *prometheus.CounterVec // op
	Corrupt    prometheus.Counter
	Purged     *prometheus.CounterVec // kind
	Overflow   *prometheus.CounterVec // what (inflight, disk_queue, encode_queue, slices, memory_record)
	// MemfdErrors counts large memory-tier bodies kept on the heap because
	// their memfd could not be made.
	MemfdErrors prometheus.Counter
	// StaleOnError counts stale answers given because the origin failed,
	// by site and the origin error's kind ("status" for a 5xx answer).
	StaleOnError *prometheus.CounterVec
	// Encoded counts encoded variants by result: stored (made in the
	// background), hit (answered from one), failed.
	Encoded *prometheus.CounterVec
	// encodedHit is Encoded's "hit" counter, resolved once for the hit path.
	encodedHit prometheus.Counter
	siteMu     sync.Mutex
	sites      map[string]*siteMetrics
}

// Results counted in levee_cache_requests_total.
const (
	resHit         = "hit"
	resMiss        = "miss"
	resStale       = "stale"
	resRevalidated = "revalidated"
	resBypass      = "bypass"
)

// siteMetrics are one site's counters, resolved once so the hit path does
// no label lookups.
type siteMetrics struct {
	hit, miss, stale, revalidated, bypass prometheus.Counter
	coalesced, fillErrors                 prometheus.Counter
}

// NewMetrics registers the cache metrics in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_requests_total",
			Help: "Cacheable-route requests by site and result (hit, miss, stale, revalidated, bypass)."}, []string{"site", "result"}),
		Coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_coalesced_total",
			Help: "Requests that waited for another request's fill of the same object, by site."}, []string{"site"}),
		FillErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_fill_errors_total",
			Help: "Fills from the origin that failed (error, 5xx, over size mid-stream), by site."}, []string{"site"}),
		Evictions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_evictions_total",
			Help: "Objects evicted for space, by tier (memory, disk)."}, []string{"tier"}),
		DiskErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_disk_errors_total",
			Help: "Disk tier I/O errors, by operation; each turned into a bypass of the disk tier."}, []string{"op"}),
		Corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_cache_disk_corrupt_total",
			Help: "Disk entries found truncated or failing their checksum, dropped unserved."}),
		Purged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_purged_objects_total",
			Help: "Objects touched by purges, by kind (hard, soft)."}, []string{"kind"}),
		Overflow: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_overflow_total",
			Help: "Times a bounded cache table was full: inflight (fills not coalesced), disk_queue (disk write skipped), memfd_map (a large body not mapped, served with sendfile)."}, []string{"what"}),
		MemfdErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_cache_memfd_errors_total",
			Help: "Large memory-tier bodies kept on the Go heap because a memfd could not be made (served without sendfile)."}),
		StaleOnError: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_stale_on_error_total",
			Help: "Stale answers given because the origin failed (stale-if-error), by site and origin error kind."}, []string{"site", "kind"}),
		Encoded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cache_encoded_variants_total",
			Help: "Encoded variants of stored objects, by result: stored (made in the background), hit (answered from one), failed."}, []string{"result"}),
		sites: map[string]*siteMetrics{},
	}
	m.encodedHit = m.Encoded.WithLabelValues("hit")
	reg.MustRegister(m.Requests, m.Coalesced, m.FillErrors, m.Evictions, m.DiskErrors, m.Corrupt,
		m.Purged, m.Overflow, m.MemfdErrors, m.StaleOnError, m.Encoded)
	return m
}

// site returns the counters of one site, creating them once.
func (m *Metrics) site(name string) *siteMetrics {
	m.siteMu.Lock()
	defer m.siteMu.Unlock()
	if s, ok := m.sites[name]; ok {
		return s
	}
	s := &siteMetrics{
		hit: m.Requests.WithLabelValues(name, resHit), miss: m.Requests.WithLabelValues(name, resMiss),
		stale: m.Requests.WithLabelValues(name, resStale), revalidated: m.Requests.WithLabelValues(name, resRevalidated),
		bypass: m.Requests.WithLabelValues(name, resBypass), coalesced: m.Coalesced.WithLabelValues(name),
		fillErrors: m.FillErrors.WithLabelValues(name),
	}
	m.sites[name] = s
	return s
}
