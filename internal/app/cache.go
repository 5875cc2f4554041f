package app

import (
	"encoding/json"
	"net/http"
	"sync"

	"levee/internal/cache"
	"levee/internal/config"
	"levee/internal/pipeline"
)

// cacheCap is the cache capability's node-level state: the Store outlives
// generations, so a reload that changes cache rules keeps what is stored.
type cacheCap struct {
	n       *Node
	metrics *cache.Metrics
	mu      sync.Mutex
	store   *cache.Store // created by the first generation that caches
}

func newCache(n *Node) capability {
	c := &cacheCap{n: n, metrics: cache.NewMetrics(n.metrics.Registry)}
	n.adminExtra["POST /purge"] = http.HandlerFunc(c.purge)
	return c
}

func (c *cacheCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	cfg := g.cfg
	if !cachingRoutes(cfg) {
		return nil, nil, nil
	}
	st, err := c.storeFor(&cfg.Cache)
	if err != nil {
		return nil, nil, err
	}
	ph := cache.New(st, cache.Settings{LockTimeout: cfg.Cache.LockTimeout.D(),
		HitForMiss: cfg.Cache.HitForMiss.D(), FillTimeout: cfg.Cache.FillTimeout.D()})
	for i := range cfg.Sites {
		sc := &cfg.Sites[i]
		site := g.table.Site(sc.Hosts[0])
		if site == nil || site.Name != sc.Name {
			continue
		}
		for _, rt := range site.Routes {
			rc := sc.Routes[rt.Index].Cache
			if rc.On() {
				ru := cache.Compile(rc, int64(cfg.Cache.MaxObjectSize))
				ph.Bind(ru, site.Name)
				rt.Extra[cache.ExtraKey] = ru
			}
		}
	}
	return map[string]pipeline.Phase{"cache": ph.Phase()}, st.Start, nil
}

// storeFor returns the node's store, opening it the first time. Later
// generations resize the memory tier; a changed disk path needs a restart.
func (c *cacheCap) storeFor(cc *cache.Config) (*cache.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		c.store.SetMemory(int64(cc.Memory))
		if c.store.DiskPath() != cc.Disk.Path {
			c.n.log.Warn("cache: disk.path changed; it takes effect at the next restart", "running", c.store.DiskPath(), "configured", cc.Disk.Path)
		}
		return c.store, nil
	}
	st, err := cache.NewStore(cache.Options{MemoryBytes: int64(cc.Memory), DiskPath: cc.Disk.Path,
		DiskBytes: int64(cc.Disk.MaxSize), Metrics: c.metrics, Registry: c.n.metrics.Registry, Log: c.n.log,
		Go: c.n.wall.Go, OnPanic: func(where string, v any) { c.n.wall.Record(where, v) }})
	if err != nil {
		return nil, err
	}
	c.store = st
	return st, nil
}

func cachingRoutes(cfg *config.Config) bool {
	for _, s := range cfg.Sites {
		for _, r := range s.Routes {
			if r.Cache.On() {
				return true
			}
		}
	}
	return false
}

// purge is POST /purge: a JSON cache.Purge body; answers {"purged": n}.
func (c *cacheCap) purge(w http.ResponseWriter, r *http.Request) {
	var p cache.Purge
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	w.Header().Set("Content-Type", "application/json")
	if err := dec.Decode(&p); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "bad purge request: " + err.Error()})
		return
	}
	c.mu.Lock()
	st := c.store
	c.mu.Unlock()
	n := 0
	if st != nil {
		var err error
		if n, err = st.Purge(p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error()})
			return
		}
	} else if _, err := (&p).Validate(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"purged": n, "soft": p.Soft})
}

func (c *cacheCap) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		c.store.Close()
	}
}
