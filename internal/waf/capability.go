// Package waf is levee's web application firewall: the OWASP Core Rule
// Set through Coraza and custom rules in levee's YAML (Go's linear-time
// regexp), opt-in per route, under a per-request time budget with a
// declared failure policy.
package waf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/corazawaf/coraza/v3"
	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/modswitch"
	"levee/internal/pipeline"
)

// Capability is the WAF's node-level state: the CRS instances (kept
// across reloads by their settings, since building one takes hundreds of
// ms) and the metrics.
type Capability struct {
	host pipeline.Host
	m    *metrics
	mod  *modswitch.Module // kill switch (off: pass) and breaker (the route's policy)

	mu  sync.Mutex
	crs map[string]coraza.WAF // by crsKey; pruned at commit to what is in use
}

type metrics struct {
	abandoned prometheus.Counter
	results   *prometheus.CounterVec
	byResult  map[string]prometheus.Counter
}

// Results of an inspection, the label of levee_waf_requests_total.
var results = []string{"pass", "block", "detect", "off", "bypass_budget", "bypass_overload", "bypass_error", "bypass_breaker",
	"closed_budget", "closed_overload", "closed_error", "closed_breaker"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_waf_requests_total",
		Help: "Requests inspected by the WAF, by result (pass, block, detect; bypass_* and closed_* when the budget, max_inflight or an error applied the route's failure policy)."}, []string{"result"}),
		byResult: map[string]prometheus.Counter{},
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_waf_inspections_abandoned_total",
			Help: "CRS inspections stopped before their next phase because their request had already gone on under the failure policy (budget exceeded)."})}
	if reg != nil {
		reg.MustRegister(m.results, m.abandoned)
	}
	for _, r := range results {
		m.byResult[r] = m.results.WithLabelValues(r)
	}
	return m
}

// NewCapability returns the WAF of a node.
func NewCapability(h pipeline.Host, mod *modswitch.Module) *Capability {
	return &Capability{host: h, m: newMetrics(h.Registry), crs: map[string]coraza.WAF{}, mod: mod}
}

// Stage compiles the routes' waf: blocks (by route ID), building the CRS
// instances not already built.
func (c *Capability) Stage(cfg *Config, routes pipeline.Routes, blocks []*RouteConfig) (pipeline.Staged, error) {
	per := make([]*engine, len(routes.List))
	used := map[string]coraza.WAF{}
	any := false
	for id, rc := range blocks {
		if rc == nil || id >= len(per) {
			continue
		}
		e := &engine{rules: compileRules(cfg.Rules, rc.Rules), bodyLimit: int64(rc.BodyLimit),
			detectOnly: rc.DetectionOnly, failClosed: rc.Fail == "closed", budget: cfg.Budget.D()}
		if rc.Budget > 0 {
			e.budget = rc.Budget.D()
		}
		if *rc.CRS {
			w, err := c.crsFor(rc, used)
			if err != nil {
				return pipeline.Staged{}, fmt.Errorf("waf: route %s: the Core Rule Set does not load: %w", routes.List[id].Name, err)
			}
			e.crs = w
		}
		per[id] = e
		any = true
	}
	staged := pipeline.Staged{Commit: func() {
		c.mu.Lock()
		c.crs = used
		c.mu.Unlock()
	}}
	if any {
		sem := make(chan struct{}, cfg.MaxInflight)
		staged.Phases = map[string]pipeline.Phase{"waf": c.phase(per, sem)}
	}
	return staged, nil
}

func (c *Capability) crsFor(rc *RouteConfig, used map[string]coraza.WAF) (coraza.WAF, error) {
	k := crsKey(rc)
	if w, ok := used[k]; ok {
		return w, nil
	}
	c.mu.Lock()
	w, ok := c.crs[k]
	c.mu.Unlock()
	if !ok {
		var err error
		if w, err = newCRS(rc); err != nil {
			return nil, err
		}
	}
	used[k] = w
	return w, nil
}

// AdminRoutes: none yet.
func (c *Capability) AdminRoutes() map[string]http.Handler { return nil }

// Stop has nothing to release.
func (c *Capability) Stop() {}

// phase is the waf request phase.
func (c *Capability) phase(per []*engine, sem chan struct{}) pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			ex := pipeline.From(w)
			var e *engine
			if ex.Route != nil && ex.Route.ID < len(per) {
				e = per[ex.Route.ID]
			}
			if e == nil {
				return next.ServeHTTP(w, r)
			}
			if c.mod != nil && !c.mod.Active() {
				if c.mod.Killed() {
					c.m.byResult["off"].Inc()
					ex.Decide("off")
					return next.ServeHTTP(w, r)
				}
				return c.failed(ex, w, r, next, e, "breaker")
			}
			s, err := takeSnapshot(r, ex, e.bodyLimit)
			if err != nil {
				return err
			}
			select {
			case sem <- struct{}{}:
			default:
				return c.failed(ex, w, r, next, e, "overload")
			}
			done := make(chan verdict, 1)
			c.host.Wall.Go("waf-inspect", func() {
				defer func() { <-sem }()
				defer func() {
					if v := recover(); v != nil {
						c.host.Wall.Record("module:waf", v)
						if c.mod != nil {
							c.mod.Failed("panic")
						}
						done <- verdict{err: fmt.Errorf("inspection panicked: %v", v)}
					}
				}()
				v := e.inspect(s)
				if v.abandoned {
					c.m.abandoned.Inc()
				}
				done <- v
			})
			t := time.NewTimer(e.budget)
			var v verdict
			select {
			case v = <-done:
				t.Stop()
			case <-t.C:
				s.abandoned.Store(true)
				if c.mod != nil {
					c.mod.Failed("budget")
				}
				return c.failed(ex, w, r, next, e, "budget")
			}
			if v.err != nil {
				c.host.Log.Warn("waf: inspection failed", "id", ex.ID, "err", v.err)
				return c.failed(ex, w, r, next, e, "error")
			}
			switch {
			case v.block:
				c.m.byResult["block"].Inc()
				ex.Decide("block:" + idList(v.ids))
				return pipeline.Errorf(pipeline.SourceClient, http.StatusForbidden, "waf", "the request was blocked by the web application firewall", nil)
			case len(v.ids) > 0:
				c.m.byResult["detect"].Inc()
				ex.Decide("detect:" + idList(v.ids))
			default:
				c.m.byResult["pass"].Inc()
			}
			return next.ServeHTTP(w, r)
		})
	}
}

// failed applies the route's failure policy: open passes the request on
// (counted as a bypass), closed answers 503.
func (c *Capability) failed(ex *pipeline.Exchange, w http.ResponseWriter, r *http.Request, next pipeline.Handler, e *engine, why string) error {
	if e.failClosed {
		c.m.byResult["closed_"+why].Inc()
		ex.Decide("closed:" + why)
		return pipeline.Errorf(pipeline.SourceInternal, http.StatusServiceUnavailable, "waf_"+why, "the request could not be inspected in time", nil)
	}
	c.m.byResult["bypass_"+why].Inc()
	ex.Decide("bypass:" + why)
	return next.ServeHTTP(w, r)
}

// takeSnapshot copies what the inspection reads and reads the first
// bodyLimit bytes of the body, which is put back in front of the rest.
func takeSnapshot(r *http.Request, ex *pipeline.Exchange, bodyLimit int64) (*snapshot, error) {
	s := &snapshot{method: r.Method, uri: r.RequestURI, path: r.URL.Path, query: r.URL.RawQuery, proto: r.Proto,
		host: r.Host, header: r.Header.Clone(), client: ex.Client.String()}
	if s.uri == "" {
		s.uri = r.URL.RequestURI()
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || bodyLimit == 0 {
		return s, nil
	}
	buf := make([]byte, 0, min(bodyLimit, max(r.ContentLength, 4096)))
	b := bytes.NewBuffer(buf)
	_, err := b.ReadFrom(io.LimitReader(r.Body, bodyLimit))
	if err != nil {
		if errors.Is(err, pipeline.ErrBodyTooLarge) {
			return nil, err
		}
		return nil, pipeline.Errorf(pipeline.SourceClient, http.StatusBadRequest, "body_read", "the request body could not be read", err)
	}
	s.body = b.Bytes()
	r.Body = &rejoined{Reader: io.MultiReader(bytes.NewReader(s.body), r.Body), c: r.Body}
	return s, nil
}

// rejoined is the body after inspection: the inspected prefix, then the
// rest from the client.
type rejoined struct {
	io.Reader
	c io.Closer
}

func (r *rejoined) Close() error { return r.c.Close() }
