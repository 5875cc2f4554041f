package pool

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// State is an origin's live state. The health checker writes membership
// and slow start; the proxy writes in-flight counts and latency; pickers
// only read. Every field is atomic, so the hot path takes no lock.
type State struct {
	down      atomic.Bool  // published membership: false (the zero value) is up
	inflight  atomic.Int64 // exchanges in progress, across generations
	ewmaNS    atomic.Int64 // latency EWMA in nanoseconds; 0 until measured
	rampStart atomic.Int64 // unix ns slow start began; 0 when not ramping
	rampEnd   atomic.Int64 // unix ns slow start ends
}

// minRamp is the smallest share a ramping origin gets, so it sees traffic
// from its first moment up.
const minRamp = 0.05

// ewmaAlpha weighs a new latency sample against the average.
const ewmaAlpha = 0.3

// Up reports the published membership.
func (s *State) Up() bool { return !s.down.Load() }

// SetUp publishes membership; it reports whether it changed.
func (s *State) SetUp(up bool) bool { return s.down.Swap(!up) == up }

// Inflight returns the exchanges in progress.
func (s *State) Inflight() int64 { return s.inflight.Load() }

// EWMA returns the latency average, 0 when unknown.
func (s *State) EWMA() time.Duration { return time.Duration(s.ewmaNS.Load()) }

// Observe folds a latency sample into the average.
func (s *State) Observe(ns int64) {
	if ns <= 0 {
		ns = 1
	}
	for range 8 {
		old := s.ewmaNS.Load()
		next := ns
		if old != 0 {
			next = old + int64(ewmaAlpha*float64(ns-old))
		}
		if s.ewmaNS.CompareAndSwap(old, next) {
			return
		}
	}
}

// StartRamp begins a slow start of length d at now (unix ns).
func (s *State) StartRamp(now int64, d time.Duration) {
	if d <= 0 {
		return
	}
	s.rampEnd.Store(now + int64(d))
	s.rampStart.Store(now)
}

// EndRampIfDone clears a finished slow start; it reports whether the
// origin is still ramping.
func (s *State) EndRampIfDone(now int64) bool {
	if s.rampStart.Load() == 0 {
		return false
	}
	if now >= s.rampEnd.Load() {
		s.rampStart.Store(0)
		return false
	}
	return true
}

// Ramp returns the share of its weight the origin takes now: 1 when not
// ramping, else growing linearly from minRamp to 1 over the slow start.
func (s *State) Ramp(now int64) float64 {
	start := s.rampStart.Load()
	if start == 0 {
		return 1
	}
	end := s.rampEnd.Load()
	if now >= end || end <= start {
		return 1
	}
	return math.Max(minRamp, float64(now-start)/float64(end-start))
}

// limiter is an origin's circuit breaker: a slot per allowed exchange and
// a bounded count of requests waiting for one.
type limiter struct {
	slots      chan struct{}
	pending    atomic.Int64
	maxPending int64
}

// usable reports whether o may be picked: up and under its limits.
func (o *Origin) usable() bool {
	return !o.State.down.Load() && !o.Full()
}

// Full reports whether the origin's circuit breaker turns requests away.
func (o *Origin) Full() bool {
	l := o.lim
	return l != nil && len(l.slots) == cap(l.slots) && l.pending.Load() >= l.maxPending
}

// Acquire takes an exchange slot on o, waiting up to wait (and while ctx
// lives) when max_pending allows it. It reports false when the circuit
// breaker turns the request away; then Release must not be called.
func (o *Origin) Acquire(ctx context.Context, wait time.Duration) bool {
	if l := o.lim; l != nil {
		select {
		case l.slots <- struct{}{}:
		default:
			if l.pending.Add(1) > l.maxPending {
				l.pending.Add(-1)
				return false
			}
			ok := l.waitSlot(ctx, wait)
			l.pending.Add(-1)
			if !ok {
				return false
			}
		}
	}
	o.State.inflight.Add(1)
	return true
}

func (l *limiter) waitSlot(ctx context.Context, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// Release returns the slot taken by Acquire.
func (o *Origin) Release() {
	o.State.inflight.Add(-1)
	if l := o.lim; l != nil {
		<-l.slots
	}
}
