package pool

import (
	"net/http"
	"sort"
	"sync/atomic"
)

// RoundRobin picks origins in turn, each as often as its weight. It is
// lock-free: a shared counter walks the cumulative weights.
type RoundRobin struct {
	origins []*Origin
	cum     []uint64 // cum[i] is the sum of weights of origins[0..i]
	next    atomic.Uint64
}

// NewRoundRobin returns a weighted round-robin picker over origins.
func NewRoundRobin(origins []*Origin) *RoundRobin {
	rr := &RoundRobin{origins: origins, cum: make([]uint64, len(origins))}
	var sum uint64
	for i, o := range origins {
		w := o.Weight
		if w < 1 {
			w = 1
		}
		sum += uint64(w)
		rr.cum[i] = sum
	}
	return rr
}

// Pick returns the next origin, or nil for an empty pool.
func (rr *RoundRobin) Pick(*http.Request) *Origin {
	n := len(rr.origins)
	if n == 0 {
		return nil
	}
	if n == 1 {
		return rr.origins[0]
	}
	total := rr.cum[n-1]
	v := (rr.next.Add(1) - 1) % total
	i := sort.Search(n, func(i int) bool { return rr.cum[i] > v })
	return rr.origins[i]
}

var _ Picker = (*RoundRobin)(nil)
