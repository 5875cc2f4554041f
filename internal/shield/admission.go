package shield

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter is an adaptive concurrency limit for one origin pool, a
// gradient limit in the manner of Netflix's concurrency-limits: each window
// of samples compares the window's mean latency with the lowest seen; while
// they are close the limit grows, as latency rises it shrinks:
//
//	gradient = clamp(tolerance * minRTT / meanRTT, 0.5, 1)
//	limit    = limit*gradient + queue
//
// A request that finds the pool at its limit is shed at once, not queued.
// A share of the limit (keepReserve) is kept for "keep" requests, which are
// thus shed last.
type Limiter struct {
	minLimit, maxLimit float64
	keepReserve        float64

	limit    atomic.Int64 // current limit, read on the hot path
	inflight atomic.Int64
	lastShed atomic.Int64 // unix ns of the last shed request

	mu      sync.Mutex
	cur     float64
	minRTT  float64 // ns
	winMin  float64 // lowest sample of the window
	sum     float64
	samples int
}

// Limiter tuning: tolerance is how far latency may rise over its minimum
// before the limit shrinks; queue the headroom added each window; drift
// moves minRTT a little towards each window's mean, so an origin that got
// slower for good is relearned over about ten thousand windows, while an
// overload of a few minutes does not teach the limiter that slow is normal.
const (
	limitTolerance = 1.3
	limitQueue     = 2
	minRTTDrift    = 1e-4
)

// NewLimiter returns a limiter starting at initial.
func NewLimiter(minLimit, maxLimit, initial int, keepReserve float64) *Limiter {
	l := &Limiter{minLimit: float64(minLimit), maxLimit: float64(maxLimit), keepReserve: keepReserve, cur: float64(initial)}
	l.limit.Store(int64(initial))
	return l
}

// Limit returns the current limit.
func (l *Limiter) Limit() int64 { return l.limit.Load() }

// Inflight returns the requests holding a slot.
func (l *Limiter) Inflight() int64 { return l.inflight.Load() }

// ShedRecently reports whether a request was shed within d before now.
func (l *Limiter) ShedRecently(now time.Time, d time.Duration) bool {
	return now.UnixNano()-l.lastShed.Load() < int64(d)
}

// Acquire takes a slot, or reports false: shed the request. Requests that
// are not keep may use only (1-keepReserve) of the limit.
func (l *Limiter) Acquire(keep bool, now time.Time) bool {
	lim := l.limit.Load()
	if !keep {
		lim = max(1, int64(float64(lim)*(1-l.keepReserve)))
	}
	if l.inflight.Add(1) > lim {
		l.inflight.Add(-1)
		l.lastShed.Store(now.UnixNano())
		return false
	}
	return true
}

// Release gives the slot back with the request's latency; ok is false for
// requests whose latency says nothing of the origin (client gone, error).
func (l *Limiter) Release(rtt time.Duration, ok bool) {
	inflight := l.inflight.Add(-1) + 1
	if !ok || rtt <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum += float64(rtt)
	if l.samples == 0 || float64(rtt) < l.winMin {
		l.winMin = float64(rtt)
	}
	l.samples++
	if l.samples < max(16, int(l.cur)) {
		return
	}
	mean := l.sum / float64(l.samples)
	l.sum, l.samples = 0, 0
	if l.minRTT == 0 || l.winMin < l.minRTT {
		l.minRTT = l.winMin
	} else {
		l.minRTT += (mean - l.minRTT) * minRTTDrift
	}
	grad := math.Max(0.5, math.Min(1, limitTolerance*l.minRTT/mean))
	next := l.cur*grad + limitQueue
	if grad == 1 && float64(inflight) < l.cur/2 {
		next = l.cur // app-limited: the window says nothing about more
	}
	l.cur = math.Max(l.minLimit, math.Min(l.maxLimit, next))
	l.limit.Store(int64(l.cur))
}
