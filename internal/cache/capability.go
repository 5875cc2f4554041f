package cache

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"

	"levee/internal/modswitch"
	"levee/internal/pipeline"
)

// Capability is the cache's node-level state. The Store outlives
// generations, so a reload that changes cache rules keeps what is stored;
// each generation gets its own Cache phase over it.
type Capability struct {
	host    pipeline.Host
	metrics *Metrics
	mod     *modswitch.Module // kill switch and breaker, nil: none
	mu      sync.Mutex
	store   *Store // opened by the first generation that caches
	// observer hears of every purge the admin API applied (OnPurge).
	observer atomic.Pointer[func(Purge)]
}

// NewCapability returns the cache capability of a node.
func NewCapability(h pipeline.Host) *Capability {
	return &Capability{host: h, metrics: NewMetrics(h.Registry)}
}

// UseSwitch puts the cache behind a kill switch and breaker (fail open:
// requests go to the origin uncached while it is off).
func (c *Capability) UseSwitch(m *modswitch.Module) { c.mod = m }

// AdminRoutes are the cache's admin API routes.
func (c *Capability) AdminRoutes() map[string]http.Handler {
	return map[string]http.Handler{"POST /purge": http.HandlerFunc(c.purge)}
}

// Stage builds the cache phase of a generation. rules holds each route's
// cache: block by route ID (nil: the route does not cache). The commit
// starts the store's background work.
func (c *Capability) Stage(cfg *Config, routes pipeline.Routes, rules []*RouteConfig) (pipeline.Staged, error) {
	if !anyOn(rules) {
		return pipeline.Staged{}, nil
	}
	st, err := c.storeFor(cfg)
	if err != nil {
		return pipeline.Staged{}, err
	}
	ph := New(st, Settings{LockTimeout: cfg.LockTimeout.D(), HitForMiss: cfg.HitForMiss.D(), FillTimeout: cfg.FillTimeout.D()})
	ph.mod = c.mod
	for id, rc := range rules {
		if rc.On() {
			ph.Bind(id, Compile(rc, int64(cfg.MaxObjectSize)), routes.List[id].Site.Name)
		}
	}
	return pipeline.Staged{Phases: map[string]pipeline.Phase{"cache": ph.Phase()}, Commit: st.Start}, nil
}

func anyOn(rules []*RouteConfig) bool {
	for _, rc := range rules {
		if rc.On() {
			return true
		}
	}
	return false
}

// storeFor returns the node's store, opening it the first time. Later
// generations resize the memory tier; a changed disk path needs a restart.
func (c *Capability) storeFor(cc *Config) (*Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		c.store.SetMemory(int64(cc.Memory))
		if c.store.DiskPath() != cc.Disk.Path {
			c.host.Log.Warn("cache: disk.path changed; it takes effect at the next restart", "running", c.store.DiskPath(), "configured", cc.Disk.Path)
		}
		if c.store.MemoryIndex() != cc.MemoryIndex {
			c.host.Log.Warn("cache: memory_index changed; it takes effect at the next restart", "running", c.store.MemoryIndex(), "configured", cc.MemoryIndex)
		}
		return c.store, nil
	}
	w := c.host.Wall
	st, err := NewStore(Options{MemoryBytes: int64(cc.Memory), MemoryIndex: cc.MemoryIndex, DiskPath: cc.Disk.Path,
		DiskBytes: int64(cc.Disk.MaxSize), Metrics: c.metrics, Registry: c.host.Registry, Log: c.host.Log,
		Go: w.Go, OnPanic: func(where string, v any) { w.Record(where, v) }})
	if err != nil {
		return nil, err
	}
	c.store = st
	return st, nil
}

// purge is POST /purge: a JSON Purge body; answers {"purged": n}.
func (c *Capability) purge(w http.ResponseWriter, r *http.Request) {
	var p Purge
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	w.Header().Set("Content-Type", "application/json")
	if err := dec.Decode(&p); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad purge request: " + err.Error()})
		return
	}
	c.mu.Lock()
	st := c.store
	c.mu.Unlock()
	n := 0
	var err error
	if st != nil {
		n, err = st.Purge(p)
	} else {
		_, err = (&p).Validate()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	c.notifyPurge(p)
	writeJSON(w, http.StatusOK, map[string]any{"purged": n, "soft": p.Soft})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Stop closes the store.
func (c *Capability) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		c.store.Close()
	}
}
