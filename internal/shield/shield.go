package shield

import (
	"errors"
	"hash/maphash"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"levee/internal/pipeline"
)

// errAnswered means a sub-phase wrote the response itself (the queue page).
var errAnswered = errors.New("answered by the shield")

// req is one request's state across the sub-phases.
type req struct {
	ex      *pipeline.Exchange
	w       http.ResponseWriter
	r       *http.Request
	now     time.Time
	keep    bool // shed last
	allowed bool // on the allow list: skips rate limits
	lim     *Limiter
	ckey    uint64 // hash of the client address, 0 until needed
}

// client returns the request's client key (its address hashed).
func (q *req) client(seed maphash.Seed) uint64 {
	if q.ckey == 0 {
		q.ckey = addrKey(seed, q.ex.Client)
	}
	return q.ckey
}

func addrKey(seed maphash.Seed, a netip.Addr) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	b := a.As16()
	h.Write(b[:])
	return h.Sum64() | 1 // never 0: 0 means "not computed"
}

// Phase returns the pipeline's "shield" phase.
func (s *Shield) Phase() pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			return s.serve(w, r, next)
		})
	}
}

// serve runs the sub-phases in order, outermost first: overload, lists,
// ratelimit, waitingroom, admission; then the rest of the chain.
func (s *Shield) serve(w http.ResponseWriter, r *http.Request, next pipeline.Handler) error {
	if s.st.Killed(KillAll) {
		return next.ServeHTTP(w, r)
	}
	q := req{ex: pipeline.From(w), w: w, r: r}
	q.now = startOf(q.ex)
	q.allowed = s.allow.Contains(q.ex.Client)
	q.keep = q.allowed || s.isKeep(r, q.ex.Client)
	for p := KillOverload; p <= KillAdmission; p++ {
		if s.disabled[p] || s.st.Killed(p) {
			continue
		}
		if s.st.breakerOpen(p) {
			if s.failOpen[p] {
				continue
			}
			s.st.m.Decisions.WithLabelValues(phaseNames[p], "breaker_closed").Inc()
			return errBreaker
		}
		if err := s.guarded(p, &q); err != nil {
			if err == errAnswered {
				return nil
			}
			return err
		}
	}
	if s.minRate > 0 {
		return s.serveMinRate(w, r, next, &q)
	}
	return s.proceed(w, r, next, &q)
}

// proceed calls the rest of the chain, holding the admission slot if any.
// The limiter learns from the time spent waiting on the origin for
// response headers (Exchange.OriginNS), not from the whole exchange: a
// long download says nothing about the origin's load. Requests that did
// not reach an origin (cache hits) or failed teach it nothing.
func (s *Shield) proceed(w http.ResponseWriter, r *http.Request, next pipeline.Handler, q *req) (err error) {
	if q.lim == nil {
		return next.ServeHTTP(w, r)
	}
	defer func() { s.leaveOrigin(q, err) }()
	return next.ServeHTTP(w, r)
}

// leaveOrigin closes the request's origin gate and gives its slot back,
// if it took one (not for cache hits, collapsed requests or sheds). A
// request served well while calm earns its client a good reputation.
func (s *Shield) leaveOrigin(q *req, err error) {
	if atomic.SwapInt32(&q.ex.GateState, gateClosed) != gateHolding {
		return
	}
	ok := err == nil && !q.ex.ClientGone && q.ex.OriginNS > 0
	q.lim.Release(q.ex.OriginNS, ok)
	if ok && q.ex.Status < 400 && s.calm(q) && len(*s.st.surge.rules.Load()) == 0 {
		s.st.rep.Record(q.client(s.st.seed), q.now)
	}
}

// calm reports whether the request's pool is neither queueing nor
// shedding: only then (and with no surge rule in force) do clients earn a
// good reputation, so a flood's own requests earn none.
func (s *Shield) calm(q *req) bool {
	return q.lim.Queued() == 0 && !q.lim.ShedRecently(q.now, 2*time.Second)
}

// guarded runs sub-phase p behind its own panic wall and applies its
// policy: fail open lets the request through, fail closed answers 503.
func (s *Shield) guarded(p int, q *req) (err error) {
	defer func() {
		if v := recover(); v != nil {
			name := phaseNames[p]
			s.st.wall.Record("shield:"+name, v)
			if m := s.st.mods[p]; m != nil {
				m.Failed("panic")
			}
			if s.failOpen[p] {
				s.st.m.Decisions.WithLabelValues(name, "panic_open").Inc()
				err = nil
				return
			}
			s.st.m.Decisions.WithLabelValues(name, "panic_closed").Inc()
			err = shed("shield_panic")
		}
	}()
	if h := s.st.PanicHook; h != nil {
		h(phaseNames[p])
	}
	switch p {
	case KillOverload:
		return s.overloadStep(q)
	case KillLists:
		return s.listsStep(q)
	case KillSurge:
		return s.surgeStep(q)
	case KillRateLimit:
		return s.rateStep(q)
	case KillWaitingRoom:
		return s.roomStep(q)
	case KillAdmission:
		return s.admissionStep(q)
	}
	return nil
}

func shed(kind string) error {
	return pipeline.Errorf(pipeline.SourceInternal, http.StatusServiceUnavailable, kind, "the service is busy; retry shortly", nil)
}

// Verdicts answered often under attack are built once: errors are
// read-only once made, so one value serves every request.
var (
	errOverload  = shed("overload")
	errBreaker   = shed("shield_breaker")
	errAdmission = shed("admission")
	errDenied    = pipeline.Errorf(pipeline.SourceClient, http.StatusForbidden, "denied", "access denied", nil)
	errBlocked   = pipeline.Errorf(pipeline.SourceClient, http.StatusForbidden, "rate_blocked", "request blocked", nil)
	errLimited   = pipeline.Errorf(pipeline.SourceClient, http.StatusTooManyRequests, "rate_limited", "too many requests", nil)
)

func (s *Shield) overloadStep(q *req) error {
	switch lvl := s.st.OverloadLevel(); {
	case lvl >= 2 && !q.keep:
		s.st.m.Decisions.WithLabelValues("overload", "shed").Inc()
		q.w.Header().Set("Retry-After", "1")
		q.ex.Decide("overload-shed")
		return errOverload
	case lvl >= 1:
		q.w.Header().Set("Connection", "close")
	}
	return nil
}

func (s *Shield) listsStep(q *req) error {
	if !q.allowed && s.deny.Contains(q.ex.Client) {
		s.st.m.Decisions.WithLabelValues("lists", "denied").Inc()
		q.ex.Decide("denied")
		return errDenied
	}
	return nil
}

func (s *Shield) rateStep(q *req) error {
	if q.allowed || len(s.rules) == 0 {
		return nil
	}
	site := q.ex.Site.Name
	attack := s.st.UnderAttack(site)
	ns := q.now.Sub(s.st.start).Nanoseconds()
	for _, rl := range s.rules {
		if !rl.matches(site, q.ex.Route.Path, q.r) {
			continue
		}
		if rl.cluster && s.global != nil {
			if err := s.clusterStep(q, rl, attack); err != nil {
				return err
			}
			continue
		}
		key, ok := keyHash(s.seed, rl.key, q.r, q.ex.Client)
		if !ok {
			continue
		}
		iv, tau := rl.interval, rl.tau
		if attack {
			iv, tau = rl.strictInterval, rl.strictTau
		}
		allowed, wait := rl.table.Allow(key, ns, iv, tau)
		if allowed {
			continue
		}
		if err := s.overLimit(q, rl, wait); err != nil {
			return err
		}
	}
	return nil
}

func (s *Shield) overLimit(q *req, rl *rule, wait int64) error {
	q.ex.Decide(rl.decision)
	secs := max(1, (wait+int64(time.Second)-1)/int64(time.Second))
	return s.act(q, "ratelimit", rl.action, rl.name, secs)
}

// act applies a limit's action to a request over it: log lets it on,
// block and the default (limit) answer at once, after the tarpit, and
// challenge hands it to the bots phase's challenge when there is one.
// phase names the limit in levee_shield_decisions_total.
func (s *Shield) act(q *req, phase, action, challengeName string, retryAfter int64) error {
	switch action {
	case "log":
		s.st.m.Decisions.WithLabelValues(phase, "logged").Inc()
		return nil
	case "block":
		s.st.m.Decisions.WithLabelValues(phase, "blocked").Inc()
		s.hold(q)
		return errBlocked
	case "challenge":
		if s.Challenge != nil {
			return s.Challenge(q.ex, challengeName)
		}
	}
	s.st.m.Decisions.WithLabelValues(phase, "limited").Inc()
	q.w.Header().Set("Retry-After", strconv.FormatInt(retryAfter, 10))
	s.hold(q)
	return errLimited
}

// hold is the tarpit: it keeps an over-limit answer back for s.tarpit (or
// until the client goes), while fewer than maxHeld answers are held.
func (s *Shield) hold(q *req) {
	if s.tarpit <= 0 {
		return
	}
	if s.st.held.Add(1) > s.maxHeld {
		s.st.held.Add(-1)
		return
	}
	defer s.st.held.Add(-1)
	t := time.NewTimer(s.tarpit)
	defer t.Stop()
	select {
	case <-t.C:
	case <-q.r.Context().Done():
	}
}

func (rl *rule) matches(site, route string, r *http.Request) bool {
	if rl.sites != nil && !rl.sites[site] || rl.routes != nil && !rl.routes[route] {
		return false
	}
	if rl.prefix != "" && !strings.HasPrefix(r.URL.Path, rl.prefix) {
		return false
	}
	if len(rl.methods) == 0 {
		return true
	}
	for _, m := range rl.methods {
		if m == r.Method {
			return true
		}
	}
	return false
}

// admissionStep puts the pool's limiter on the request's way to the
// origin: the slot is taken when the proxy is about to send the request
// (EnterOrigin), so cache hits and requests collapsed onto another's
// fetch never hold one.
func (s *Shield) admissionStep(q *req) error {
	if !s.admission || len(q.ex.Route.Pools) == 0 {
		return nil
	}
	if q.lim = s.limiters[q.ex.Route.Pools[0].Name]; q.lim != nil {
		q.ex.OriginGate = s
	}
	return nil
}

// Origin gate states (Exchange.GateState).
const (
	gateIdle     = iota
	gateEntering // waiting for a slot
	gateHolding  // holds a slot: proceed releases it
	gateClosed   // the shield is done with the request
)

// EnterOrigin takes an admission slot for ex, waiting by turns with
// other clients for at most max_wait; it answers 503 + Retry-After when
// none can be had. Only the first call of a request waits.
func (s *Shield) EnterOrigin(ex *pipeline.Exchange, r *http.Request) error {
	if !atomic.CompareAndSwapInt32(&ex.GateState, gateIdle, gateEntering) || len(ex.Route.Pools) == 0 {
		return nil
	}
	lim := s.limiters[ex.Route.Pools[0].Name]
	if lim == nil {
		return nil
	}
	key := addrKey(s.st.seed, ex.Client)
	lane := laneOther
	switch {
	case s.allow.Contains(ex.Client) || s.isKeep(r, ex.Client):
		lane = laneKeep
	case s.st.rep.Good(key, startOf(ex)):
		lane = laneReputable
	}
	why := admitted
	if !lim.TryAdmit(lane) {
		// Done only when waiting: taking a request context's Done makes
		// a channel, and keeps h1server from reusing the context (about
		// 0.7 µs a pass-through request in a profile, session 13).
		why = lim.AcquireWait(key, lane, time.Now(), r.Context().Done())
	}
	if why == admitted {
		if !atomic.CompareAndSwapInt32(&ex.GateState, gateEntering, gateHolding) {
			lim.Release(0, false) // the shield finished meanwhile (a detached fetch)
		}
		return nil
	}
	atomic.StoreInt32(&ex.GateState, gateClosed)
	result := [...]string{shedFull: "queue_full", shedTimeout: "wait_timeout", shedGone: "client_gone", shedEarly: "wait_estimate"}[why]
	s.st.m.Decisions.WithLabelValues("admission", result).Inc()
	s.st.noteShed(ex.Route.Pools[0].Name, result, time.Now())
	ex.Decide("shed")
	ex.Header().Set("Retry-After", "1")
	return errAdmission
}

// startOf is the request's start, read by the wall microseconds before:
// the shield's clock for the request (rate limits, reputation, the
// waiting room), without a read of its own.
func startOf(ex *pipeline.Exchange) time.Time {
	if ex.Start.IsZero() {
		return time.Now()
	}
	return ex.Start
}

// hasKeepClass reports whether any request can be keep: an allow list or
// a keep class is configured.
func (s *Shield) hasKeepClass() bool {
	return s.allow.Len() > 0 || len(s.keepPfx) > 0 || len(s.keepPaths) > 0 || len(s.keepCook) > 0
}

// isKeep reports whether r is in a configured "keep" class.
func (s *Shield) isKeep(r *http.Request, client netip.Addr) bool {
	for _, p := range s.keepPfx {
		if p.Contains(client) {
			return true
		}
	}
	for _, p := range s.keepPaths {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	for _, c := range s.keepCook {
		if _, ok := cookieValue(r.Header, c); ok {
			return true
		}
	}
	return false
}
