package shield

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// surgeCfg are the detector's settings of one generation.
type surgeCfg struct {
	action          string
	rateNS          int64 // GCRA interval of a generated rule (ns per request)
	burstNS         int64
	minShare, rise  float64
	jump            float64
	window          time.Duration
	sampleMask      uint64
	maxRules        int
	lifetime        time.Duration
	minWindowSample float64
}

// Surge keeps a bounded, sampled profile of the node's traffic by
// fingerprint, and generates rules against the fingerprints whose share of
// the traffic rose sharply while the origin saturated or the request rate
// jumped. The profile is a Space-Saving table of at most max_fingerprints
// entries (a new fingerprint replaces the least counted one), so a million
// distinct fingerprints cost what a few hundred do.
type Surge struct {
	log  *slog.Logger
	seed maphash.Seed
	n    atomic.Uint64 // requests seen, for sampling

	rules atomic.Pointer[[]*surgeRule] // in force; read on the hot path

	// The sampled path counts in a staging table (surge_stage.go);
	// the profile below is under mu.
	stages     [2]*stage
	active     atomic.Pointer[stage]
	winStartNS atomic.Int64 // unix ns; 0 before the first sample

	mu       sync.Mutex
	entries  []fpEntry
	index    map[uint64]int
	maxFP    int
	winTotal float64 // sampled requests this window
	winSat   bool    // a sampled request saw its pool saturated
	baseRate float64 // sampled requests per calm window (EWMA)
	calmWins int     // calm windows seen: the baseline's weight
	nextID   int
}

// fpEntry is one fingerprint's counts.
type fpEntry struct {
	fp    uint64
	count float64 // this window (Space-Saving: may include the evicted's)
	base  float64 // share in calm windows (EWMA)
	desc  fpDesc
	// clients has one bit per client-address hash bucket seen with this
	// fingerprint in the window (64 buckets): how widely it is spread.
	clients uint64
}

// minSurgeClients is how many of the 64 client buckets a fingerprint must
// reach in a window before it can get a rule: a surge rule is for traffic
// spread over many addresses (a botnet); one busy client, or a few, is the
// per-client limits' and the fair queue's business, never a generated
// block (a single client ramping up from idle looks like a surge too).
const minSurgeClients = 8

// fpDesc describes a fingerprint for the log and /shield: its parts.
type fpDesc struct {
	Method    string `json:"method"`
	Path      string `json:"path_pattern"`
	Proto     string `json:"proto"`
	UserAgent string `json:"user_agent"`
	Headers   int    `json:"header_names"`
	TLS       string `json:"tls,omitempty"`
}

// surgeRule is a generated rule: requests of fingerprint fp, except from
// clients with a good reputation, are held to one aggregate rate.
type surgeRule struct {
	id       string
	decision string // "surge:<id>", for the access log
	fp       uint64
	desc     fpDesc
	created  time.Time
	expires  time.Time
	share    float64
	baseline float64
	rate     float64 // sampled-scaled requests/s at detection
	tat      atomic.Int64
	hits     atomic.Int64
	lastWin  float64 // sampled requests of fp in the last window
}

const ewmaAlpha = 0.2

// NewSurge returns an empty profile of at most maxFingerprints entries.
func newSurge(log *slog.Logger, maxFingerprints int) *Surge {
	s := &Surge{log: log, seed: maphash.MakeSeed(), maxFP: maxFingerprints, index: make(map[uint64]int, maxFingerprints)}
	s.entries = make([]fpEntry, 0, maxFingerprints)
	s.stages = [2]*stage{new(stage), new(stage)}
	s.active.Store(s.stages[0])
	empty := []*surgeRule{}
	s.rules.Store(&empty)
	return s
}

// fingerprint hashes what tells one kind of client from another: method,
// protocol, User-Agent, the set of header names (net/http does not keep
// their order), the path's pattern and the TLS fingerprint when known. It
// does not allocate.
func (s *Surge) fingerprint(r *http.Request, tls string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(r.Method)
	h.WriteByte(0)
	h.WriteString(r.Proto)
	h.WriteByte(0)
	h.WriteString(r.Header.Get("User-Agent"))
	h.WriteByte(0)
	var names uint64 // order-free: a sum of the names' hashes
	for k := range r.Header {
		names += maphash.String(s.seed, k)
	}
	var b [8]byte
	for i := range b {
		b[i] = byte(names >> (8 * i))
	}
	h.Write(b[:])
	writePathPattern(&h, r.URL.Path)
	h.WriteString(tls)
	return h.Sum64()
}

// writePathPattern writes the first path segment (digits and long
// segments, likely IDs, become "*") and the number of segments.
func writePathPattern(h *maphash.Hash, path string) {
	first, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if len(first) > 32 || strings.ContainsAny(first, "0123456789") {
		first = "*"
	}
	h.WriteString(first)
	h.WriteByte(byte(strings.Count(rest, "/")))
}

func pathPattern(path string) string {
	first, rest, more := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if len(first) > 32 || strings.ContainsAny(first, "0123456789") {
		first = "*"
	}
	if !more {
		return "/" + first
	}
	return "/" + first + strings.Repeat("/*", strings.Count(rest, "/")+1)
}

// shouldSample reports whether this request goes into the profile.
func (s *Surge) shouldSample(c *surgeCfg) bool { return s.n.Add(1)&c.sampleMask == 0 }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// endWindow judges the window that ended: a surge is the origin
// saturating or the rate jumping over its baseline; in a surge, the
// fingerprints whose share is large and rose sharply get a rule. Calm
// windows teach the baselines, and lift the rules whose traffic is gone.
func (s *Surge) endWindow(c *surgeCfg, now time.Time, elapsed time.Duration) {
	total := s.winTotal
	if elapsed > 2*c.window { // a gap in traffic: the window says little
		total = 0
	}
	// A jump needs a baseline of a few calm windows to jump from.
	jumped := s.calmWins >= 3 && total >= c.minWindowSample && total > c.jump*s.baseRate
	surge := total >= c.minWindowSample && (s.winSat || jumped)
	// scale turns sampled counts of this window into requests per second.
	scale := float64(c.sampleMask+1) / max(elapsed, c.window/4).Seconds()
	s.liftRules(c, now, surge, scale)
	if surge {
		for i := range s.entries {
			e := &s.entries[i]
			share := e.count / total
			if share >= c.minShare && share >= c.rise*e.base && bits.OnesCount64(e.clients) >= minSurgeClients {
				s.addRule(c, e, share, total, scale, now, s.winSat, jumped)
			}
		}
	} else if total > 0 {
		s.calmWins++
		s.baseRate += (total - s.baseRate) * max(ewmaAlpha, 1/float64(s.calmWins))
		for i := range s.entries {
			e := &s.entries[i]
			e.base += (e.count/total - e.base) * max(ewmaAlpha, 1/float64(s.calmWins))
		}
	}
	for i := range s.entries {
		s.entries[i].count, s.entries[i].clients = 0, 0
	}
	s.winTotal, s.winSat = 0, false
}

// addRule puts a rule on fingerprint e unless one is in force or the
// rules are at their bound (then the refusal is logged).
func (s *Surge) addRule(c *surgeCfg, e *fpEntry, share, total, scale float64, now time.Time, saturated, jumped bool) {
	old := *s.rules.Load()
	for _, r := range old {
		if r.fp == e.fp {
			r.lastWin = e.count
			return
		}
	}
	if len(old) >= c.maxRules {
		s.log.Warn("shield: surge rule not generated: generated rules at their bound (shield.surge.max_rules)",
			"fingerprint", e.desc, "share", share, "max_rules", c.maxRules)
		return
	}
	s.nextID++
	r := &surgeRule{id: fmt.Sprintf("surge-%d", s.nextID), fp: e.fp, desc: e.desc, created: now, expires: now.Add(c.lifetime),
		share: share, baseline: e.base, rate: e.count * scale, lastWin: e.count}
	r.decision = "surge:" + r.id
	next := append(append([]*surgeRule{}, old...), r)
	s.rules.Store(&next)
	s.log.Warn("shield: surge rule generated: one fingerprint's share of the traffic rose sharply during a surge",
		"rule", r.id, "action", c.action, "fingerprint", e.desc, "share", fmt.Sprintf("%.3f", share),
		"baseline_share", fmt.Sprintf("%.3f", e.base), "fingerprint_rate", int(r.rate), "total_rate", int(total*scale),
		"baseline_rate", int(s.baseRate*float64(c.sampleMask+1)/c.window.Seconds()), "origin_saturated", saturated, "rate_jumped", jumped, "lifetime", c.lifetime)
}

// liftRules drops the rules that reached their lifetime, and, once the
// surge is over, those whose fingerprint's traffic fell to a tenth of
// what it was at detection.
func (s *Surge) liftRules(c *surgeCfg, now time.Time, surge bool, scale float64) {
	old := *s.rules.Load()
	if len(old) == 0 {
		return
	}
	var keep []*surgeRule
	for _, r := range old {
		cnt := 0.0
		if i, ok := s.index[r.fp]; ok {
			cnt = s.entries[i].count
		}
		switch {
		case !now.Before(r.expires):
			s.log.Info("shield: surge rule lifted: lifetime reached", "rule", r.id, "hits", r.hits.Load())
		case !surge && cnt*scale < r.rate/10:
			s.log.Info("shield: surge rule lifted: the surge is over", "rule", r.id, "hits", r.hits.Load(),
				"fingerprint_rate", int(cnt*scale))
		default:
			keep = append(keep, r)
		}
	}
	if len(keep) != len(old) {
		if keep == nil {
			keep = []*surgeRule{}
		}
		s.rules.Store(&keep)
	}
}

// match returns the rule in force for fp, if any (expired ones are not).
func (s *Surge) match(fp uint64, now time.Time) *surgeRule {
	for _, r := range *s.rules.Load() {
		if r.fp == fp && now.Before(r.expires) {
			return r
		}
	}
	return nil
}

// allow is the rule's aggregate limit (GCRA on one word).
func (r *surgeRule) allow(c *surgeCfg, ns int64) bool {
	for {
		tat := r.tat.Load()
		t := max(tat, ns)
		if t-ns > c.burstNS {
			return false
		}
		if r.tat.CompareAndSwap(tat, t+c.rateNS) {
			return true
		}
	}
}

// SurgeRuleStatus describes a generated rule in GET /shield.
type SurgeRuleStatus struct {
	ID          string    `json:"id"`
	Fingerprint fpDesc    `json:"fingerprint"`
	Share       float64   `json:"share"`
	Baseline    float64   `json:"baseline_share"`
	Rate        float64   `json:"rate_at_detection"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Hits        int64     `json:"hits"`
}

// Status lists the generated rules in force, oldest first.
func (s *Surge) Status() []SurgeRuleStatus {
	var out []SurgeRuleStatus
	for _, r := range *s.rules.Load() {
		out = append(out, SurgeRuleStatus{ID: r.id, Fingerprint: r.desc, Share: r.share, Baseline: r.baseline, Rate: r.rate,
			Created: r.created, Expires: r.expires, Hits: r.hits.Load()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}
