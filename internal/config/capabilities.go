package config

import (
	"fmt"
	"levee/internal/autotls"
	"levee/internal/bots"
	"levee/internal/cache"
	"levee/internal/cluster"
	"levee/internal/compress"
	"levee/internal/config/schema"
	"levee/internal/dns"
	"levee/internal/health"
	"levee/internal/shield"
	"levee/internal/waf"
)

// This file is the config side of the capability registration list (the
// runtime side is internal/app/capabilities.go). Each capability owns its
// section's type, defaults and validation in its own package; here they
// are composed into the one document decoded strictly, and their hooks are
// called. Adding a capability adds a field to Sections (or RouteSections)
// and a line to each function below.

// Sections are the capabilities' top-level sections, inlined into Config.
type Sections struct {
	// Cache configures the CDN cache's storage (internal/cache).
	Cache cache.Config `yaml:"cache"`
	// Health configures the retry budget (internal/health).
	Health health.Config `yaml:"health"`
	// Shield configures rate limits and overload protection (internal/shield).
	Shield shield.Config `yaml:"shield"`
	// DNS configures the authoritative DNS server (internal/dns).
	DNS dns.Config `yaml:"dns"`
	// Bots configures the bot score's feature file and the proof-of-work
	// challenge (internal/bots).
	Bots bots.Config `yaml:"bots"`
	// WAF configures the web application firewall's budget and custom
	// rules (internal/waf).
	WAF waf.Config `yaml:"waf"`
	// Cluster joins the node to others sharing a Redis/Valkey store
	// (internal/cluster). Default off.
	Cluster cluster.Config `yaml:"cluster"`
	// Compress configures response compression (internal/compress).
	Compress compress.Config `yaml:"compress"`
	// AutoHTTPS configures ACME certificates (internal/autotls).
	AutoHTTPS autotls.Config `yaml:"auto_https"`
}

// RouteSections are the capabilities' per-route blocks, inlined into Route.
type RouteSections struct {
	// Cache turns the CDN cache on for this route (internal/cache).
	// Default off.
	Cache *cache.RouteConfig `yaml:"cache,omitempty"`
	// Bots scores this route's requests and acts by score band
	// (internal/bots). Default off.
	Bots *bots.RouteConfig `yaml:"bots,omitempty"`
	// WAF inspects this route's requests (internal/waf). Default off.
	WAF *waf.RouteConfig `yaml:"waf,omitempty"`
}

func setCapabilityDefaults(c *Config) {
	c.Cache.SetDefaults()
	for _, rc := range routeSections(c) {
		if rc.cache != nil {
			rc.cache.SetDefaults()
		}
	}
	c.Health.SetDefaults()
	for i := range c.Pools {
		setPoolSectionDefaults(&c.Pools[i].PoolSpec)
	}
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			r := &c.Sites[i].Routes[j]
			setPoolSectionDefaults(&r.PoolSpec)
			setRetryDefaults(r)
		}
	}
	c.Shield.SetDefaults()
	c.DNS.SetDefaults()
	c.Bots.SetDefaults()
	c.WAF.SetDefaults()
	for _, rc := range routeSections(c) {
		if rc.bots != nil {
			rc.bots.SetDefaults()
		}
		if rc.waf != nil {
			rc.waf.SetDefaults()
		}
	}
	c.Cluster.SetDefaults()
	c.Compress.SetDefaults()
	c.AutoHTTPS.SetDefaults()
}

func validateCapabilities(l *schema.List, c *Config) {
	c.Cache.Validate(l)
	for _, rc := range routeSections(c) {
		if rc.cache != nil {
			rc.cache.Validate(l, rc.path+".cache")
		}
	}
	c.Health.Validate(l)
	validatePoolsAndRoutes(l, c)
	c.Shield.Validate(l, c.SiteRefs())
	c.DNS.Validate(l, c.PoolRefs())
	c.Bots.Validate(l)
	c.WAF.Validate(l)
	wafRules := c.WAF.RuleIDs()
	for _, rc := range routeSections(c) {
		if rc.bots != nil {
			rc.bots.Validate(l, rc.path+".bots")
		}
		if rc.waf != nil {
			rc.waf.Validate(l, rc.path+".waf", wafRules)
		}
	}
	c.Cluster.Validate(l)
	c.Compress.Validate(l)
	c.AutoHTTPS.Validate(l, anyAutoListener(c))
}

func anyAutoListener(c *Config) bool {
	for _, l := range c.Listeners {
		if l.TLS != nil && l.TLS.Auto {
			return true
		}
	}
	return false
}

// routeSection is one route's capability blocks, with the route's path in
// the config for error messages.
type routeSection struct {
	path  string
	cache *cache.RouteConfig
	bots  *bots.RouteConfig
	waf   *waf.RouteConfig
}

func routeSections(c *Config) []routeSection {
	var out []routeSection
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			r := &c.Sites[i].Routes[j]
			out = append(out, routeSection{path: fmt.Sprintf("sites[%d].routes[%d]", i, j), cache: r.Cache, bots: r.Bots, waf: r.WAF})
		}
	}
	return out
}

// PoolRefs describes the named pools to the sections that refer to them.
func (c *Config) PoolRefs() schema.Pools {
	out := schema.Pools{}
	for _, p := range c.Pools {
		ref := schema.PoolRef{ActiveChecks: p.Health != nil && p.Health.Active != nil}
		for _, o := range p.Origins {
			ref.Origins = append(ref.Origins, schema.OriginRef{URL: o.URL, Weight: o.Weight})
		}
		out[p.Name] = ref
	}
	return out
}

// SiteRefs describes the sites and their routes to the sections that
// refer to them.
func (c *Config) SiteRefs() schema.Sites {
	out := schema.Sites{}
	for _, s := range c.Sites {
		paths := []string{}
		for _, r := range s.Routes {
			paths = append(paths, r.Path)
		}
		out[s.Name] = paths
	}
	return out
}
