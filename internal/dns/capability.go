package dns

import (
	"levee/internal/config/schema"
	"levee/internal/pipeline"
)

// Capability is the node's DNS server, kept across reloads. A config's
// zones are built (parsed, bounded, keys loaded) when the generation is
// staged, so a bad zone rejects the whole config and the old zones keep
// answering; the commit swaps them in.
type Capability struct {
	srv *Server
}

// NewCapability returns the DNS capability of a node; health answers
// which origins of a steered pool are up.
func NewCapability(h pipeline.Host, health Health) *Capability {
	return &Capability{srv: New(Options{Log: h.Log, Wall: h.Wall, Health: health, Registry: h.Registry})}
}

// Server returns the DNS server (tests, status).
func (c *Capability) Server() *Server { return c.srv }

// Stage builds the zones of a dns: section; pools are the config's named
// pools, which steered names answer from.
func (c *Capability) Stage(cfg *Config, pools schema.Pools) (pipeline.Staged, error) {
	zs, err := Build(cfg, pools)
	if err != nil {
		return pipeline.Staged{}, err
	}
	return pipeline.Staged{Commit: func() { c.srv.Apply(cfg, zs) }}, nil
}

// Stop closes the DNS listeners.
func (c *Capability) Stop() { c.srv.Stop() }
