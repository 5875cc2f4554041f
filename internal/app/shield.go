package app

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"levee/internal/config"
	"levee/internal/config/schema"
	"levee/internal/pipeline"
	"levee/internal/shield"
)

// shieldCap is the shield capability's node-level state: the rate-limit
// tables, admission limits, waiting rooms and connection gate that outlive
// config generations (internal/shield State).
type shieldCap struct {
	n     *Node
	st    *shield.State
	start sync.Once // background work starts with the first generation
}

func newShield(n *Node) capability {
	key, err := shield.LoadKey(n.opts.DataDir)
	if err != nil {
		n.log.Error("shield: cannot load the waiting-room key; using a key for this run only (queue places will not survive a restart)", "err", err)
		key, _ = shield.LoadKey("")
	}
	st := shield.NewState(n.metrics.Registry, n.wall, n.log, key)
	for pattern, h := range st.AdminHandlers() {
		n.adminExtra[pattern] = h
	}
	if err := st.LoadRooms(n.opts.DataDir); err != nil {
		n.log.Error("shield: waiting rooms start empty (with their start-up hold)", "err", err)
	}
	return &shieldCap{n: n, st: st}
}

// run starts the overload sampler and room snapshots once a generation is
// committed (not for `levee validate`, which only stages).
func (c *shieldCap) run() {
	c.start.Do(func() {
		n, st := c.n, c.st
		n.wall.Go("shield-overload", func() { st.RunOverload(n.stopped) })
		n.wall.Go("shield-rooms", func() { st.RunSnapshots(n.opts.DataDir, 5*time.Second, n.stopped) })
	})
}

func (c *shieldCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	cfg := g.cfg
	if !*cfg.Shield.Enabled {
		return nil, func() { c.run(); c.st.SetEnabled(false) }, nil
	}
	trust := &pipeline.Trust{}
	for _, s := range cfg.TrustedProxies {
		if p, err := schema.ParsePrefix(s); err == nil {
			trust.Prefixes = append(trust.Prefixes, p)
		}
	}
	sh, err := shield.Build(&cfg.Shield, c.st, shield.Env{Trust: trust, Pools: firstPools(cfg), ReadHeader: cfg.Timeouts.ReadHeader.D(), ReadBody: cfg.Timeouts.ReadBody.D()})
	if err != nil {
		return nil, nil, err
	}
	commit := func() { c.run(); sh.Commit() }
	if sh.Idle() {
		return nil, commit, nil
	}
	return map[string]pipeline.Phase{"shield": sh.Phase()}, commit, nil
}

func (c *shieldCap) stop() {
	if err := c.st.SaveRooms(c.n.opts.DataDir); err != nil {
		c.n.log.Warn("shield: cannot save waiting rooms", "err", err)
	}
}

// firstPools maps each route's name to the name of the pool it uses first,
// as buildTable names them.
func firstPools(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, s := range cfg.Sites {
		for _, r := range s.Routes {
			switch {
			case len(r.Origins) > 0:
				out[s.Name+r.Path] = s.Name + r.Path
			case len(r.Pools) > 0:
				out[s.Name+r.Path] = r.Pools[0]
			}
		}
	}
	return out
}

// shieldState returns the node's shield state.
func (n *Node) shieldState() *shield.State {
	for _, c := range n.caps {
		if s, ok := c.(*shieldCap); ok {
			return s.st
		}
	}
	return nil
}

// admitConn applies the shield's accept-time connection limits; nil means
// the connection was refused and closed.
func (n *Node) admitConn(c net.Conn) net.Conn {
	if st := n.shieldState(); st != nil {
		return st.Gate.Admit(c)
	}
	return c
}

// shieldHandler wraps a listener's handler with the HTTP/2 reset guard.
func (n *Node) shieldHandler(h http.Handler) (http.Handler, func(context.Context, net.Conn) context.Context) {
	st := n.shieldState()
	if st == nil {
		return h, nil
	}
	limit := func() int {
		if g := n.gen.Load(); g != nil {
			return g.cfg.Shield.H2MaxResetsPerSecond
		}
		return shield.DefaultH2MaxResetsPerSecond
	}
	return st.Guard(h, limit), st.ConnContext
}
