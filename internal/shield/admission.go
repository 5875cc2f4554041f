package shield

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Limiter is an adaptive concurrency limit for one origin pool, a
// gradient limit in the manner of Netflix's concurrency-limits: each window
// of samples compares the window's mean latency with the origin's at low
// concurrency; while they are close the limit grows, as latency rises it
// shrinks:
//
//	gradient = clamp(tolerance * baseRTT / meanRTT, 0.5, 1)
//	limit    = limit*gradient + queue
//
// baseRTT is the origin's mean latency at low concurrency, measured in a
// calibration window (baseline.go): the same statistic as meanRTT, so an
// origin whose latency merely varies is not read as one that queues.
//
// A request that finds the pool at its limit waits in levee, not at the
// origin: in a bounded queue (maxQueue in all, maxPerKey per client) for at
// most maxWait, and slots freed are handed out fairly by client (see
// fairQueue). A share of the limit (keepReserve) is kept for "keep"
// requests, which are thus shed last.
//
// Shedding is decided by time, not by how many wait: a shrinking limit
// only moves the queue from the origin into levee, and a closed-loop
// client (C connections, each waiting for its answer) can never have more
// than C requests waiting, so it is served late rather than refused. A
// request is shed when the wait it would have, estimated from the queue
// ahead of it and the origin's recent pace (Little's law), exceeds
// maxWait: then at once, rather than after holding it maxWait for
// nothing; or when its wait actually runs out. The count bounds are
// memory bounds, far above what a closed loop can queue.
type Limiter struct {
	minLimit, maxLimit float64
	keepReserve        float64

	limit    atomic.Int64 // current limit, read on the hot path
	inflight atomic.Int64
	lastShed atomic.Int64 // unix ns of the last shed request
	meanRTT  atomic.Int64 // ns, the last window's mean; 0 until one ended
	minRTTNS atomic.Int64 // minRTT, for /shield
	queued   atomic.Int64 // waiters in lanes; 0 keeps the hot path lock-free

	// Queue bounds, replaced on reload (atomics: read by waiting requests).
	maxWait   atomic.Int64 // ns; 0 sheds at once
	maxQueue  atomic.Int64
	maxPerKey atomic.Int64

	qmu   sync.Mutex
	lanes [numLanes]fairQueue

	// calCap, when not 0, caps admission while the limiter measures the
	// origin's latency at low concurrency (baseline.go).
	calCap    atomic.Int64
	baseRTTNS atomic.Int64 // baseRTT, for /shield

	mu      sync.Mutex
	cur     float64
	minRTT  float64 // ns
	winMin  float64 // lowest sample of the window
	sum     float64
	samples int
	cal     calibration
	now     func() time.Time // time.Now; a simulated clock in tests
}

// Limiter tuning: tolerance is how far latency may rise over its minimum
// before the limit shrinks; queue the headroom added each window; drift
// moves minRTT a little towards each window's lowest sample, so an origin
// that got slower for good is relearned over about ten thousand windows,
// while an overload of a few minutes does not teach the limiter that slow
// is normal.
const (
	limitTolerance = 1.3
	limitQueue     = 2
	minRTTDrift    = 1e-4
	// limitFloorDelay sets a floor under the limit from the origin's best
	// latency: floorDelay/minRTT requests queued at an origin cost at most
	// floorDelay of wait even if it served them one at a time, so a fast
	// origin keeps a limit above any ordinary client's concurrency. CPU
	// contention between the node and its origin inflates latency like an
	// overload does, and must not shrink the limit under the connections
	// of a closed-loop client (which can never queue more than those).
	limitFloorDelay = 50 * time.Millisecond
)

// NewLimiter returns a limiter starting at initial.
func NewLimiter(minLimit, maxLimit, initial int, keepReserve float64) *Limiter {
	l := &Limiter{minLimit: float64(minLimit), maxLimit: float64(maxLimit), keepReserve: keepReserve, cur: float64(initial), now: time.Now}
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

// Queued returns the requests waiting for a slot.
func (l *Limiter) Queued() int64 { return l.queued.Load() }

// SetQueue sets the wait bounds: how long a request may wait for a slot
// and how many may wait, in all and per client.
func (l *Limiter) SetQueue(maxWait time.Duration, maxQueue, maxPerKey int) {
	l.maxWait.Store(int64(maxWait))
	l.maxQueue.Store(int64(maxQueue))
	l.maxPerKey.Store(int64(maxPerKey))
}

// Acquire takes a slot, or reports false: shed the request. Requests that
// are not keep may use only (1-keepReserve) of the limit.
func (l *Limiter) Acquire(keep bool, now time.Time) bool {
	if l.tryAcquire(keep) {
		return true
	}
	l.lastShed.Store(now.UnixNano())
	return false
}

func (l *Limiter) tryAcquire(keep bool) bool {
	return l.tryAcquireUnder(l.admitLimit(keep))
}

func (l *Limiter) tryAcquireUnder(lim int64) bool {
	if l.inflight.Add(1) > lim {
		l.inflight.Add(-1)
		return false
	}
	return true
}

func (l *Limiter) laneLimit(keep bool) int64 {
	lim := l.limit.Load()
	if !keep {
		lim = max(1, int64(float64(lim)*(1-l.keepReserve)))
	}
	return lim
}

// admitLimit is laneLimit under a calibration's cap. The wait estimate
// keeps laneLimit: a calibration lasts a few dozen requests.
func (l *Limiter) admitLimit(keep bool) int64 {
	lim := l.laneLimit(keep)
	if c := l.calCap.Load(); c > 0 && c < lim {
		return c
	}
	return lim
}

// Shed reasons of AcquireWait.
const (
	admitted    = iota
	shedFull    // the queue (or the client's share of it) is full
	shedTimeout // no slot within max_wait
	shedGone    // the client left while waiting
	shedEarly   // its estimated wait is past max_wait: shed at once
)

// TryAdmit takes a slot when one is free and nobody waits for one: no
// lock, no allocation. AcquireWait does the same first.
func (l *Limiter) TryAdmit(lane int) bool {
	return l.queued.Load() == 0 && l.tryAcquire(lane == laneKeep)
}

// AcquireWait takes a slot, waiting for one in the client's lane (by
// client key) for at most the limiter's max wait, or until gone is
// closed. It returns admitted or the reason the request must be shed.
// With nobody waiting it is Acquire: no lock, no allocation.
func (l *Limiter) AcquireWait(key uint64, lane int, now time.Time, gone <-chan struct{}) int {
	if l.TryAdmit(lane) {
		return admitted
	}
	w, why := l.enqueue(key, lane)
	if w == nil {
		if why != admitted {
			l.lastShed.Store(now.UnixNano())
		}
		return why
	}
	t := time.NewTimer(time.Duration(l.maxWait.Load()))
	why = shedTimeout
	select {
	case <-w.ch:
		why = admitted
	case <-t.C:
	case <-gone:
		why = shedGone
	}
	t.Stop()
	if why != admitted && !l.cancel(w) {
		why = admitted // granted as the wait ran out: the slot is ours
	}
	waiterPool.Put(w)
	if why != admitted {
		l.lastShed.Store(now.UnixNano())
	}
	return why
}

// enqueue queues a waiter, or returns nil with the verdict when the
// request was admitted at once or cannot wait.
func (l *Limiter) enqueue(key uint64, lane int) (*waiter, int) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	// A request that cannot wait is admitted under the limit itself, past
	// a calibration's cap: a calibration never sheds on its own account.
	if l.maxWait.Load() <= 0 || l.queued.Load() >= l.maxQueue.Load() || l.overShare(key, lane) {
		if l.tryAcquireUnder(l.laneLimit(lane == laneKeep)) {
			return nil, admitted
		}
		return nil, shedFull
	}
	if l.estimatedWaitLocked(key, lane) > l.maxWait.Load() {
		if l.tryAcquireUnder(l.laneLimit(lane == laneKeep)) {
			return nil, admitted
		}
		return nil, shedEarly
	}
	w := waiterPool.Get().(*waiter)
	w.key, w.lane, w.granted = key, lane, false
	select { // a waiter granted after its wait ran out left a token behind
	case <-w.ch:
	default:
	}
	l.lanes[lane].push(w)
	l.queued.Add(1)
	l.dispatchLocked() // slots may have freed since the fast path looked
	return w, admitted
}

// overShare reports whether key already has its share of lane's queue.
// Until the first window ends the limit is initial_limit, a guess, so a
// client is not shed for its share then: a node that starts under a crowd
// behind one address (a carrier's NAT) would otherwise answer most of it
// 503 before it has measured the origin once. The queue's bound in all
// still holds, and dispatch still serves one request per client a round.
func (l *Limiter) overShare(key uint64, lane int) bool {
	if l.meanRTT.Load() == 0 {
		return false
	}
	return int64(l.lanes[lane].perKey(key)) >= l.maxPerKey.Load()
}

// estimatedWaitLocked is how long a new waiter of key in lane would wait,
// in ns (0 while the limiter has no measure of the origin's pace): the
// waiters served before it (every waiter of the lanes ahead, and in its
// own lane one per client per round until its turn comes) times the mean
// latency, divided by the slots that serve them.
func (l *Limiter) estimatedWaitLocked(key uint64, lane int) int64 {
	rtt := l.meanRTT.Load()
	if rtt <= 0 {
		return 0
	}
	ahead := 0
	for i := 0; i < lane; i++ {
		ahead += l.lanes[i].n
	}
	own := &l.lanes[lane]
	rounds := own.perKey(key) + 1
	ahead += min(own.n, rounds*(len(own.keys)+1)) + 1
	return int64(ahead) * rtt / l.laneLimit(lane == laneKeep)
}

// floorLocked is the lowest the limit may go: min_limit, or more for an
// origin fast enough that more requests in flight cannot queue long.
func (l *Limiter) floorLocked() float64 {
	f := l.minLimit
	if l.minRTT > 0 {
		f = math.Max(f, math.Floor(float64(limitFloorDelay)/l.minRTT))
	}
	return math.Min(f, l.maxLimit)
}

// MinRTT returns the lowest origin latency the limiter has seen.
func (l *Limiter) MinRTT() time.Duration { return time.Duration(l.minRTTNS.Load()) }

// cancel takes a waiter whose wait ran out off its lane; false means it
// was granted meanwhile (and holds a slot).
func (l *Limiter) cancel(w *waiter) bool {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if w.granted {
		return false
	}
	if l.lanes[w.lane].remove(w) {
		l.queued.Add(-1)
	}
	return true
}

// dispatchLocked hands free slots to waiters: keep lane first (up to the
// whole limit), then reputable clients, then the rest (up to the limit
// less the keep reserve).
func (l *Limiter) dispatchLocked() {
	for l.queued.Load() > 0 {
		var w *waiter
		switch {
		case l.lanes[laneKeep].n > 0 && l.takeSlot(true):
			w = l.lanes[laneKeep].pop()
		case l.lanes[laneReputable].n+l.lanes[laneOther].n > 0 && l.takeSlot(false):
			if w = l.lanes[laneReputable].pop(); w == nil {
				w = l.lanes[laneOther].pop()
			}
		default:
			return
		}
		if w == nil { // cannot happen: n counts the waiters; give the slot back
			l.inflight.Add(-1)
			return
		}
		l.queued.Add(-1)
		w.granted = true
		w.ch <- struct{}{}
	}
}

// takeSlot counts one more request in flight if the lane's limit allows.
func (l *Limiter) takeSlot(keep bool) bool {
	lim := l.admitLimit(keep)
	for {
		cur := l.inflight.Load()
		if cur >= lim {
			return false
		}
		if l.inflight.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// Release gives the slot back with the request's latency; ok is false for
// requests whose latency says nothing of the origin (client gone, error).
// A freed slot goes to the next waiter, if any.
func (l *Limiter) Release(rtt time.Duration, ok bool) {
	inflight := l.inflight.Add(-1) + 1
	if l.queued.Load() > 0 {
		l.qmu.Lock()
		l.dispatchLocked()
		l.qmu.Unlock()
	}
	if l.calCap.Load() > 0 && l.calibrate(rtt, ok, inflight) {
		return
	}
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
	l.endWindowLocked(inflight, l.now())
}

// calibrate takes a completion while a calibration may be on, and reports
// whether the calibration took it. Slots its end frees go to waiters.
func (l *Limiter) calibrate(rtt time.Duration, ok bool, inflight int64) bool {
	if !ok {
		rtt = 0
	}
	l.mu.Lock()
	if l.calCap.Load() == 0 { // another completion ended it meanwhile
		l.mu.Unlock()
		return false
	}
	ended := l.calibrateLocked(float64(rtt), inflight, l.now())
	l.mu.Unlock()
	if ended && l.queued.Load() > 0 {
		l.qmu.Lock()
		l.dispatchLocked()
		l.qmu.Unlock()
	}
	return true
}

// endWindowLocked updates the limit from the window's samples.
func (l *Limiter) endWindowLocked(inflight int64, now time.Time) {
	mean := l.sum / float64(l.samples)
	l.sum, l.samples = 0, 0
	l.meanRTT.Store(int64(mean))
	if l.minRTT == 0 || l.winMin < l.minRTT {
		l.minRTT = l.winMin
	} else {
		// Towards the window's lowest sample, not its mean: a thousand
		// connections on the node's core put the mean far above minRTT
		// (several ms against 40 µs, judging by the drift's pace), and
		// minRTT went from 39 to 71 µs, the floor from 1,000 to about 700,
		// within seconds.
		l.minRTT += (l.winMin - l.minRTT) * minRTTDrift
	}
	l.minRTTNS.Store(int64(l.minRTT))
	base := l.cal.base
	if base == 0 {
		base = l.minRTT
	}
	grad := math.Max(0.5, math.Min(1, limitTolerance*base/mean))
	next := l.cur*grad + limitQueue
	if grad == 1 && float64(inflight) < l.cur/2 {
		next = l.cur // app-limited: the window says nothing about more
	}
	l.cur = math.Max(l.floorLocked(), math.Min(l.maxLimit, next))
	l.limit.Store(int64(l.cur))
	if l.calibrationDue(grad, mean, now) {
		l.startCalibrationLocked(inflight - 1) // less the one just released
	}
}
