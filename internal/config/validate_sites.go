package config

import (
	"fmt"
	"levee/internal/config/schema"
	"strings"
)

func validateSites(l *schema.List, sites []Site, pools map[string]bool) {
	if len(sites) == 0 {
		l.Add("sites", "at least one site is required")
	}
	if len(sites) > MaxSites {
		l.Add("sites", "%d sites, over the limit of %d", len(sites), MaxSites)
		return
	}
	hosts := map[string]string{}
	names := map[string]int{}
	for i := range sites {
		s := &sites[i]
		p := fmt.Sprintf("sites[%d]", i)
		schema.CheckName(l, p+".name", s.Name)
		if j, dup := names[s.Name]; dup {
			l.Add(p+".name", "site name %q is also sites[%d]", s.Name, j)
		}
		names[s.Name] = i
		validateHosts(l, p, s.Hosts, hosts)
		validateRoutes(l, p, s.Routes, pools)
	}
}

func validateHosts(l *schema.List, p string, hs []string, seen map[string]string) {
	if len(hs) == 0 {
		l.Add(p+".hosts", "a site needs at least one host (or \"*\")")
	}
	if len(hs) > MaxHostsPerSite {
		l.Add(p+".hosts", "%d hosts, over the limit of %d", len(hs), MaxHostsPerSite)
		return
	}
	for j, h := range hs {
		hp := fmt.Sprintf("%s.hosts[%d]", p, j)
		norm := strings.ToLower(h)
		if !validHostPattern(norm) {
			l.Add(hp, "%q is not a hostname, a wildcard such as *.example.com, or *", h)
			continue
		}
		if prev, dup := seen[norm]; dup {
			l.Add(hp, "host %q is also %s", h, prev)
		}
		seen[norm] = hp
	}
}

func validateRoutes(l *schema.List, p string, rs []Route, pools map[string]bool) {
	if len(rs) == 0 {
		l.Add(p+".routes", "a site needs at least one route")
	}
	if len(rs) > MaxRoutesPerSite {
		l.Add(p+".routes", "%d routes, over the limit of %d", len(rs), MaxRoutesPerSite)
		return
	}
	paths := map[string]int{}
	for j := range rs {
		r := &rs[j]
		rp := fmt.Sprintf("%s.routes[%d]", p, j)
		if !strings.HasPrefix(r.Path, "/") || len(r.Path) > MaxPathPrefixLength {
			l.Add(rp+".path", "must start with / and be at most %d bytes", MaxPathPrefixLength)
		}
		if k, dup := paths[r.Path]; dup {
			l.Add(rp+".path", "path %q is also routes[%d]", r.Path, k)
		}
		paths[r.Path] = j
		validateRouteTarget(l, rp, r, pools)
		validateHeaderOps(l, rp, r)
	}
}

func validateRouteTarget(l *schema.List, rp string, r *Route, pools map[string]bool) {
	switch {
	case len(r.Pools) == 0 && len(r.Origins) == 0:
		l.Add(rp, "a route needs origins or pools")
	case len(r.Pools) > 0 && len(r.Origins) > 0:
		l.Add(rp, "a route has either origins or pools, not both")
	case len(r.Pools) > MaxPoolsPerRoute:
		l.Add(rp+".pools", "%d pools, over the limit of %d", len(r.Pools), MaxPoolsPerRoute)
	}
	for k, name := range r.Pools {
		if !pools[name] {
			l.Add(fmt.Sprintf("%s.pools[%d]", rp, k), "no pool named %q", name)
		}
	}
	validatePoolSpec(l, rp, &r.PoolSpec)
}

func validateHeaderOps(l *schema.List, rp string, r *Route) {
	if len(r.SetHeaders)+len(r.RemoveHeaders) > MaxHeaderOps {
		l.Add(rp, "%d header operations, over the limit of %d", len(r.SetHeaders)+len(r.RemoveHeaders), MaxHeaderOps)
		return
	}
	for k, v := range r.SetHeaders {
		if !schema.ValidHeaderName(k) {
			l.Add(rp+".set_headers."+k, "%q is not a valid header name", k)
		}
		if len(v) > MaxHeaderValueLength || strings.ContainsAny(v, "\r\n\x00") {
			l.Add(rp+".set_headers."+k, "value must be at most %d bytes with no CR, LF or NUL", MaxHeaderValueLength)
		}
	}
	for k, h := range r.RemoveHeaders {
		if !schema.ValidHeaderName(h) {
			l.Add(fmt.Sprintf("%s.remove_headers[%d]", rp, k), "%q is not a valid header name", h)
		}
	}
}

func validHostPattern(h string) bool {
	if h == "*" {
		return true
	}
	return schema.ValidHostname(strings.TrimPrefix(h, "*."))
}
