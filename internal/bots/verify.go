package bots

import (
	"container/list"
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
)

// Verified crawlers: a request whose User-Agent claims a known crawler is
// believed only when its address passes forward-confirmed reverse DNS
// (PTR name under one of the crawler's domains, and that name's A/AAAA
// records include the address). The lookups run off the request path: a
// claim whose verdict is not cached yet is scored like any other request
// while its lookup runs, so no request ever waits on DNS.

// Bounds of verification.
const (
	maxPTRNames      = 4 // PTR names checked per address
	maxCrawlers      = 32
	maxCrawlerDomain = 16
	errorTTLCap      = time.Minute // a resolver failure is retried after at most this
)

// verifyResult labels levee_bots_verify_total.
var verifyResults = []string{"verified", "spoofed", "error", "busy"}

// crawler is one compiled crawler pattern.
type crawler struct {
	name     string
	ua       string // lower case
	domains  []string
	decision string // for the access log, made once
}

// verifySettings are one generation's verification settings.
type verifySettings struct {
	resolver    string
	timeout     time.Duration
	posTTL      time.Duration
	negTTL      time.Duration
	maxEntries  int
	maxInflight int
	crawlers    []crawler
}

type verifyKey struct {
	addr    netip.Addr
	crawler int
}

type verifyEntry struct {
	key      verifyKey
	verified bool
	expires  time.Time
}

// verifier holds the verdict cache (bounded, least recently used out
// first) and the lookups in flight.
type verifier struct {
	wall *guard.Wall
	set  atomic.Pointer[verifySettings]

	mu       sync.Mutex
	entries  map[verifyKey]*list.Element
	lru      list.List // front: most recently used
	inflight map[verifyKey]struct{}

	results   *prometheus.CounterVec
	byResult  map[string]prometheus.Counter
	evictions prometheus.Counter
	size      prometheus.Gauge

	// lookupHook, set by tests, runs at the start of every lookup.
	lookupHook func()
}

func newVerifier(wall *guard.Wall, reg prometheus.Registerer) *verifier {
	v := &verifier{wall: wall, entries: map[verifyKey]*list.Element{}, inflight: map[verifyKey]struct{}{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_bots_verify_total",
			Help: "Forward-confirmed reverse DNS lookups of clients claiming a crawler, by result (verified, spoofed, error; busy: not started, max_inflight full)."}, []string{"result"}),
		byResult: map[string]prometheus.Counter{},
		evictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_bots_verify_cache_evictions_total",
			Help: "Crawler verdicts evicted from the cache to stay within bots.verified.max_entries."}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_bots_verify_cache_entries", Help: "Crawler verdicts cached."}),
	}
	for _, r := range verifyResults {
		v.byResult[r] = v.results.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(v.results, v.evictions, v.size)
	}
	return v
}

// configure puts a generation's settings in force. Verdicts are kept
// unless the crawlers or the resolver changed, since they may mean
// something else now.
func (v *verifier) configure(c *VerifiedConfig) {
	ns := &verifySettings{resolver: c.Resolver, timeout: c.Timeout.D(), posTTL: c.PositiveTTL.D(), negTTL: c.NegativeTTL.D(),
		maxEntries: c.MaxEntries, maxInflight: c.MaxInflight}
	for _, cc := range c.Crawlers {
		cr := crawler{name: cc.Name, ua: strings.ToLower(cc.UA), decision: "verified:" + cc.Name}
		for _, d := range cc.Domains {
			cr.domains = append(cr.domains, strings.ToLower(strings.TrimSuffix(d, ".")))
		}
		ns.crawlers = append(ns.crawlers, cr)
	}
	old := v.set.Swap(ns)
	if old != nil && (old.resolver != ns.resolver || !reflect.DeepEqual(old.crawlers, ns.crawlers)) {
		v.mu.Lock()
		clear(v.entries)
		v.lru.Init()
		v.size.Set(0)
		v.mu.Unlock()
	}
}

// check reports whether the request comes from the crawler its
// User-Agent claims, and that crawler's log decision. A claim without a
// cached verdict starts a lookup and is not verified meanwhile. It does
// not allocate unless it starts a lookup.
func (v *verifier) check(client netip.Addr, ua string) (decision string, verified bool) {
	st := v.set.Load()
	if st == nil || st.resolver == "" || ua == "" {
		return "", false
	}
	ci := claimed(st.crawlers, ua)
	if ci < 0 {
		return "", false
	}
	k := verifyKey{addr: client.Unmap(), crawler: ci}
	now := time.Now()
	v.mu.Lock()
	if el, ok := v.entries[k]; ok {
		e := el.Value.(*verifyEntry)
		if now.Before(e.expires) {
			v.lru.MoveToFront(el)
			v.mu.Unlock()
			return st.crawlers[ci].decision, e.verified
		}
	}
	if _, running := v.inflight[k]; running {
		v.mu.Unlock()
		return "", false
	}
	if len(v.inflight) >= st.maxInflight {
		v.mu.Unlock()
		v.byResult["busy"].Inc()
		return "", false
	}
	v.inflight[k] = struct{}{}
	v.mu.Unlock()
	v.wall.Go("bots-verify", func() { v.lookup(st, k) })
	return "", false
}

// claimed returns the index of the crawler ua claims to be, or -1.
func claimed(cs []crawler, ua string) int {
	for i := range cs {
		if containsFold(ua, cs[i].ua) {
			return i
		}
	}
	return -1
}

// containsFold is a case-insensitive (ASCII) strings.Contains with a
// lower-case needle, without allocating.
func containsFold(s, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// lookup verifies k and caches the verdict.
func (v *verifier) lookup(st *verifySettings, k verifyKey) {
	defer func() {
		v.mu.Lock()
		delete(v.inflight, k)
		v.mu.Unlock()
	}()
	if v.lookupHook != nil {
		v.lookupHook()
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.timeout)
	defer cancel()
	ok, err := fcrdns(ctx, st.resolver, k.addr, st.crawlers[k.crawler].domains)
	ttl, result := st.negTTL, "spoofed"
	switch {
	case err != nil:
		ttl, result = min(st.negTTL, errorTTLCap), "error"
	case ok:
		ttl, result = st.posTTL, "verified"
	}
	v.byResult[result].Inc()
	v.store(st, k, ok, time.Now().Add(ttl))
}

// store caches a verdict, evicting the least recently used beyond the
// bound.
func (v *verifier) store(st *verifySettings, k verifyKey, ok bool, expires time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.set.Load() != st {
		return // settings changed meanwhile: the verdict may not hold
	}
	if el, found := v.entries[k]; found {
		e := el.Value.(*verifyEntry)
		e.verified, e.expires = ok, expires
		v.lru.MoveToFront(el)
		return
	}
	for v.lru.Len() >= st.maxEntries {
		last := v.lru.Back()
		delete(v.entries, last.Value.(*verifyEntry).key)
		v.lru.Remove(last)
		v.evictions.Inc()
	}
	v.entries[k] = v.lru.PushFront(&verifyEntry{key: k, verified: ok, expires: expires})
	v.size.Set(float64(v.lru.Len()))
}

// fcrdns is forward-confirmed reverse DNS: a PTR name of addr under one
// of domains whose A (or AAAA) records include addr. An answer that says
// no (NXDOMAIN, no such records, names elsewhere) is (false, nil); a
// resolver that cannot answer is an error.
func fcrdns(ctx context.Context, resolver string, addr netip.Addr, domains []string) (bool, error) {
	rev, err := mdns.ReverseAddr(addr.String())
	if err != nil {
		return false, err
	}
	ptrs, err := query(ctx, resolver, rev, mdns.TypePTR)
	if err != nil {
		return false, err
	}
	qtype := mdns.TypeA
	if addr.Is6() {
		qtype = mdns.TypeAAAA
	}
	checked := 0
	for _, rr := range ptrs {
		p, ok := rr.(*mdns.PTR)
		if !ok || !underDomains(p.Ptr, domains) {
			continue
		}
		if checked++; checked > maxPTRNames {
			break
		}
		fwd, err := query(ctx, resolver, p.Ptr, qtype)
		if err != nil {
			return false, err
		}
		for _, f := range fwd {
			var ip []byte
			switch a := f.(type) {
			case *mdns.A:
				ip = a.A
			case *mdns.AAAA:
				ip = a.AAAA
			}
			if got, ok := netip.AddrFromSlice(ip); ok && got.Unmap() == addr {
				return true, nil
			}
		}
	}
	return false, nil
}

// underDomains reports whether name is one of domains or below one.
func underDomains(name string, domains []string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, d := range domains {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}

// query asks the resolver one question (UDP, then TCP if the answer was
// truncated) and returns the answer records; NXDOMAIN is no records.
func query(ctx context.Context, resolver, name string, qtype uint16) ([]mdns.RR, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	m.RecursionDesired = true
	c := &mdns.Client{Net: "udp"}
	r, _, err := c.ExchangeContext(ctx, m, resolver)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, resolver)
	}
	if err != nil {
		return nil, fmt.Errorf("resolver %s: %w", resolver, err)
	}
	switch r.Rcode {
	case mdns.RcodeSuccess:
		return r.Answer, nil
	case mdns.RcodeNameError:
		return nil, nil
	}
	return nil, fmt.Errorf("resolver %s answered %s for %s", resolver, mdns.RcodeToString[r.Rcode], name)
}
