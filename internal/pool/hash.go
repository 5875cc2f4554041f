package pool

import (
	"math"
	"net/http"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Hash is rendezvous (highest random weight) hashing on a request key: each
// key goes to the usable origin with the highest score for it, so when an
// origin leaves only its keys move and a cache behind levee keeps its
// locality. Weights and slow start scale the score (weighted rendezvous).
// A request without the key falls back to round robin.
type Hash struct {
	origins []*Origin
	key     KeyFunc
	equal   bool // all weights equal: compare raw hashes, no logarithm
	rr      *RoundRobin
}

// NewHash returns a rendezvous-hashing picker keyed by key.
func NewHash(origins []*Origin, key KeyFunc) *Hash {
	complete(origins)
	h := &Hash{origins: origins, key: key, equal: true, rr: NewRoundRobin(origins)}
	for _, o := range origins {
		if o.Weight != origins[0].Weight {
			h.equal = false
		}
	}
	return h
}

// Pick returns the key's origin among the usable ones, or nil.
func (h *Hash) Pick(r *http.Request) *Origin {
	k := h.key(r)
	if k == "" {
		return h.rr.Pick(r)
	}
	return h.pickKey(xxhash.Sum64String(k))
}

func (h *Hash) pickKey(kh uint64) *Origin {
	weighted := !h.equal
	for _, o := range h.origins {
		if weighted {
			break
		}
		weighted = o.State.rampStart.Load() != 0
	}
	var best *Origin
	if !weighted {
		var bestRaw uint64
		for _, o := range h.origins {
			if s := mix(kh ^ o.seed); o.usable() && (best == nil || s > bestRaw) {
				best, bestRaw = o, s
			}
		}
		return best
	}
	now := time.Now().UnixNano()
	bestScore := -1.0
	for _, o := range h.origins {
		if !o.usable() {
			continue
		}
		if sc := score(mix(kh^o.seed), float64(o.Weight)*o.State.Ramp(now)); sc > bestScore {
			best, bestScore = o, sc
		}
	}
	return best
}

// score is weighted rendezvous: -w / ln(u) with u uniform in (0, 1).
func score(h uint64, w float64) float64 {
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return -w / math.Log(u)
}

// mix is the splitmix64 finalizer: it spreads the key and origin hashes
// combined by xor into a well-mixed score.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

var _ Picker = (*Hash)(nil)
