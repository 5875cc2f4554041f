package pool

import (
	"net/http"
	"sort"
	"sync/atomic"
)

// RoundRobin picks usable origins in turn, each as often as its weight. It
// is lock-free: a shared counter walks the cumulative weights.
type RoundRobin struct {
	origins []*Origin
	cum     []uint64 // cum[i] is the sum of weights of origins[0..i]
	next    atomic.Uint64
}

// NewRoundRobin returns a weighted round-robin picker over origins.
func NewRoundRobin(origins []*Origin) *RoundRobin {
	complete(origins)
	rr := &RoundRobin{origins: origins, cum: make([]uint64, len(origins))}
	var sum uint64
	for i, o := range origins {
		sum += uint64(max(o.Weight, 1))
		rr.cum[i] = sum
	}
	return rr
}

// Pick returns the next usable origin, or nil when there is none.
func (rr *RoundRobin) Pick(*http.Request) *Origin {
	n := len(rr.origins)
	if n == 0 {
		return nil
	}
	total := rr.cum[n-1]
	u := -1.0
	for range maxTries {
		v := (rr.next.Add(1) - 1) % total
		i := 0
		if n > 1 {
			i = sort.Search(n, func(i int) bool { return rr.cum[i] > v })
		}
		if o := rr.origins[i]; o.usable() && gate(o, &u) {
			return o
		}
	}
	return scan(rr.origins, int(rr.next.Load()%uint64(n)), &u)
}

var _ Picker = (*RoundRobin)(nil)
