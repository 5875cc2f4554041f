package pool

import (
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"
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
				return nil // the policy scanned already
			}
			if !contains(tried, o) {
				return o
			}
		}
	}
	u := -1.0
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
			mode == Ramp && o.usable() && gate(o, &u):
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
func scan(origins []*Origin, start int, u *float64) *Origin {
	n := len(origins)
	for i := range n {
		if o := origins[(start+i)%n]; o.usable() && gate(o, u) {
			return o
		}
	}
	return nil
}

// gate is the slow start gate. One uniform draw u serves a whole pick
// (drawn lazily: *u < 0 means not yet), and an origin is admitted when u
// is under its ramp share. So a pick whose usable origins all ramp at
// share f succeeds with probability f, however many it looks at: the
// pool's share of traffic grows with f, and a backup pool keeps the rest.
func gate(o *Origin, u *float64) bool {
	if o.State.rampStart.Load() == 0 {
		return true
	}
	if *u < 0 {
		*u = rand.Float64()
	}
	return *u < o.State.Ramp(time.Now().UnixNano())
}

// maxTries bounds a policy's random or rotating choices before it scans.
const maxTries = 4
