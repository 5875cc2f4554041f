package shield

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
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
	q := req{ex: pipeline.From(w), w: w, r: r, now: time.Now()}
	q.allowed = s.allow.Contains(q.ex.Client)
	q.keep = q.allowed || s.isKeep(r, &q)
	for p := KillOverload; p <= KillAdmission; p++ {
		if s.disabled[p] || s.st.Killed(p) {
			continue
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
func (s *Shield) proceed(w http.ResponseWriter, r *http.Request, next pipeline.Handler, q *req) error {
	if q.lim == nil {
		return next.ServeHTTP(w, r)
	}
	ok := false
	defer func() { q.lim.Release(q.ex.OriginNS, ok) }()
	err := next.ServeHTTP(w, r)
	ok = err == nil && !q.ex.ClientGone && q.ex.OriginNS > 0
	return err
}

// guarded runs sub-phase p behind its own panic wall and applies its
// policy: fail open lets the request through, fail closed answers 503.
func (s *Shield) guarded(p int, q *req) (err error) {
	defer func() {
		if v := recover(); v != nil {
			name := phaseNames[p]
			s.st.wall.Record("shield:"+name, v)
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
	switch rl.action {
	case "log":
		s.st.m.Decisions.WithLabelValues("ratelimit", "logged").Inc()
		return nil
	case "block":
		s.st.m.Decisions.WithLabelValues("ratelimit", "blocked").Inc()
		s.hold(q)
		return errBlocked
	case "challenge":
		if s.Challenge != nil {
			return s.Challenge(q.ex, rl.name)
		}
	}
	s.st.m.Decisions.WithLabelValues("ratelimit", "limited").Inc()
	secs := max(1, (wait+int64(time.Second)-1)/int64(time.Second))
	q.w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
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

func (s *Shield) admissionStep(q *req) error {
	if !s.admission || len(q.ex.Route.Pools) == 0 {
		return nil
	}
	lim := s.limiters[q.ex.Route.Pools[0].Name]
	if lim == nil {
		return nil
	}
	if !lim.Acquire(q.keep, q.now) {
		s.st.m.Decisions.WithLabelValues("admission", "shed").Inc()
		q.ex.Decide("shed")
		q.w.Header().Set("Retry-After", "1")
		return errAdmission
	}
	q.lim = lim
	return nil
}

// isKeep reports whether r is in a configured "keep" class.
func (s *Shield) isKeep(r *http.Request, q *req) bool {
	for _, p := range s.keepPfx {
		if p.Contains(q.ex.Client) {
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
