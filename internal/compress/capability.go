package compress

import (
	"levee/internal/pipeline"
)

// Capability is compression's node-level state: its metrics. Encoders are
// pooled per process; the encoded variants of stored responses live in
// the cache (cache.Encoder).
type Capability struct {
	m *Metrics
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
	return pipeline.Staged{Phases: map[string]pipeline.Phase{"compress": compile(cfg, c.m).Phase()}}
}

// Stop has nothing to release.
func (c *Capability) Stop() {}
