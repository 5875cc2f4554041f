package proxy

import (
	"context"
	"net/http"
	"time"

	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/router"
)

// maxTried bounds the origins one request remembers having tried.
const maxTried = 16

// errCircuitOpen marks an origin whose circuit breaker turned the request
// away: it is not a try, the next choice is taken at once.
var errCircuitOpen = pipeline.Errorf(pipeline.SourceOrigin, http.StatusServiceUnavailable, "circuit_open", "origin is at its connection limit", nil)

// attempt is one try whose response headers arrived.
type attempt struct {
	pl     *pool.Pool
	o      *pool.Origin
	res    *http.Response
	cancel context.CancelFunc
}

// release ends the try: its body (if not streamed), its context and its
// slot on the origin.
func (a *attempt) release() {
	if a.res != nil {
		a.res.Body.Close()
		a.res = nil
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.o.Release()
}

// retrier is one request's way through its route's pools.
type retrier struct {
	p      *Proxy
	r      *http.Request
	ctx    context.Context // r's
	it     *interim        // forwards the origin's 1xx responses
	ex     *pipeline.Exchange
	route  *router.Route
	pol    *RoutePolicy
	body   []byte // buffered request body, replayed on each try
	replay bool   // the body may be sent again
	tried  [maxTried]*pool.Origin
	nTried int
	tries  int
	// slots hold the current try and a response with a retryable status
	// kept in case no retry may follow (held: its index, -1 for none).
	// Indexes, not pointers, keep the retrier on the stack.
	slots   [2]attempt
	held    int
	lastErr *pipeline.Error
	reason  string // why the last try failed: connect, error or status
}

// serve sends r to the route's pools in priority order. Each pool is
// asked for a usable origin honouring slow start, then for any usable
// origin; only when no pool has one are origins that look down tried
// ("panic mode"). A failed try is retried on a different origin, then on
// the next pool, when the method and body allow it and the budget has a
// token. Nothing is retried once the response has started.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, ex *pipeline.Exchange, route *router.Route) error {
	rt := &retrier{p: p, r: r, ex: ex, route: route, pol: p.policyOf(route), held: -1}
	if p.Failover == nil {
		rt.pol = singleTry
	} else {
		p.Failover.Budget.Deposit()
	}
	prepareHeaders(r, ex, route)
	var err error
	if rt.body, rt.replay, err = bufferBody(r, rt.pol); err != nil {
		return err
	}
	it := newInterim(w, r)
	rt.ctx, rt.it = r.Context(), it
	for mode := pool.Ramp; mode <= pool.Any; mode++ {
		if mode == pool.Any && rt.tries > 0 {
			break
		}
		a, stop, err := rt.pass(mode)
		if a != nil {
			it.stop()
			return p.finish(w, r, ex, a)
		}
		if err != nil {
			it.stop()
			return err
		}
		if stop {
			break
		}
	}
	it.stop()
	if rt.held >= 0 {
		return p.finish(w, r, ex, &rt.slots[rt.held])
	}
	return rt.fallback(w)
}

// pass tries the pools in one mode. It returns the attempt to stream, or
// an error to return at once (the client went away), or stop when no more
// tries may be made.
func (rt *retrier) pass(mode pool.Mode) (*attempt, bool, error) {
	for i, pl := range rt.route.Pools {
		inPool := 0
		for inPool < rt.pol.PerPool && rt.tries < rt.pol.Attempts && rt.nTried < maxTried {
			o := pl.Pick(rt.r, rt.tried[:rt.nTried], mode)
			if o == nil {
				break
			}
			rt.tried[rt.nTried] = o
			rt.nTried++
			if rt.tries > 0 && !rt.mayRetry() {
				return nil, true, nil
			}
			if mode == pool.Any {
				rt.panicked(pl)
			}
			k := rt.free()
			a := &rt.slots[k]
			perr := rt.p.try(rt.r, rt.ctx, rt.it, rt.ex, rt.route, pl, o, rt.pol, rt.body, a)
			if perr == errCircuitOpen {
				continue
			}
			rt.tries++
			inPool++
			if i > 0 && rt.p.Failover != nil {
				rt.p.Failover.Metrics.Failovers.Inc()
				rt.ex.Decide("failover")
			}
			if perr != nil {
				if perr.Source == pipeline.SourceClient {
					rt.drop()
					return nil, true, perr
				}
				rt.lastErr, rt.reason = perr, "error"
				if perr.Kind == "dial" {
					rt.reason = "connect"
				}
				continue
			}
			if !rt.pol.retryStatus(a.res.StatusCode) || rt.tries >= rt.pol.Attempts {
				rt.drop()
				return a, true, nil
			}
			rt.drop()
			rt.held, rt.reason = k, "status"
		}
	}
	return nil, false, nil
}

// free returns the index of the slot not holding the held response,
// cleared.
func (rt *retrier) free() int {
	k := 0
	if rt.held == 0 {
		k = 1
	}
	rt.slots[k] = attempt{}
	return k
}

// drop releases a held response that a newer one replaces.
func (rt *retrier) drop() {
	if rt.held >= 0 {
		rt.slots[rt.held].release()
		rt.held = -1
	}
}

// mayRetry decides whether another try may follow the failed one. A
// request the origin never received (connection refused) is always safe
// to send again and costs the budget nothing, since no origin did any
// work; any other retry needs a retryable method and a budget token.
func (rt *retrier) mayRetry() bool {
	if !rt.replay {
		return false
	}
	if rt.reason != "connect" && !rt.pol.retryableMethod(rt.r) {
		return false
	}
	f := rt.p.Failover
	if rt.reason != "connect" && !f.Budget.Withdraw() {
		f.Metrics.BudgetExhausted.Inc()
		rt.ex.Decide("retry_budget_spent")
		return false
	}
	f.Metrics.Retries.WithLabelValues(rt.reason).Inc()
	rt.ex.Decide("retry")
	return true
}

func (rt *retrier) panicked(pl *pool.Pool) {
	if f := rt.p.Failover; f != nil && f.Health != nil {
		f.Health.Panic(pl.Name)
	}
	rt.ex.Decide("panic")
}

// fallback answers when every try failed: the route's static page, or the
// last classified error (so the cache can serve a stale copy).
func (rt *retrier) fallback(w http.ResponseWriter) error {
	err := rt.lastErr
	if err == nil {
		err = pipeline.Errorf(pipeline.SourceOrigin, http.StatusBadGateway, "no_origin", "no origin available", nil)
	}
	f := rt.p.Failover
	fb := rt.pol.Fallback
	if fb == nil {
		if f != nil {
			f.Metrics.Fallbacks.WithLabelValues("error").Inc()
		}
		return err
	}
	f.Metrics.Fallbacks.WithLabelValues("static").Inc()
	rt.ex.Err = err
	rt.ex.Decide("fallback")
	h := w.Header()
	h.Set("Content-Type", fb.ContentType)
	h.Set("Retry-After", fb.RetryAfter)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(fb.Body)
	return nil
}

// try sends one request to o, filling a once response headers arrived;
// else it returns the classified error, errCircuitOpen when o's limits
// turned it away before anything was sent.
//
// tctx is r's context; it forwards the origin's 1xx responses.
func (p *Proxy) try(r *http.Request, tctx context.Context, it *interim, ex *pipeline.Exchange, route *router.Route, pl *pool.Pool, o *pool.Origin,
	pol *RoutePolicy, body []byte, a *attempt) *pipeline.Error {
	if !o.Acquire(tctx, pl.QueueWait) {
		if p.Failover != nil {
			p.Failover.Metrics.CircuitOpen.Inc()
		}
		return errCircuitOpen
	}
	a.pl, a.o = pl, o
	var timer *time.Timer
	ctx := tctx
	var cancelTotal context.CancelFunc
	if pl.Total > 0 {
		ctx, cancelTotal = context.WithTimeout(ctx, pl.Total)
		a.cancel = cancelTotal
	}
	if pol.PerTry > 0 {
		var cancelTry context.CancelFunc
		ctx, cancelTry = context.WithCancel(ctx)
		if cancelTotal == nil {
			// Otherwise cancelling the total context ends this one too.
			a.cancel = cancelTry
		}
		timer = time.AfterFunc(pol.PerTry, cancelTry)
	}
	out := target(r, ctx, route, o)
	setBody(out, body)
	ex.Origin = o.Host
	start := time.Now()
	res, err := roundTrip(pl.Transport, out, start, it)
	lat := time.Since(start)
	ex.OriginNS += lat
	// Stop fails exactly when the per-try timer has fired.
	tryTimedOut := timer != nil && !timer.Stop()
	if tryTimedOut && err == nil {
		res.Body.Close()
		res, err = nil, context.DeadlineExceeded
	}
	if err != nil {
		a.release()
		var perr *pipeline.Error
		if tryTimedOut && r.Context().Err() == nil {
			perr = pipeline.Errorf(pipeline.SourceOrigin, http.StatusGatewayTimeout, "try_timeout", "origin did not answer within the per-try timeout", err)
			p.countOriginError(ex, perr.Kind)
		} else {
			perr = pipeline.Classify(p.originError(ex, r, err))
		}
		if perr.Source == pipeline.SourceOrigin {
			report(o, outcomeOf(perr.Kind), lat)
		}
		return perr
	}
	a.res = res
	outcome := pool.Success
	if res.StatusCode >= 500 {
		outcome = pool.ServerError
	}
	report(o, outcome, lat)
	return nil
}

func (p *Proxy) countOriginError(ex *pipeline.Exchange, kind string) {
	site := "-"
	if ex.Site != nil {
		site = ex.Site.Name
	}
	p.Metrics.OriginErrors.WithLabelValues(site, kind).Inc()
}

func report(o *pool.Origin, oc pool.Outcome, lat time.Duration) {
	if o.Report != nil {
		o.Report.Report(oc, lat.Nanoseconds())
	}
}

func outcomeOf(kind string) pool.Outcome {
	switch kind {
	case "dial":
		return pool.ConnectFailure
	case "dial_timeout", "timeout", "try_timeout":
		return pool.Timeout
	}
	return pool.Failure
}

// finish streams an attempt's response to the client and releases it.
func (p *Proxy) finish(w http.ResponseWriter, r *http.Request, ex *pipeline.Exchange, a *attempt) error {
	defer a.release()
	res := a.res
	a.res = nil
	if s, ok := a.pl.Picker.(pool.Stamper); ok {
		s.Stamp(r, responseHeader(res), a.o)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		return p.upgrade(w, r, ex, res)
	}
	return p.stream(w, ex, res)
}
