package admin

import (
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

// The dashboard's pages read the node's metrics (the shared snapshot, so
// they agree with GET /metrics and cost at most a render a second) and,
// for names the metrics do not carry, the active config.

// metricValues indexes a snapshot: family name -> the value of each
// series with its labels.
type metricValues map[string][]labelled

type labelled struct {
	labels map[string]string
	value  float64
}

func indexFamilies(fams []*dto.MetricFamily) metricValues {
	out := metricValues{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			l := labelled{labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				l.labels[lp.GetName()] = lp.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				l.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				l.value = m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				l.value = m.GetUntyped().GetValue()
			default:
				continue
			}
			out[f.GetName()] = append(out[f.GetName()], l)
		}
	}
	return out
}

// sum adds the series of name whose labels match every given pair.
func (mv metricValues) sum(name string, match ...string) float64 {
	var total float64
	for _, l := range mv[name] {
		if matches(l.labels, match) {
			total += l.value
		}
	}
	return total
}

// by sums the series of name by the value of one label.
func (mv metricValues) by(name, label string, match ...string) map[string]float64 {
	out := map[string]float64{}
	for _, l := range mv[name] {
		if matches(l.labels, match) {
			out[l.labels[label]] += l.value
		}
	}
	return out
}

func matches(labels map[string]string, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if labels[pairs[i]] != pairs[i+1] {
			return false
		}
	}
	return true
}

func (s *Server) values() metricValues { return indexFamilies(s.snaps.families(time.Now())) }

// CacheTier is one tier of the cache.
type CacheTier struct {
	Tier      string  `json:"tier"`
	Objects   float64 `json:"objects"`
	Bytes     float64 `json:"bytes"`
	Evictions float64 `json:"evictions"`
}

// CacheView is GET /api/v1/cache.
type CacheView struct {
	Requests     map[string]float64 `json:"requests"` // by result: hit, miss, stale, revalidated, bypass
	Hits         float64            `json:"hits"`
	Lookups      float64            `json:"lookups"`
	HitRatio     float64            `json:"hit_ratio"`
	StaleServed  float64            `json:"stale_served"`
	StaleOnError float64            `json:"stale_on_error"`
	Purged       map[string]float64 `json:"purged"` // by kind: hard, soft
	Coalesced    float64            `json:"coalesced"`
	FillErrors   float64            `json:"fill_errors"`
	Tiers        []CacheTier        `json:"tiers"`
}

func (s *Server) cachePage(w http.ResponseWriter, r *http.Request) {
	mv := s.values()
	t := ReadTotals(familyGatherer(s.snaps.families(time.Now())))
	v := CacheView{Requests: mv.by("levee_cache_requests_total", "result"), Hits: t.CacheHits, Lookups: t.CacheLookups,
		HitRatio: t.HitRatio, StaleServed: mv.sum("levee_cache_requests_total", "result", "stale"),
		StaleOnError: mv.sum("levee_cache_stale_on_error_total"), Purged: mv.by("levee_cache_purged_objects_total", "kind"),
		Coalesced: mv.sum("levee_cache_coalesced_total"), FillErrors: mv.sum("levee_cache_fill_errors_total")}
	objects, bytes := mv.by("levee_cache_objects", "tier"), mv.by("levee_cache_bytes", "tier")
	evictions := mv.by("levee_cache_evictions_total", "tier")
	for _, tier := range sortedUnion(objects, bytes, evictions) {
		v.Tiers = append(v.Tiers, CacheTier{Tier: tier, Objects: objects[tier], Bytes: bytes[tier], Evictions: evictions[tier]})
	}
	writeJSON(w, http.StatusOK, v)
}

// OriginView is one origin of a pool.
type OriginView struct {
	Origin string `json:"origin"`
	Up     bool   `json:"up"`
}

// PoolView is one pool on GET /api/v1/origins.
type PoolView struct {
	Pool         string       `json:"pool"`
	UpOrigins    float64      `json:"up_origins"`
	Origins      []OriginView `json:"origins"`
	Ejections    float64      `json:"ejections"`
	EjectRefused float64      `json:"ejections_refused"`
	// Panic counts requests that found no healthy origin and tried this
	// pool's anyway; PanicMode is true while every origin is down.
	Panic       float64 `json:"panic_requests"`
	PanicMode   bool    `json:"panic_mode"`
	WentDown    float64 `json:"went_down"`
	CameUp      float64 `json:"came_up"`
	ChecksOK    float64 `json:"checks_ok"`
	ChecksFails float64 `json:"checks_failed"`
}

// OriginsView is GET /api/v1/origins.
type OriginsView struct {
	Pools     []PoolView `json:"pools"`
	Failovers float64    `json:"failovers"`
	Fallbacks float64    `json:"fallbacks"`
	Retries   float64    `json:"retries"`
}

func (s *Server) originsPage(w http.ResponseWriter, r *http.Request) {
	mv := s.values()
	pools := map[string]*PoolView{}
	pool := func(name string) *PoolView {
		if pools[name] == nil {
			pools[name] = &PoolView{Pool: name, Origins: []OriginView{}}
		}
		return pools[name]
	}
	for _, l := range mv["levee_health_origin_up"] {
		p := pool(l.labels["pool"])
		p.Origins = append(p.Origins, OriginView{Origin: l.labels["origin"], Up: l.value > 0})
	}
	for name, n := range mv.by("levee_health_pool_up_origins", "pool") {
		pool(name).UpOrigins = n
	}
	for _, l := range mv["levee_health_ejections_total"] {
		if l.labels["result"] == "ejected" {
			pool(l.labels["pool"]).Ejections += l.value
		} else {
			pool(l.labels["pool"]).EjectRefused += l.value
		}
	}
	for name, n := range mv.by("levee_health_panic_total", "pool") {
		pool(name).Panic = n
	}
	for _, l := range mv["levee_health_transitions_total"] {
		if l.labels["to"] == "down" {
			pool(l.labels["pool"]).WentDown += l.value
		} else {
			pool(l.labels["pool"]).CameUp += l.value
		}
	}
	for _, l := range mv["levee_health_checks_total"] {
		if l.labels["result"] == "ok" {
			pool(l.labels["pool"]).ChecksOK += l.value
		} else {
			pool(l.labels["pool"]).ChecksFails += l.value
		}
	}
	v := OriginsView{Pools: []PoolView{}, Failovers: mv.sum("levee_proxy_failovers_total"),
		Fallbacks: mv.sum("levee_proxy_fallbacks_total"), Retries: mv.sum("levee_proxy_retries_total")}
	for _, name := range sortedKeys(pools) {
		p := pools[name]
		sort.Slice(p.Origins, func(i, j int) bool { return p.Origins[i].Origin < p.Origins[j].Origin })
		p.PanicMode = len(p.Origins) > 0 && p.UpOrigins == 0
		v.Pools = append(v.Pools, *p)
	}
	writeJSON(w, http.StatusOK, v)
}

// SteerView is one health-steered name on GET /api/v1/dns, with the
// health of its pools.
type SteerView struct {
	Zone         string  `json:"zone"`
	Name         string  `json:"name"`
	Pool         string  `json:"pool"`
	PoolUp       float64 `json:"pool_up_origins"`
	FallbackPool string  `json:"fallback_pool,omitempty"`
	FallbackUp   float64 `json:"fallback_up_origins,omitempty"`
	Healthy      bool    `json:"healthy"`
}

// DNSView is GET /api/v1/dns.
type DNSView struct {
	Zones    []string           `json:"zones"`
	Queries  float64            `json:"queries"`
	QPS      float64            `json:"queries_per_second"` // over the last 10 s of samples
	ByRcode  map[string]float64 `json:"by_rcode"`
	Steered  map[string]float64 `json:"steered_answers"` // by pool state
	Steering []SteerView        `json:"steering"`
}

func (s *Server) dnsPage(w http.ResponseWriter, r *http.Request) {
	mv := s.values()
	v := DNSView{Zones: []string{}, Queries: mv.sum("levee_dns_queries_total"), ByRcode: mv.by("levee_dns_queries_total", "rcode"),
		Steered: mv.by("levee_dns_steered_answers_total", "state"), Steering: []SteerView{}}
	v.QPS = s.series.rate(func(sm Sample) float64 { return sm.DNSQueries }, 10)
	up := mv.by("levee_health_pool_up_origins", "pool")
	var cfg struct {
		DNS struct {
			Zones []struct {
				Origin string `yaml:"origin"`
				Steer  []struct {
					Name         string `yaml:"name"`
					Pool         string `yaml:"pool"`
					FallbackPool string `yaml:"fallback_pool"`
				} `yaml:"steer"`
			} `yaml:"zones"`
		} `yaml:"dns"`
	}
	// The active config passed validation; a decoding error here only
	// leaves the names out.
	_ = yaml.Unmarshal(s.node.ActiveConfig(), &cfg)
	for _, z := range cfg.DNS.Zones {
		v.Zones = append(v.Zones, z.Origin)
		for _, st := range z.Steer {
			sv := SteerView{Zone: z.Origin, Name: st.Name, Pool: st.Pool, PoolUp: up[st.Pool], FallbackPool: st.FallbackPool}
			if st.FallbackPool != "" {
				sv.FallbackUp = up[st.FallbackPool]
			}
			sv.Healthy = sv.PoolUp > 0 || sv.FallbackUp > 0
			v.Steering = append(v.Steering, sv)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// ShieldDecision is one (phase, result) count of the shield's verdicts.
type ShieldDecision struct {
	Phase  string  `json:"phase"`
	Result string  `json:"result"`
	Count  float64 `json:"count"`
}

// shieldDecisions is GET /api/v1/shield/decisions: the shield's verdicts
// since start, and how many were rate-limit actions.
func (s *Server) shieldDecisions(w http.ResponseWriter, r *http.Request) {
	mv := s.values()
	out := []ShieldDecision{}
	for _, l := range mv["levee_shield_decisions_total"] {
		out = append(out, ShieldDecision{Phase: l.labels["phase"], Result: l.labels["result"], Count: l.value})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Phase != out[j].Phase {
			return out[i].Phase < out[j].Phase
		}
		return out[i].Result < out[j].Result
	})
	writeJSON(w, http.StatusOK, map[string]any{"decisions": out,
		"rate_limit_actions": mv.sum("levee_shield_decisions_total", "phase", "ratelimit")})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedUnion(ms ...map[string]float64) []string {
	seen := map[string]float64{}
	for _, m := range ms {
		for k := range m {
			if strings.TrimSpace(k) != "" {
				seen[k] = 0
			}
		}
	}
	return sortedKeys(seen)
}
