package admin

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// SeriesLength is how many one-second samples the node keeps: an hour.
const SeriesLength = 3600

// Totals are the node's figures since it started, read from its metrics,
// so they match GET /metrics.
type Totals struct {
	Requests      float64            `json:"requests"`
	Classes       map[string]float64 `json:"classes"` // 1xx..5xx, 499, other
	CacheHits     float64            `json:"cache_hits"`
	CacheLookups  float64            `json:"cache_lookups"`
	HitRatio      float64            `json:"cache_hit_ratio"`
	OriginsUp     float64            `json:"origins_up"`
	OriginsDown   float64            `json:"origins_down"`
	ShieldActions float64            `json:"shield_actions"`
	DNSQueries    float64            `json:"dns_queries"`
	P50Seconds    float64            `json:"p50_seconds"`
	P99Seconds    float64            `json:"p99_seconds"`
}

// ReadTotals reads the figures from g.
func ReadTotals(g prometheus.Gatherer) Totals {
	t := Totals{Classes: map[string]float64{}}
	fams, _ := g.Gather()
	var hist []*dto.Histogram
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "levee_http_requests_total":
				v := m.GetCounter().GetValue()
				t.Requests += v
				t.Classes[label(m, "code")] += v
			case "levee_cache_requests_total":
				v := m.GetCounter().GetValue()
				switch label(m, "result") {
				case "hit", "stale":
					t.CacheHits += v
					t.CacheLookups += v
				case "bypass":
				default:
					t.CacheLookups += v
				}
			case "levee_health_origin_up":
				if m.GetGauge().GetValue() > 0 {
					t.OriginsUp++
				} else {
					t.OriginsDown++
				}
			case "levee_shield_decisions_total":
				t.ShieldActions += m.GetCounter().GetValue()
			case "levee_dns_queries_total":
				t.DNSQueries += m.GetCounter().GetValue()
			case "levee_http_request_duration_seconds":
				hist = append(hist, m.GetHistogram())
			}
		}
	}
	if t.CacheLookups > 0 {
		t.HitRatio = t.CacheHits / t.CacheLookups
	}
	t.P50Seconds, t.P99Seconds = quantile(hist, 0.50), quantile(hist, 0.99)
	return t
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantile estimates q over histograms summed, interpolating within the
// bucket it falls in, as Prometheus' histogram_quantile does.
func quantile(hs []*dto.Histogram, q float64) float64 {
	counts := map[float64]float64{}
	var total float64
	for _, h := range hs {
		total += float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			counts[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	if total == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(counts))
	for b := range counts {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank, lower, below := q*total, 0.0, 0.0
	for _, b := range bounds {
		c := counts[b]
		if c >= rank {
			if math.IsInf(b, 1) || c == below {
				return lower
			}
			return lower + (b-lower)*(rank-below)/(c-below)
		}
		lower, below = b, c
	}
	return lower
}

// Sample is one second of the node: counts are what happened in that
// second, gauges their value at its end.
type Sample struct {
	T             int64   `json:"t"` // Unix seconds
	Requests      float64 `json:"requests"`
	C2xx          float64 `json:"2xx"`
	C3xx          float64 `json:"3xx"`
	C4xx          float64 `json:"4xx"`
	C5xx          float64 `json:"5xx"`
	CacheHits     float64 `json:"cache_hits"`
	CacheLookups  float64 `json:"cache_lookups"`
	OriginsUp     float64 `json:"origins_up"`
	OriginsDown   float64 `json:"origins_down"`
	ShieldActions float64 `json:"shield_actions"`
	DNSQueries    float64 `json:"dns_queries"`
}

// Series is a fixed ring of the last hour's samples: its memory does not
// grow with time, sites or traffic.
type Series struct {
	g prometheus.Gatherer

	mu   sync.Mutex
	ring [SeriesLength]Sample
	n    int // samples held, at most SeriesLength
	next int // where the next sample goes
	last Totals
	seen bool

	// onTick runs after each sample (the server's config watch).
	onTick func()
}

// NewSeries returns an empty series over g.
func NewSeries(g prometheus.Gatherer) *Series { return &Series{g: g} }

// Run samples every second until stop or nodeStopped is closed.
func (s *Series) Run(stop, nodeStopped <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	s.Sample(time.Now())
	if s.onTick != nil {
		s.onTick()
	}
	for {
		select {
		case <-stop:
			return
		case <-nodeStopped:
			return
		case now := <-tick.C:
			s.Sample(now)
			if s.onTick != nil {
				s.onTick()
			}
		}
	}
}

// Sample takes one sample at now. The first only sets the baseline.
func (s *Series) Sample(now time.Time) {
	t := ReadTotals(s.g)
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, seen := s.last, s.seen
	s.last, s.seen = t, true
	if !seen {
		return
	}
	d := func(a, b float64) float64 { return math.Max(0, a-b) }
	s.ring[s.next] = Sample{T: now.Unix(), Requests: d(t.Requests, prev.Requests),
		C2xx: d(t.Classes["2xx"], prev.Classes["2xx"]), C3xx: d(t.Classes["3xx"], prev.Classes["3xx"]),
		C4xx: d(t.Classes["4xx"], prev.Classes["4xx"]), C5xx: d(t.Classes["5xx"], prev.Classes["5xx"]),
		CacheHits: d(t.CacheHits, prev.CacheHits), CacheLookups: d(t.CacheLookups, prev.CacheLookups),
		OriginsUp: t.OriginsUp, OriginsDown: t.OriginsDown, ShieldActions: d(t.ShieldActions, prev.ShieldActions),
		DNSQueries: d(t.DNSQueries, prev.DNSQueries)}
	s.next = (s.next + 1) % SeriesLength
	s.n = min(s.n+1, SeriesLength)
}

// Since returns the samples after Unix second t, oldest first.
func (s *Series) Since(t int64) []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, s.n)
	for i := 0; i < s.n; i++ {
		sm := s.ring[(s.next-s.n+i+SeriesLength)%SeriesLength]
		if sm.T > t {
			out = append(out, sm)
		}
	}
	return out
}

// Len is how many samples are held.
func (s *Series) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// rate is the mean per second of f over the last n samples (0 without
// samples).
func (s *Series) rate(f func(Sample) float64, n int) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, s.n)
	if n == 0 {
		return 0
	}
	var total float64
	for i := 1; i <= n; i++ {
		total += f(s.ring[(s.next-i+SeriesLength)%SeriesLength])
	}
	return total / float64(n)
}
