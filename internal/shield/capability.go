package shield

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/pipeline"
)

// Capability is the shield's node-level state: the rate-limit tables,
// admission limits, waiting rooms and connection gate that outlive config
// generations (State), and the hooks the listeners call for every
// connection (Admit, WrapServer).
type Capability struct {
	host      pipeline.Host
	st        *State
	resets    atomic.Int64 // shield.h2_max_resets_per_second in force
	startOnce sync.Once    // background work starts with the first commit
}

// NewCapability loads the waiting-room key and room snapshots from the
// data directory (falling back, loudly, to state for this run only) and
// returns the shield of a node.
func NewCapability(h pipeline.Host) *Capability {
	var notes []string
	_, statErr := os.Stat(filepath.Join(h.DataDir, KeyFile))
	keyFromBefore := h.DataDir != "" && statErr == nil
	key, err := LoadKey(h.DataDir)
	if err != nil {
		notes = append(notes, "cannot load the waiting-room key; using a key for this run only (queue places will not survive a restart): "+err.Error())
		key, _ = LoadKey("")
		keyFromBefore = false
	}
	st := NewState(h.Registry, h.Wall, h.Log, key)
	if err := st.LoadRooms(h.DataDir); err != nil {
		notes = append(notes, "waiting rooms start empty, with their start-up hold: "+err.Error())
	}
	// Passes signed by the key of a previous run are valid now; without a
	// snapshot of that run, the rooms wait for their holders.
	st.roomHold = keyFromBefore && st.snaps == nil
	st.roomNotes = notes
	c := &Capability{host: h, st: st}
	c.resets.Store(DefaultH2MaxResetsPerSecond)
	return c
}

// State returns the node-level shield state (tests, status).
func (c *Capability) State() *State { return c.st }

// AdminRoutes are the shield's admin API routes.
func (c *Capability) AdminRoutes() map[string]http.Handler { return c.st.AdminHandlers() }

// Stage compiles a shield: section. The commit starts the overload sampler
// and room snapshots the first time (not for `levee validate`, which only
// stages) and puts the section in force.
func (c *Capability) Stage(cfg *Config, env Env) (pipeline.Staged, error) {
	resets := int64(cfg.H2MaxResetsPerSecond)
	sites := slices.Clone(env.Sites)
	if !*cfg.Enabled {
		return pipeline.Staged{Commit: func() { c.run(); c.resets.Store(resets); c.st.sites.Store(&sites); c.st.SetEnabled(false) }}, nil
	}
	sh, err := Build(cfg, c.st, env)
	if err != nil {
		return pipeline.Staged{}, err
	}
	staged := pipeline.Staged{Commit: func() { c.run(); c.resets.Store(resets); c.st.sites.Store(&sites); sh.Commit() }}
	if !sh.Idle() {
		staged.Phases = map[string]pipeline.Phase{"shield": sh.Phase()}
	}
	return staged, nil
}

func (c *Capability) run() {
	c.startOnce.Do(func() {
		h, st := c.host, c.st
		h.Wall.Go("shield-overload", func() { st.RunOverload(h.Stopped) })
		h.Wall.Go("shield-rooms", func() { st.RunSnapshots(h.DataDir, 5*time.Second, h.Stopped) })
		h.Wall.Go("shield-room-sync", func() { st.RunRoomSync(h.Stopped) })
	})
}

// Admit applies the connection limits at accept time; nil means the
// connection was refused and closed.
func (c *Capability) Admit(conn net.Conn) net.Conn { return c.st.Gate.Admit(conn) }

// WrapServer puts the HTTP/2 reset guard around a listener's handler and
// returns the ConnContext that feeds it.
func (c *Capability) WrapServer(h http.Handler) (http.Handler, func(context.Context, net.Conn) context.Context) {
	return c.st.Guard(h, func() int { return int(c.resets.Load()) }), c.st.ConnContext
}

// Stop saves the waiting rooms, so queue places survive a restart.
func (c *Capability) Stop() {
	if err := c.st.SaveRooms(c.host.DataDir); err != nil {
		c.host.Log.Warn("shield: cannot save waiting rooms", "err", err)
	}
}
