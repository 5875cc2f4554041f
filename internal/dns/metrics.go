package dns

import (
	"strconv"
	"sync/atomic"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Query types and rcodes counted one by one; the rest are "other". The
// counts are plain atomics on the hot path, turned into
// levee_dns_queries_total{qtype,rcode} only when scraped.
var (
	countedTypes = []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeCNAME, mdns.TypeMX, mdns.TypeNS, mdns.TypeSOA,
		mdns.TypeTXT, mdns.TypeSRV, mdns.TypePTR, mdns.TypeCAA, mdns.TypeDNSKEY, mdns.TypeDS, mdns.TypeANY,
		mdns.TypeAXFR, mdns.TypeIXFR, mdns.TypeHTTPS, mdns.TypeSVCB}
	typeIndex [65536]uint8 // qtype -> 1 + index in countedTypes; 0 is other
)

// numRcodes covers the extended rcodes (RFC 6891) up to BADCOOKIE (23);
// a power of two, so an rcode is masked into range.
const numRcodes = 32

func init() {
	for i, t := range countedTypes {
		typeIndex[t] = uint8(i + 1)
	}
}

// metrics are the DNS server's; one set per node, kept across reloads.
type metrics struct {
	queries   [18][numRcodes]atomic.Uint64
	sizes     prometheus.Histogram
	truncated prometheus.Counter
	malformed prometheus.Counter
	cacheFull prometheus.Counter
	rrl       *prometheus.CounterVec
	steered   *prometheus.CounterVec
	signing   *prometheus.CounterVec
	notify    *prometheus.CounterVec
	axfr      *prometheus.CounterVec
	listen    prometheus.Counter
	zones     prometheus.Gauge
	rrlEvict  prometheus.Counter
	tcpClosed *prometheus.CounterVec
	// challenges counts ACME DNS-01 records (dynamic.go) by event.
	challenges *prometheus.CounterVec
	queryDesc  *prometheus.Desc
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sizes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "levee_dns_response_bytes",
			Help: "Size of DNS responses sent.", Buckets: []float64{64, 128, 256, 512, 1024, 1232, 2048, 4096, 16384, 65535}}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_dns_truncated_total",
			Help: "UDP answers sent truncated (TC) because they did not fit the client's buffer."}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_dns_dropped_packets_total",
			Help: "Packets dropped unanswered: shorter than a header, or responses."}),
		cacheFull: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_dns_answer_cache_full_total",
			Help: "Answers not cached because the answer cache was at its bound."}),
		rrl: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_rrl_total",
			Help: "Responses limited by RRL, by action (drop, slip)."}, []string{"action"}),
		steered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_steered_answers_total",
			Help: "Health-steered answers by pool state (preferred, primary, fallback, cname, all_down, nodata)."}, []string{"state"}),
		signing: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_signing_cache_total",
			Help: "RRSIG lookups in the signature cache, by result (hit, miss, flush)."}, []string{"result"}),
		notify: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_notify_total",
			Help: "NOTIFY messages sent to secondaries, by result (ok, error)."}, []string{"result"}),
		axfr: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_axfr_total",
			Help: "Zone transfers asked for, by result (ok, refused, error)."}, []string{"result"}),
		listen: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_dns_listen_errors_total",
			Help: "DNS addresses that could not be opened when a config was applied."}),
		zones: prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_dns_zones", Help: "Zones served."}),
		rrlEvict: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_dns_rrl_evictions_total",
			Help: "RRL table slots taken over by another client prefix (the table is at its bound)."}),
		tcpClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_tcp_closed_total",
			Help: "TCP connections closed by the server, by reason: slow (no complete query within dns.tcp_query_timeout), idle (no query for 10s after one), limit (too many open on the address)."}, []string{"reason"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_dns_acme_challenges_total",
			Help: "ACME DNS-01 TXT records, by event: added, removed, expired, rejected (outside levee's zones, or over the bound)."}, []string{"event"}),
		queryDesc: prometheus.NewDesc("levee_dns_queries_total", "DNS queries answered, by query type and rcode.",
			[]string{"qtype", "rcode"}, nil),
	}
	if reg != nil {
		reg.MustRegister(m, m.sizes, m.truncated, m.malformed, m.cacheFull, m.rrl, m.steered, m.signing,
			m.notify, m.axfr, m.listen, m.zones, m.rrlEvict, m.tcpClosed, m.challenges)
	}
	return m
}

// count records one answer.
func (m *metrics) count(qtype uint16, rcode, size int) {
	i := int(typeIndex[qtype])
	m.queries[i][rcode&(numRcodes-1)].Add(1)
	m.sizes.Observe(float64(size))
}

// Describe implements prometheus.Collector for the query counts.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.queryDesc }

// Collect implements prometheus.Collector for the query counts.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for i := range m.queries {
		qt := "other"
		if i > 0 {
			qt = mdns.TypeToString[countedTypes[i-1]]
		}
		for rc := range m.queries[i] {
			if n := m.queries[i][rc].Load(); n > 0 {
				name, ok := mdns.RcodeToString[rc]
				if rc == mdns.RcodeBadVers {
					name = "BADVERS" // miekg names 16 BADSIG; without TSIG it is only ever BADVERS
				}
				if !ok {
					name = strconv.Itoa(rc)
				}
				ch <- prometheus.MustNewConstMetric(m.queryDesc, prometheus.CounterValue, float64(n), qt, name)
			}
		}
	}
}

// Queries returns the count for one qtype and rcode name, for tests.
func (s *Server) Queries(qtype uint16, rcode int) uint64 {
	i := int(typeIndex[qtype])
	return s.m.queries[i][rcode&(numRcodes-1)].Load()
}
