package health

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/pool"
)

// entry is one origin's health: active check results, passive failures
// and ejection, and the damping of published membership changes.
type entry struct {
	s      *Store
	ps     *poolState
	id     string
	scheme string
	host   string
	st     *pool.State

	fails   atomic.Int32 // consecutive failures of live traffic
	ejUntil atomic.Int64 // unix ns the passive ejection ends; 0 if none

	mu          sync.Mutex
	activeKnown bool
	activeUp    bool
	okRun       int
	failRun     int
	lastCheck   time.Time
	lastErr     string
	ejections   int // consecutive ejections, for the growing period
	lastEjected time.Time
	lastChange  time.Time
	changes     int
	rampOnSync  bool // guarded by Store.mu: added to a committed pool
}

func newEntry(s *Store, ps *poolState, id, scheme, host string) *entry {
	return &entry{s: s, ps: ps, id: id, scheme: scheme, host: host, st: new(pool.State), activeUp: true}
}

func (e *entry) isKnown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.activeKnown || e.ejections > 0
}

// Report is the passive check: it receives every exchange's outcome from
// the proxy. Successes cost two atomic operations.
func (e *entry) Report(o pool.Outcome, latencyNS int64) {
	if o == pool.Success || o == pool.ServerError || o == pool.Timeout {
		e.st.Observe(latencyNS)
	}
	if o == pool.Success {
		if e.fails.Load() != 0 {
			e.fails.Store(0)
		}
		return
	}
	cfg := e.ps.set.Load().cfg
	if cfg == nil {
		return
	}
	if int(e.fails.Add(1)) < cfg.Passive.ConsecutiveFailures {
		return
	}
	e.fails.Store(0)
	e.eject(o)
}

var outcomeNames = [...]string{"success", "connect_failure", "timeout", "server_error", "failure"}

// eject takes the origin out for a period that doubles with each
// consecutive ejection, unless the pool already has its share ejected.
func (e *entry) eject(o pool.Outcome) {
	cfg := e.ps.set.Load().cfg
	now := e.s.now()
	e.ps.ejectMu.Lock()
	defer e.ps.ejectMu.Unlock()
	if e.ejUntil.Load() > now.UnixNano() {
		return
	}
	total, ejected := e.s.countEjected(e.ps, now)
	allowed := int(math.Ceil(*cfg.Passive.MaxEjectedShare * float64(total)))
	if ejected >= allowed {
		e.s.m.ejections.WithLabelValues(e.ps.name, "refused_share").Inc()
		return
	}
	e.mu.Lock()
	if !e.lastEjected.IsZero() && now.Sub(e.lastEjected) > cfg.Passive.MaxEjection.D()*2 {
		e.ejections = 0
	}
	d := cfg.Passive.BaseEjection.D() << min(e.ejections, 30)
	if d > cfg.Passive.MaxEjection.D() || d <= 0 {
		d = cfg.Passive.MaxEjection.D()
	}
	e.ejections++
	e.lastEjected = now
	e.ejUntil.Store(now.Add(d).UnixNano())
	e.lastErr = "ejected after consecutive " + outcomeNames[o] + " errors"
	e.evaluateLocked(now)
	e.mu.Unlock()
	e.s.m.ejections.WithLabelValues(e.ps.name, "ejected").Inc()
}

// countEjected returns the pool's size and how many of its origins are
// ejected now.
func (s *Store) countEjected(ps *poolState, now time.Time) (total, ejected int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range ps.entries {
		total++
		if e.ejUntil.Load() > now.UnixNano() {
			ejected++
		}
	}
	return total, ejected
}

// activeResult folds one active check result into the rise and fall runs.
// The first result decides at once; after it, rise successes or fall
// failures in a row are needed to change. A recovery seen by the active
// checks ends a passive ejection.
func (e *entry) activeResult(ok bool, msg string, rise, fall int) {
	now := e.s.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastCheck = now
	if !ok {
		e.lastErr = msg
	}
	switch {
	case !e.activeKnown:
		// The first result is learning, not a change: it decides at once
		// and does not start a damping window, so an origin that was not
		// yet listening at boot comes up as soon as its checks pass.
		e.activeKnown, e.activeUp = true, ok
		e.okRun, e.failRun = 0, 0
		e.evaluateLocked(now)
		e.lastChange = time.Time{}
		return
	case ok:
		e.okRun, e.failRun = e.okRun+1, 0
		if !e.activeUp && e.okRun >= rise {
			// Recovered by active checks: a passive ejection from the
			// outage ends too (as Envoy's uneject on active success).
			e.activeUp = true
			e.ejUntil.Store(0)
		}
	default:
		e.failRun, e.okRun = e.failRun+1, 0
		if e.activeUp && e.failRun >= fall {
			e.activeUp = false
		}
	}
	e.evaluateLocked(now)
}

// evaluateLocked publishes the membership the checks want, unless the
// origin changed less than the damping window ago: then the change waits
// for the sweeper. So a flapping origin changes at most once per window.
func (e *entry) evaluateLocked(now time.Time) {
	want := e.activeUp && e.ejUntil.Load() <= now.UnixNano()
	if want == e.st.Up() {
		return
	}
	set := e.ps.set.Load()
	if set.cfg != nil && !e.lastChange.IsZero() && now.Sub(e.lastChange) < set.cfg.Damping.D() {
		return
	}
	e.st.SetUp(want)
	e.lastChange = now
	e.changes++
	if want {
		e.fails.Store(0)
		e.st.StartRamp(now.UnixNano(), set.slowStart)
	}
	to := "down"
	if want {
		to = "up"
	}
	e.s.m.transitions.WithLabelValues(e.ps.name, to).Inc()
	e.publishMetric()
	e.s.log.Info("health: origin "+to, "pool", e.ps.name, "origin", e.id, "reason", e.reason(want))
}

func (e *entry) reason(up bool) string {
	if up {
		return "checks pass"
	}
	return e.lastErr
}

func (e *entry) publishMetric() {
	v := 0.0
	if e.st.Up() {
		v = 1
	}
	e.s.m.up.WithLabelValues(e.ps.name, e.id).Set(v)
}

// sweep re-evaluates an entry: held-back transitions whose window passed,
// ejections that ended, slow starts that finished.
func (e *entry) sweep(now time.Time) {
	e.mu.Lock()
	e.evaluateLocked(now)
	e.mu.Unlock()
	e.st.EndRampIfDone(now.UnixNano())
}

var _ pool.Reporter = (*entry)(nil)
