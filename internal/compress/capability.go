package compress

import (
	"sync"

	"levee/internal/pipeline"
)

// Capability is compression's node-level state: its metrics and the
// store of encoded bodies, which outlives reloads. Encoders are pooled
// per process.
type Capability struct {
	m     *Metrics
	mu    sync.Mutex
	store *store
}

// NewCapability returns the compress capability of a node.
func NewCapability(h pipeline.Host) *Capability {
	return &Capability{m: NewMetrics(h.Registry)}
}

// Stage builds the compress phase of a generation from its section; off,
// it adds nothing.
func (c *Capability) Stage(cfg *Config) pipeline.Staged {
	if !cfg.Enabled {
		return pipeline.Staged{}
	}
	return pipeline.Staged{Phases: map[string]pipeline.Phase{"compress": compile(cfg, c.m, c.storeFor(cfg)).Phase()}}
}

// storeFor returns the node's store, made the first time and resized by
// later generations; nil when the section turns it off.
func (c *Capability) storeFor(cfg *Config) *store {
	bytes := int64(0)
	if cfg.StoreMemory != nil {
		bytes = int64(*cfg.StoreMemory)
	}
	if bytes <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store == nil {
		c.store = newStore(bytes, c.m.storeHits, c.m.stored)
	} else {
		c.store.resize(bytes)
	}
	return c.store
}

// Stop has nothing to release.
func (c *Capability) Stop() {}
