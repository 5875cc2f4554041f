package app

import "levee/internal/pipeline"

// shieldCap is the shield capability's node-level state.
type shieldCap struct{ n *Node }

func newShield(n *Node) capability { return &shieldCap{n: n} }

func (c *shieldCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	return nil, nil, nil
}

func (c *shieldCap) stop() {}
