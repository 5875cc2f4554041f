package app

import (
	"net/http"
	"strconv"
	"sync"

	"levee/internal/config"
	"levee/internal/health"
	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/proxy"
)

// healthCap is the health capability's node-level state: the health store
// (origin state that outlives generations) and the retry budget.
type healthCap struct {
	n        *Node
	store    *health.Store
	failover *proxy.Failover

	mu     sync.Mutex
	staged map[*generation][]*health.Def // pools bound while staging g
}

func newHealth(n *Node) capability {
	c := &healthCap{n: n, store: health.NewStore(n.log, n.wall, n.metrics.Registry), staged: map[*generation][]*health.Def{}}
	c.failover = &proxy.Failover{
		Budget:  proxy.NewBudget(health.DefaultRetryRatio, health.DefaultRetryMinPerSecond),
		Health:  c.store,
		Metrics: proxy.NewFailoverMetrics(n.metrics.Registry),
	}
	return c
}

// stage binds the named pools no route uses (DNS answers may still ask
// about them), and commits the generation's pools to the store after the
// swap: checkers start at boot, not on the first request.
func (c *healthCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	bound := map[string]bool{}
	for _, d := range c.take(g) {
		bound[d.Name] = true
	}
	for i := range g.cfg.Pools {
		if p := &g.cfg.Pools[i]; !bound[p.Name] {
			if _, err := c.n.buildPool(g, p.Name, &p.PoolSpec); err != nil {
				return nil, nil, err
			}
		}
	}
	defs := c.take(g)
	c.mu.Lock()
	clear(c.staged)
	c.mu.Unlock()
	b := g.cfg.Health.RetryBudget
	return nil, func() {
		c.failover.Budget.Set(*b.Ratio, *b.MinPerSecond)
		c.store.Sync(defs)
	}, nil
}

func (c *healthCap) take(g *generation) []*health.Def {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.staged[g]
}

func (c *healthCap) stop() { c.store.Stop() }

func (n *Node) healthCap() *healthCap {
	for _, c := range n.caps {
		if h, ok := c.(*healthCap); ok {
			return h
		}
	}
	panic("app: no health capability") // programmer error: newCapabilities lists it
}

// bindPool builds a pool whose origins share live state with the health
// store and whose picker is the configured balancing policy.
func (n *Node) bindPool(g *generation, name string, spec *config.PoolSpec, origins []*pool.Origin, rt http.RoundTripper) *pool.Pool {
	c := n.healthCap()
	d := &health.Def{Name: name, Health: spec.Health, SlowStart: spec.SlowStart.D(), Transport: rt}
	c.store.Bind(d, origins)
	c.mu.Lock()
	c.staged[g] = append(c.staged[g], d)
	c.mu.Unlock()
	pl := pool.New(name, origins, rt)
	pl.Picker = pool.NewPicker(&spec.Balance, origins)
	pl.QueueWait = spec.Timeouts.Dial.D()
	return pl
}

// routePolicy compiles a route's retries and fallback.
func routePolicy(rc *config.Route) *proxy.RoutePolicy {
	r := rc.Retries
	p := &proxy.RoutePolicy{Attempts: r.Attempts, PerPool: r.PerPool, PerTry: r.PerTryTimeout.D(),
		OnStatus: r.OnStatus, MaxBody: int64(r.MaxBody), Methods: map[string]bool{}}
	for _, m := range r.Methods {
		p.Methods[m] = true
	}
	if f := rc.Fallback; f != nil && f.Static != "" {
		p.Fallback = &proxy.Fallback{Body: []byte(f.Static), ContentType: f.ContentType,
			RetryAfter: strconv.Itoa(int(f.RetryAfter.D().Seconds()))}
	}
	return p
}

// failover returns the node's retry budget and metrics for the proxy.
func (n *Node) failover() *proxy.Failover { return n.healthCap().failover }

// healthStatus adds per-pool and per-origin health to /status.
func (n *Node) healthStatus(st *Status) {
	if st.Extra == nil {
		st.Extra = map[string]any{}
	}
	st.Extra["health"] = n.healthCap().store.Status()
}

// HealthRound runs one active check round of a pool now and waits for it
// (tests call it instead of sleeping on tickers).
func (n *Node) HealthRound(pool string) { n.healthCap().store.Round(pool) }

// HealthSweep re-evaluates held-back transitions and ejections now.
func (n *Node) HealthSweep() { n.healthCap().store.Sweep() }

// HealthState reports what the health checker knows of one origin of a
// named pool (origin URL exactly as configured): healthy, and whether any
// check has reported yet. DNS answers and the proxy read the same state.
// An origin counts as healthy until a check says otherwise.
func (n *Node) HealthState(pool, originURL string) (healthy, known bool) {
	return n.healthCap().store.State(pool, originURL)
}

var _ proxy.PanicReporter = (*health.Store)(nil)
