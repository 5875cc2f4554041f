package health

import (
	"net/http"
	"time"

	"levee/internal/pipeline"
	"levee/internal/pool"
)

// Capability is the health checker's node-level state: the Store, whose
// origin state outlives generations, and the retry budget its section
// configures.
type Capability struct {
	store  *Store
	budget Budget
}

// Budget is the node's retry budget (the proxy's), set from
// health.retry_budget.
type Budget interface {
	Set(ratio float64, minPerSecond int)
}

// NewCapability returns the health capability of a node.
func NewCapability(h pipeline.Host, budget Budget) *Capability {
	return &Capability{store: NewStore(h.Log, h.Wall, h.Registry), budget: budget}
}

// Store returns the health store (the proxy reports to it, DNS and the
// admin API read it).
func (c *Capability) Store() *Store { return c.store }

// Pool is one origin pool of a generation being staged, with what its
// checks need.
type Pool struct {
	Name      string
	Health    *PoolConfig // nil: no active or passive checks
	SlowStart time.Duration
	Transport http.RoundTripper
	Origins   []*pool.Origin
}

// Stage binds the origins of every pool of a generation to their live
// state (created on first sight, kept across generations); the commit
// starts, changes or stops the checkers, so they run from boot, not from
// the first request.
func (c *Capability) Stage(cfg *Config, pools []Pool) pipeline.Staged {
	defs := make([]*Def, 0, len(pools))
	for _, p := range pools {
		d := &Def{Name: p.Name, Health: p.Health, SlowStart: p.SlowStart, Transport: p.Transport}
		c.store.Bind(d, p.Origins)
		defs = append(defs, d)
	}
	ratio, floor := *cfg.RetryBudget.Ratio, *cfg.RetryBudget.MinPerSecond
	return pipeline.Staged{Commit: func() {
		c.budget.Set(ratio, floor)
		c.store.Sync(defs)
	}}
}

// Stop stops the checkers.
func (c *Capability) Stop() { c.store.Stop() }

// HealthState reports what the checker knows of one origin of a pool
// (origin URL exactly as configured): healthy, and whether any check has
// reported yet. An origin counts as healthy until a check says otherwise.
// DNS answers and the proxy read the same state.
func (c *Capability) HealthState(pool, originURL string) (healthy, known bool) {
	return c.store.State(pool, originURL)
}
