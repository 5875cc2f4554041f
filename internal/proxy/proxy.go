// Package proxy is the mechanism of reverse proxying: it sends one request
// to one origin and streams the answer back. Which origin, and what to do
// when it fails, is policy passed in by the route (pools and pickers).
package proxy

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/router"
	"levee/internal/telemetry"
)

// Proxy is the terminal handler of the chain.
type Proxy struct {
	// WriteTimeout bounds each write to the client; it is extended while a
	// long body streams, so only a stalled client is cut.
	WriteTimeout time.Duration
	Metrics      *telemetry.Metrics
	// Upgrades tracks hijacked connections so shutdown can close them.
	Upgrades *UpgradeSet
	// Failover holds the retry budget and metrics; nil tries once.
	Failover *Failover
	// Policies are the routes' retry and fallback policies, by
	// router.Route.ID; a route without one is tried once.
	Policies []*RoutePolicy
	// Go starts the goroutines that copy an upgraded connection, behind
	// the panic wall (guard.Wall.Go); nil starts them bare.
	Go func(name string, fn func())
}

// spawn runs fn on its own goroutine, behind the wall when Go is set.
func (p *Proxy) spawn(name string, fn func()) {
	if p.Go != nil {
		p.Go(name, fn)
	} else {
		go fn()
	}
}

// ServeHTTP proxies r to its route's pools, retrying and failing over as
// the route's policy allows (failover.go).
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := pipeline.From(w)
	route := ex.Route
	if route == nil || len(route.Pools) == 0 {
		return pipeline.Errorf(pipeline.SourceInternal, http.StatusBadGateway, "no_pool", "no origin pool for this route", nil)
	}
	if g := ex.OriginGate; g != nil {
		if err := g.EnterOrigin(ex, r); err != nil {
			return err
		}
	}
	return p.serve(w, r, ex, route)
}

// prepareHeaders edits the inbound headers for the origin, once per
// request whatever the number of tries.
func prepareHeaders(r *http.Request, ex *pipeline.Exchange, route *router.Route) {
	h := r.Header
	upType := upgradeType(h)
	removeHopHeaders(h)
	if upType != "" {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = []string{upType}
	}
	if r.ProtoMajor >= 2 || teTrailers(r) {
		h["Te"] = []string{"trailers"}
	}
	setForwarded(h, r, ex)
	for _, kv := range route.SetHeaders {
		h.Set(kv[0], kv[1])
	}
	for _, k := range route.Remove {
		h.Del(k)
	}
}

// target returns the request of one try to origin o.
func target(r *http.Request, ctx context.Context, route *router.Route, o *pool.Origin) *http.Request {
	out := r.WithContext(ctx)
	u := new(url.URL)
	*u = *r.URL
	u.Scheme, u.Host = o.URL.Scheme, o.Host
	out.URL = u
	out.RequestURI = ""
	out.Close = false
	switch route.HostHeader {
	case "":
	case "origin":
		out.Host = o.Host
	default:
		out.Host = route.HostHeader
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	return out
}

func teTrailers(r *http.Request) bool {
	for _, v := range r.Header["Te"] {
		if v == "trailers" {
			return true
		}
	}
	return false
}

var _ pipeline.Handler = (*Proxy)(nil)
