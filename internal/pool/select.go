package pool

import (
	"math/rand/v2"
	"net/http"
	"sync/atomic"
)

type counter = atomic.Uint64

// Mode says how strictly Pool.Pick filters origins.
type Mode uint8

// Pick modes, strictest first. The proxy tries each pool in Ramp mode,
// then each in Healthy mode, and only when no pool has a usable origin,
// each in Any mode ("panic mode": trying an origin that looks down beats
// answering with nothing).
const (
	// Ramp honours health, limits and slow start.
	Ramp Mode = iota
	// Healthy honours health and limits but not slow start.
	Healthy
	// Any ignores health (panic mode).
	Any
)

// maxRepicks bounds how often the policy is asked again when it returns an
// origin already tried by this request.
const maxRepicks = 3

// Pick returns an origin for r that is not in tried, or nil. In Ramp mode
// the pool's policy chooses; the other modes scan the origins from a
// random start.
func (p *Pool) Pick(r *http.Request, tried []*Origin, mode Mode) *Origin {
	n := len(p.Origins)
	if n == 0 {
		return nil
	}
	if mode == Ramp {
		for range maxRepicks {
			o := p.Picker.Pick(r)
			if o == nil {
				break
			}
			if !contains(tried, o) {
				return o
			}
		}
	}
	var start int
	if mode == Any {
		start = int(p.panicNext.Add(1) % uint64(n))
	} else {
		start = rand.IntN(n)
	}
	for i := range n {
		o := p.Origins[(start+i)%n]
		if contains(tried, o) {
			continue
		}
		switch {
		case mode == Any,
			mode == Healthy && o.usable(),
			mode == Ramp && o.usable() && o.State.admit():
			return o
		}
	}
	return nil
}

// Usable returns how many origins are up and under their limits.
func (p *Pool) Usable() int {
	k := 0
	for _, o := range p.Origins {
		if o.usable() {
			k++
		}
	}
	return k
}

func contains(tried []*Origin, o *Origin) bool {
	for _, t := range tried {
		if t == o {
			return true
		}
	}
	return false
}

// scan returns the first usable, admitted origin from start on, or nil:
// the policies' way out when their random or rotating choices all failed.
// skip was refused by the slow start gate already.
func scan(origins []*Origin, start int, skip *Origin) *Origin {
	n := len(origins)
	for i := range n {
		if o := origins[(start+i)%n]; o != skip && o.usable() && o.State.admit() {
			return o
		}
	}
	return nil
}

// gate applies the slow start gate once per origin and pick: an origin it
// refused (remembered in refused) is not offered again, so a ramping
// origin's share is its ramp share, not compounded over retries.
func gate(o *Origin, refused **Origin) bool {
	if o == *refused {
		return false
	}
	if o.State.admit() {
		return true
	}
	*refused = o
	return false
}

// maxTries bounds a policy's random or rotating choices before it scans.
const maxTries = 4
