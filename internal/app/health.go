package app

import "levee/internal/pipeline"

// healthCap is the health capability's node-level state.
type healthCap struct{ n *Node }

func newHealth(n *Node) capability { return &healthCap{n: n} }

func (c *healthCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	return nil, nil, nil
}

func (c *healthCap) stop() {}
