package app

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"levee/internal/config"
	"levee/internal/config/schema"
	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/proxy"
	"levee/internal/router"
)

// generation is everything built from one config. It is immutable once
// swapped in; what must outlive it (listeners, transports, upgraded
// connections, health) lives on the Node.
type generation struct {
	id         uint64
	parsed     *config.Parsed
	cfg        *config.Config
	handler    http.Handler
	table      *router.Table
	certs      map[string]*certSet // by listener address as configured
	transports map[string]bool     // keys of the transports it uses
	commits    []func()            // capability commits, run after the swap
}

// stage builds a generation without serving any traffic with it. On error
// nothing it built stays referenced, so the old generation is untouched.
func (n *Node) stage(p *config.Parsed) (*generation, error) {
	g := &generation{parsed: p, cfg: p.Config, certs: map[string]*certSet{}, transports: map[string]bool{}}
	for i, l := range p.Config.Listeners {
		if l.TLS == nil {
			continue
		}
		cs, err := loadCerts(l.TLS)
		if err != nil {
			return nil, fmt.Errorf("listeners[%d].tls: %w", i, err)
		}
		g.certs[l.Listen] = cs
	}
	named := map[string]*config.Pool{}
	for i := range p.Config.Pools {
		named[p.Config.Pools[i].Name] = &p.Config.Pools[i]
	}
	table, err := n.buildTable(g, p.Config, named)
	if err != nil {
		return nil, err
	}
	g.table = table
	h, err := n.buildChain(g)
	if err != nil {
		return nil, err
	}
	g.handler = h
	return g, nil
}

func (n *Node) buildTable(g *generation, c *config.Config, named map[string]*config.Pool) (*router.Table, error) {
	t := router.NewTable()
	built := map[string]*pool.Pool{}
	for i := range c.Sites {
		sc := &c.Sites[i]
		site := &router.Site{Name: sc.Name, DebugHeader: sc.DebugHeader}
		for j := range sc.Routes {
			rc := &sc.Routes[j]
			rt := &router.Route{Site: site, Path: rc.Path, Index: j, Name: sc.Name + rc.Path,
				HostHeader: rc.HostHeader, Remove: rc.RemoveHeaders, Extra: map[string]any{}}
			rt.Extra[proxy.PolicyKey] = routePolicy(rc)
			for _, k := range sortedKeys(rc.SetHeaders) {
				rt.SetHeaders = append(rt.SetHeaders, [2]string{k, rc.SetHeaders[k]})
			}
			if len(rc.Origins) > 0 {
				pl, err := n.buildPool(g, rt.Name, &rc.PoolSpec)
				if err != nil {
					return nil, fmt.Errorf("sites[%d].routes[%d]: %w", i, j, err)
				}
				rt.Pools = []*pool.Pool{pl}
			}
			for _, name := range rc.Pools {
				pl, ok := built[name]
				if !ok {
					var err error
					if pl, err = n.buildPool(g, name, &named[name].PoolSpec); err != nil {
						return nil, fmt.Errorf("pools %s: %w", name, err)
					}
					built[name] = pl
				}
				rt.Pools = append(rt.Pools, pl)
			}
			site.Routes = append(site.Routes, rt)
		}
		site.SortRoutes()
		for _, h := range sc.Hosts {
			t.Add(h, site)
		}
	}
	return t, nil
}

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
	pl := n.bindPool(g, name, spec, origins, rt)
	pl.Total = spec.Timeouts.Total.D()
	return pl, nil
}

func (n *Node) buildChain(g *generation) (http.Handler, error) {
	c := g.cfg
	trust := &pipeline.Trust{}
	for _, s := range c.TrustedProxies {
		p, err := schema.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		trust.Prefixes = append(trust.Prefixes, p)
	}
	phases := map[string]pipeline.Phase{
		"requestid": pipeline.RequestID(trust),
		"limits":    pipeline.Limits(int64(c.Limits.MaxRequestBody), c.Timeouts.ReadBody.D()),
		"route":     pipeline.Route(g.table),
	}
	var commits []func()
	for _, c := range n.caps {
		ps, commit, err := c.stage(g)
		if err != nil {
			return nil, err
		}
		for name, ph := range ps {
			phases[name] = ph
		}
		if commit != nil {
			commits = append(commits, commit)
		}
	}
	g.commits = commits
	for name, ph := range n.opts.ExtraPhases {
		phases[name] = ph
	}
	px := &proxy.Proxy{WriteTimeout: c.Timeouts.Write.D(), Metrics: n.metrics, Upgrades: n.upgrades, Failover: n.failover()}
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

// certSet picks a certificate by SNI.
type certSet struct {
	certs []tls.Certificate
}

func loadCerts(t *config.TLS) (*certSet, error) {
	cs := &certSet{}
	for i, c := range t.Certificates {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("certificates[%d]: %w", i, err)
		}
		cs.certs = append(cs.certs, cert)
	}
	return cs, nil
}

func (cs *certSet) pick(hello *tls.ClientHelloInfo) *tls.Certificate {
	for i := range cs.certs {
		if hello.SupportsCertificate(&cs.certs[i]) == nil {
			return &cs.certs[i]
		}
	}
	return &cs.certs[0]
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func minTLS(v string) uint16 {
	if strings.TrimSpace(v) == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// Check validates src and stages a generation from it, without opening any
// socket or serving anything: what `levee validate` runs.
func Check(name string, src []byte) error {
	p, err := config.Load(name, src)
	if err != nil {
		return err
	}
	n := New(Options{Log: io.Discard, Access: io.Discard})
	_, err = n.stage(p)
	return err
}
