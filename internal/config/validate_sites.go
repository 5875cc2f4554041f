package config

import (
	"fmt"
	"net/textproto"
	"strings"
)

func validateSites(l *errorList, sites []Site, pools map[string]bool) {
	if len(sites) == 0 {
		l.add("sites", "at least one site is required")
	}
	if len(sites) > MaxSites {
		l.add("sites", "%d sites, over the limit of %d", len(sites), MaxSites)
		return
	}
	hosts := map[string]string{}
	names := map[string]int{}
	for i := range sites {
		s := &sites[i]
		p := fmt.Sprintf("sites[%d]", i)
		checkName(l, p+".name", s.Name)
		if j, dup := names[s.Name]; dup {
			l.add(p+".name", "site name %q is also sites[%d]", s.Name, j)
		}
		names[s.Name] = i
		validateHosts(l, p, s.Hosts, hosts)
		validateRoutes(l, p, s.Routes, pools)
	}
}

func validateHosts(l *errorList, p string, hs []string, seen map[string]string) {
	if len(hs) == 0 {
		l.add(p+".hosts", "a site needs at least one host (or \"*\")")
	}
	if len(hs) > MaxHostsPerSite {
		l.add(p+".hosts", "%d hosts, over the limit of %d", len(hs), MaxHostsPerSite)
		return
	}
	for j, h := range hs {
		hp := fmt.Sprintf("%s.hosts[%d]", p, j)
		norm := strings.ToLower(h)
		if !validHostPattern(norm) {
			l.add(hp, "%q is not a hostname, a wildcard such as *.example.com, or *", h)
			continue
		}
		if prev, dup := seen[norm]; dup {
			l.add(hp, "host %q is also %s", h, prev)
		}
		seen[norm] = hp
	}
}

func validateRoutes(l *errorList, p string, rs []Route, pools map[string]bool) {
	if len(rs) == 0 {
		l.add(p+".routes", "a site needs at least one route")
	}
	if len(rs) > MaxRoutesPerSite {
		l.add(p+".routes", "%d routes, over the limit of %d", len(rs), MaxRoutesPerSite)
		return
	}
	paths := map[string]int{}
	for j := range rs {
		r := &rs[j]
		rp := fmt.Sprintf("%s.routes[%d]", p, j)
		if !strings.HasPrefix(r.Path, "/") || len(r.Path) > MaxPathPrefixLength {
			l.add(rp+".path", "must start with / and be at most %d bytes", MaxPathPrefixLength)
		}
		if k, dup := paths[r.Path]; dup {
			l.add(rp+".path", "path %q is also routes[%d]", r.Path, k)
		}
		paths[r.Path] = j
		validateRouteTarget(l, rp, r, pools)
		validateHeaderOps(l, rp, r)
	}
}

func validateRouteTarget(l *errorList, rp string, r *Route, pools map[string]bool) {
	switch {
	case len(r.Pools) == 0 && len(r.Origins) == 0:
		l.add(rp, "a route needs origins or pools")
	case len(r.Pools) > 0 && len(r.Origins) > 0:
		l.add(rp, "a route has either origins or pools, not both")
	case len(r.Pools) > MaxPoolsPerRoute:
		l.add(rp+".pools", "%d pools, over the limit of %d", len(r.Pools), MaxPoolsPerRoute)
	}
	for k, name := range r.Pools {
		if !pools[name] {
			l.add(fmt.Sprintf("%s.pools[%d]", rp, k), "no pool named %q", name)
		}
	}
	validatePoolSpec(l, rp, &r.PoolSpec)
}

func validateHeaderOps(l *errorList, rp string, r *Route) {
	if len(r.SetHeaders)+len(r.RemoveHeaders) > MaxHeaderOps {
		l.add(rp, "%d header operations, over the limit of %d", len(r.SetHeaders)+len(r.RemoveHeaders), MaxHeaderOps)
		return
	}
	for k, v := range r.SetHeaders {
		if !validHeaderName(k) {
			l.add(rp+".set_headers."+k, "%q is not a valid header name", k)
		}
		if len(v) > MaxHeaderValueLength || strings.ContainsAny(v, "\r\n\x00") {
			l.add(rp+".set_headers."+k, "value must be at most %d bytes with no CR, LF or NUL", MaxHeaderValueLength)
		}
	}
	for k, h := range r.RemoveHeaders {
		if !validHeaderName(h) {
			l.add(fmt.Sprintf("%s.remove_headers[%d]", rp, k), "%q is not a valid header name", h)
		}
	}
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	return textproto.CanonicalMIMEHeaderKey(s) != "" && !strings.ContainsAny(s, " \t\r\n:()<>@,;\\\"/[]?={}")
}

func validHostPattern(h string) bool {
	if h == "*" {
		return true
	}
	return validHostname(strings.TrimPrefix(h, "*."))
}

func validHostname(h string) bool {
	if h == "" || len(h) > MaxHostnameLength {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}
