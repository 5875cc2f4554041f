package shield

import (
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/cespare/xxhash/v2"
)

// GlobalLimiter enforces a rule with scope: cluster across the nodes of a
// cluster (internal/cluster's Limiter is one). It must not wait on
// anything remote: it is called on the request path. key is the same on
// every node for the same client key; rate is per second, cluster-wide.
type GlobalLimiter interface {
	Allow(rule string, key uint64, rate float64, burst int) (bool, time.Duration)
}

// compileClusterScope fills in what the cluster limiter needs of a rule.
func compileClusterScope(r *rule, rc *RuleConfig, factor float64) {
	r.cluster = rc.Scope == "cluster"
	r.rate, r.burstN = rc.Rate.PerSecond(), rc.Burst
	r.strictRate = r.rate * factor
	r.strictBurstN = int(math.Max(1, math.Floor(float64(rc.Burst)*factor)))
}

// clusterStep applies one cluster-scoped rule to q.
func (s *Shield) clusterStep(q *req, rl *rule, attack bool) error {
	key, ok := stableKeyHash(rl.key, q.r, q.ex.Client)
	if !ok {
		return nil
	}
	rate, burst := rl.rate, rl.burstN
	if attack {
		rate, burst = rl.strictRate, rl.strictBurstN
	}
	allowed, wait := s.global.Allow(rl.name, key, rate, burst)
	if allowed {
		return nil
	}
	return s.overLimit(q, rl, int64(wait))
}

// stableKeyHash is keyHash with a fixed hash (xxhash, no per-process
// seed), so every node of a cluster names a client key alike.
func stableKeyHash(parts []keyPart, r *http.Request, client netip.Addr) (uint64, bool) {
	d := xxhash.New()
	for _, p := range parts {
		switch p.kind {
		case partIP:
			b := client.As16()
			_, _ = d.Write(b[:])
		case partPrefix:
			b := prefixOf(client).As16()
			_, _ = d.Write(b[:])
		case partPath:
			_, _ = d.WriteString(r.URL.Path)
		case partHeader:
			v := r.Header[p.name]
			if len(v) == 0 {
				return 0, false
			}
			_, _ = d.WriteString(v[0])
		case partCookie:
			v, found := cookieValue(r.Header, p.name)
			if !found {
				return 0, false
			}
			_, _ = d.WriteString(v)
		}
		_, _ = d.Write([]byte{0})
	}
	return d.Sum64(), true
}
