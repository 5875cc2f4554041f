package pool

import (
	"math/rand/v2"
	"net/http"
)

// LeastOutstanding picks by the power of two choices: of two random usable
// origins, the one with fewer exchanges in flight relative to its weight.
// It needs no shared counter and avoids herding onto one idle origin.
type LeastOutstanding struct {
	origins []*Origin
}

// NewLeastOutstanding returns a least-outstanding picker over origins.
func NewLeastOutstanding(origins []*Origin) *LeastOutstanding {
	complete(origins)
	return &LeastOutstanding{origins: origins}
}

// Pick returns the less loaded of two random usable origins, or nil.
func (lo *LeastOutstanding) Pick(*http.Request) *Origin {
	return twoChoices(lo.origins, func(o *Origin) float64 {
		return float64(o.State.inflight.Load()+1) / float64(o.Weight)
	})
}

// twoChoices draws two distinct random origins, keeps the usable ones and
// returns the one with the lower cost. The ramp gate applies to the winner.
func twoChoices(origins []*Origin, cost func(*Origin) float64) *Origin {
	n := len(origins)
	u := -1.0
	switch n {
	case 0:
		return nil
	case 1:
		if o := origins[0]; o.usable() && gate(o, &u) {
			return o
		}
		return nil
	}
	for range maxTries {
		a := rand.IntN(n)
		b := rand.IntN(n - 1)
		if b >= a {
			b++
		}
		oa, ob := origins[a], origins[b]
		ua, ub := oa.usable(), ob.usable()
		var o *Origin
		switch {
		case ua && ub:
			o = oa
			if cost(ob) < cost(oa) {
				o = ob
			}
		case ua:
			o = oa
		case ub:
			o = ob
		default:
			continue
		}
		if gate(o, &u) {
			return o
		}
	}
	return scan(origins, rand.IntN(n), &u)
}

var _ Picker = (*LeastOutstanding)(nil)
