package config

import (
	"fmt"
	"levee/internal/cache"
	"levee/internal/config/schema"
)

// Sections of capabilities built on the edge node. Each lives in its own
// file (cache.go, health.go, shield.go, dns.go) with its own defaults and
// validation, called from SetDefaults and Validate through these hooks.

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
}

// routeSection is one route's capability blocks, with the route's path in
// the config for error messages.
type routeSection struct {
	path  string
	cache *cache.RouteConfig
}

func routeSections(c *Config) []routeSection {
	var out []routeSection
	for i := range c.Sites {
		for j := range c.Sites[i].Routes {
			r := &c.Sites[i].Routes[j]
			out = append(out, routeSection{path: fmt.Sprintf("sites[%d].routes[%d]", i, j), cache: r.Cache})
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
