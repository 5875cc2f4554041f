package app

import "levee/internal/pipeline"

// cacheCap is the cache capability's node-level state.
type cacheCap struct{ n *Node }

func newCache(n *Node) capability { return &cacheCap{n: n} }

func (c *cacheCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	return nil, nil, nil
}

func (c *cacheCap) stop() {}
