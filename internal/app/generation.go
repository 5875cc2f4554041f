package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"

	"levee/internal/config"
	"levee/internal/config/schema"
	"levee/internal/health"
	"levee/internal/listener"
	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/proxy"
	"levee/internal/router"
)

// generation is everything built from one config. It is immutable once
// swapped in; what must outlive it (listeners, transports, upgraded
// connections, capability state) lives on the Node.
type generation struct {
	id         uint64
	parsed     *config.Parsed
	cfg        *config.Config
	handler    http.Handler
	routes     pipeline.Routes
	routeCfg   []*config.Route // by route ID
	pools      []health.Pool   // every pool built, named and inline
	trust      *pipeline.Trust
	listeners  []listener.Spec
	transports map[string]bool   // keys of the transports it uses
	staged     []pipeline.Staged // what each capability added, in list order
}

// stage builds a generation without serving any traffic with it. On error
// nothing it built stays referenced, so the old generation is untouched.
func (n *Node) stage(p *config.Parsed) (*generation, error) {
	g := &generation{parsed: p, cfg: p.Config, transports: map[string]bool{}}
	// Certificate errors do not stop the stage: zone files and the rest
	// are still loaded, so one run reports every broken file.
	var specErr, err error
	g.listeners, specErr = listener.Specs(p.Config)
	if g.trust, err = trustOf(p.Config.TrustedProxies); err != nil {
		return nil, err
	}
	if err := n.buildTable(g); err != nil {
		return nil, err
	}
	if g.staged, err = n.caps.stage(g); err != nil {
		return nil, errors.Join(specErr, err)
	}
	if specErr != nil {
		return nil, specErr
	}
	if g.handler, err = n.buildChain(g); err != nil {
		return nil, err
	}
	return g, nil
}

func trustOf(prefixes []string) (*pipeline.Trust, error) {
	trust := &pipeline.Trust{}
	for _, s := range prefixes {
		p, err := schema.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		trust.Prefixes = append(trust.Prefixes, p)
	}
	return trust, nil
}

// buildTable compiles sites and routes, and builds every pool: those
// routes use, inline or named, and the named pools no route uses (DNS
// answers and health checks still need them).
func (n *Node) buildTable(g *generation) error {
	c := g.cfg
	t := router.NewTable()
	named := map[string]*pool.Pool{}
	for i := range c.Pools {
		pc := &c.Pools[i]
		pl, err := n.buildPool(g, pc.Name, &pc.PoolSpec)
		if err != nil {
			return fmt.Errorf("pools %s: %w", pc.Name, err)
		}
		named[pc.Name] = pl
	}
	for i := range c.Sites {
		sc := &c.Sites[i]
		site := &router.Site{Name: sc.Name, DebugHeader: sc.DebugHeader}
		for j := range sc.Routes {
			rc := &sc.Routes[j]
			rt := &router.Route{Site: site, Path: rc.Path, ID: len(g.routes.List), Index: j, Name: routeName(sc.Name, rc.Path),
				HostHeader: rc.HostHeader, Remove: rc.RemoveHeaders}
			for _, k := range sortedKeys(rc.SetHeaders) {
				rt.SetHeaders = append(rt.SetHeaders, [2]string{k, rc.SetHeaders[k]})
			}
			if len(rc.Origins) > 0 {
				pl, err := n.buildPool(g, rt.Name, &rc.PoolSpec)
				if err != nil {
					return fmt.Errorf("sites[%d].routes[%d]: %w", i, j, err)
				}
				rt.Pools = []*pool.Pool{pl}
			}
			for _, name := range rc.Pools {
				rt.Pools = append(rt.Pools, named[name])
			}
			site.Routes = append(site.Routes, rt)
			g.routes.List = append(g.routes.List, rt)
			g.routeCfg = append(g.routeCfg, rc)
		}
		site.SortRoutes()
		for _, h := range sc.Hosts {
			t.Add(h, site)
		}
	}
	g.routes.Table = t
	return nil
}

// routeName is a route's name in logs, metrics and the pools built for an
// inline route: the site's name and the route's path.
func routeName(site, path string) string { return site + path }

// buildPool builds one pool over a transport shared by every pool with the
// same transport settings; its origins get live health state when the
// health capability stages the generation.
func (n *Node) buildPool(g *generation, name string, spec *config.PoolSpec) (*pool.Pool, error) {
	rt, key, err := n.transports.Get(spec)
	if err != nil {
		return nil, err
	}
	g.transports[key] = true
	origins := make([]*pool.Origin, 0, len(spec.Origins))
	for _, oc := range spec.Origins {
		u, err := url.Parse(oc.URL)
		if err != nil {
			return nil, err
		}
		u.Path = ""
		origins = append(origins, pool.NewOrigin(oc.URL, u, oc.Weight, nil, oc.MaxConns, oc.MaxPending))
	}
	g.pools = append(g.pools, health.Pool{Name: name, Health: spec.Health, SlowStart: spec.SlowStart.D(), Transport: rt, Origins: origins})
	pl := pool.New(name, origins, rt)
	pl.Picker = pool.NewPicker(&spec.Balance, origins)
	pl.QueueWait = spec.Timeouts.Dial.D()
	pl.Total = spec.Timeouts.Total.D()
	return pl, nil
}

// buildChain composes the core phases, the capabilities' phases and the
// proxy in pipeline.Order, behind the panic wall.
func (n *Node) buildChain(g *generation) (http.Handler, error) {
	c := g.cfg
	phases := map[string]pipeline.Phase{
		"requestid": pipeline.RequestID(g.trust),
		"limits":    pipeline.Limits(int64(c.Limits.MaxRequestBody), c.Timeouts.ReadBody.D()),
		"route":     pipeline.Route(g.routes.Table),
	}
	for _, st := range g.staged {
		for name, ph := range st.Phases {
			phases[name] = ph
		}
	}
	for name, ph := range n.opts.ExtraPhases {
		phases[name] = ph
	}
	px := &proxy.Proxy{WriteTimeout: c.Timeouts.Write.D(), Metrics: n.metrics, Upgrades: n.upgrades, Go: n.wall.Go,
		Failover: n.failover, Policies: make([]*proxy.RoutePolicy, len(g.routeCfg))}
	for id, rc := range g.routeCfg {
		px.Policies[id] = proxy.CompilePolicy(&rc.Retries, rc.Fallback)
	}
	chain, err := pipeline.Build(phases, px)
	if err != nil {
		return nil, err
	}
	wall := &pipeline.Wall{Chain: chain, Guard: n.wall, Log: n.log, Metrics: n.metrics}
	if *c.Log.Access {
		wall.Access = n.access
	}
	return wall, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Check validates src and stages a generation from it, without opening any
// socket or serving anything: what `levee validate` runs.
func Check(name string, src []byte) error {
	p, err := config.Load(name, src)
	if err != nil {
		return err
	}
	n := New(Options{Log: io.Discard, Access: io.Discard})
	if _, err = n.stage(p); err != nil {
		return p.Locate(name, err)
	}
	return nil
}
