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
