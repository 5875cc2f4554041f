package app

import (
	"net/http"
	"sync"

	"github.com/caddyserver/certmagic"

	"levee/internal/autotls"
	"levee/internal/bots"
	"levee/internal/cache"
	"levee/internal/cluster"
	"levee/internal/compress"
	"levee/internal/config"
	"levee/internal/dns"
	"levee/internal/health"
	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/shield"
	"levee/internal/waf"
)

// capabilities are the node's parts built on the edge, one package each.
// This file is their registration list, and the only place in app that
// names them: adding a capability adds a field, its constructor in
// newCapabilities, its Stage call in stage (with its own config section
// only), its admin routes in adminRoutes and its Stop in stop. See
// internal/app/README.md, "Adding a capability".
type capabilities struct {
	health *health.Capability
	cache  *cache.Capability
	shield *shield.Capability
	dns    *dns.Capability
	bots   *bots.Capability
	waf    *waf.Capability
	// mods are the kill switches and breakers of the modules (bots, waf,
	// cache, the shield and each of its sub-phases); its file watch
	// starts with the first commit.
	mods      *modswitch.Set
	modsStart sync.Once
	host      pipeline.Host
	cluster   *cluster.Capability
	compress  *compress.Capability
	autotls   *autotls.Capability
}

func newCapabilities(h pipeline.Host, budget health.Budget, version string) *capabilities {
	c := &capabilities{
		health:   health.NewCapability(h, budget),
		cache:    cache.NewCapability(h),
		shield:   shield.NewCapability(h),
		compress: compress.NewCapability(h),
		autotls:  autotls.NewCapability(h),
	}
	c.dns = dns.NewCapability(h, c.health)
	c.autotls.UseDNS(c.dns.Server()) // DNS-01 through levee's own zones
	c.host = h
	c.mods = modswitch.New(h.Log, h.Registry, h.DataDir)
	c.bots = bots.NewCapability(h, c.shield.State(), c.mods.Module("bots", modswitch.FailOpen))
	c.waf = waf.NewCapability(h, c.mods.Module("waf", modswitch.FailOpen))
	c.shield.State().UseSwitches(c.mods)
	c.cache.UseSwitch(c.mods.Module("cache", modswitch.FailOpen))
	c.cluster = cluster.NewCapability(h, version, c.cache)
	return c
}

// stage stages every capability for g, in list order; the first error
// rejects the generation. Each receives its own section.
func (c *capabilities) stage(g *generation) ([]pipeline.Staged, error) {
	cfg := g.cfg
	steps := []func() (pipeline.Staged, error){
		func() (pipeline.Staged, error) { return c.health.Stage(&cfg.Health, g.pools), nil },
		func() (pipeline.Staged, error) { return c.cache.Stage(&cfg.Cache, g.routes, cacheRules(g)) },
		func() (pipeline.Staged, error) {
			return c.shield.Stage(&cfg.Shield, shieldEnv(g, c.cluster.Limiter(), c.cluster.Rooms()))
		},
		func() (pipeline.Staged, error) { return c.dns.Stage(&cfg.DNS, cfg.PoolRefs()) },
		func() (pipeline.Staged, error) { return c.bots.Stage(&cfg.Bots, g.routes, botsBlocks(g)) },
		func() (pipeline.Staged, error) { return c.waf.Stage(&cfg.WAF, g.routes, wafBlocks(g)) },
		func() (pipeline.Staged, error) { return pipeline.Staged{Commit: c.startSwitches}, nil },
		func() (pipeline.Staged, error) { return c.cluster.Stage(&cfg.Cluster, g.parsed.Source) },
		func() (pipeline.Staged, error) { return c.compress.Stage(&cfg.Compress), nil },
		func() (pipeline.Staged, error) {
			return c.autotls.Stage(&cfg.AutoHTTPS, siteHosts(g), certStorage(cfg, c.cluster))
		},
	}
	out := make([]pipeline.Staged, 0, len(steps))
	for _, step := range steps {
		st, err := step()
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// adminRoutes are the capabilities' admin API routes.
func (c *capabilities) adminRoutes() map[string]http.Handler {
	out := map[string]http.Handler{}
	for _, routes := range []map[string]http.Handler{c.cache.AdminRoutes(), c.shield.AdminRoutes(), c.bots.AdminRoutes(),
		c.mods.AdminRoutes(), c.cluster.AdminRoutes(), c.autotls.AdminRoutes()} {
		for pattern, h := range routes {
			out[pattern] = h
		}
	}
	return out
}

// stop releases every capability at shutdown.
func (c *capabilities) stop() {
	c.health.Stop()
	c.cache.Stop()
	c.shield.Stop()
	c.dns.Stop()
	c.bots.Stop()
	c.waf.Stop()
	c.cluster.Stop()
	c.compress.Stop()
	c.autotls.Stop()
}

// siteHosts are every site's hosts, for automatic HTTPS.
func siteHosts(g *generation) []string {
	var out []string
	for _, s := range g.cfg.Sites {
		out = append(out, s.Hosts...)
	}
	return out
}

// cacheRules are the routes' cache: blocks, by route ID.
func cacheRules(g *generation) []*cache.RouteConfig {
	out := make([]*cache.RouteConfig, len(g.routeCfg))
	for id, rc := range g.routeCfg {
		out[id] = rc.Cache
	}
	return out
}

// startSwitches starts the kill switch file watch once, at the first
// commit (not for `levee validate`, which only stages).
func (c *capabilities) startSwitches() {
	c.modsStart.Do(func() { c.host.Wall.Go("kill-switches", func() { c.mods.Run(c.host.Stopped) }) })
}

// botsBlocks are the routes' bots: blocks, by route ID.
func botsBlocks(g *generation) []*bots.RouteConfig {
	out := make([]*bots.RouteConfig, len(g.routeCfg))
	for id, rc := range g.routeCfg {
		out[id] = rc.Bots
	}
	return out
}

// wafBlocks are the routes' waf: blocks, by route ID.
func wafBlocks(g *generation) []*waf.RouteConfig {
	out := make([]*waf.RouteConfig, len(g.routeCfg))
	for id, rc := range g.routeCfg {
		out[id] = rc.WAF
	}
	return out
}

// shieldEnv is what the shield needs of the rest of the generation: the
// trusted proxies, each route's first pool (admission limits are per
// pool), the client timeouts and the cluster's limiter.
func shieldEnv(g *generation, global shield.GlobalLimiter, rooms shield.RoomSyncer) shield.Env {
	first := map[string]string{}
	for _, rt := range g.routes.List {
		if len(rt.Pools) > 0 {
			first[rt.Name] = rt.Pools[0].Name
		}
	}
	sites := make([]string, 0, len(g.cfg.Sites))
	for _, s := range g.cfg.Sites {
		sites = append(sites, s.Name)
	}
	return shield.Env{Trust: g.trust, Pools: first, Sites: sites,
		ReadHeader: g.cfg.Timeouts.ReadHeader.D(), ReadBody: g.cfg.Timeouts.ReadBody.D(), Global: global, Rooms: rooms}
}

// certStorage is where automatic HTTPS keeps certificates: the cluster's
// store when the cluster: section is on (one node obtains, all use it),
// else nil (the data directory).
func certStorage(cfg *config.Config, cl *cluster.Capability) certmagic.Storage {
	if !cfg.Cluster.On() {
		return nil
	}
	return cl.CertStorage()
}
