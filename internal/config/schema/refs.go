package schema

// Pools describes the named pools of a config to the sections that refer
// to pools by name (DNS steering, the shield's admission limiters), so they
// can check and use those references without seeing the whole config.
type Pools map[string]PoolRef

// PoolRef is what a section may know of a pool.
type PoolRef struct {
	Origins []OriginRef
	// ActiveChecks is true when the pool has active health checks.
	ActiveChecks bool
}

// OriginRef is one origin of a pool: its URL as configured and its weight.
type OriginRef struct {
	URL    string
	Weight int
}

// Sites maps each site's name to the path prefixes of its routes, for
// sections that refer to sites and routes by name (the shield's rules and
// waiting rooms).
type Sites map[string][]string

// Route reports whether site has a route with path prefix path.
func (s Sites) Route(site, path string) bool {
	for _, p := range s[site] {
		if p == path {
			return true
		}
	}
	return false
}
