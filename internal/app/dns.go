package app

import "levee/internal/pipeline"

// dnsCap is the dns capability's node-level state.
type dnsCap struct{ n *Node }

func newDNS(n *Node) capability { return &dnsCap{n: n} }

func (c *dnsCap) stage(g *generation) (map[string]pipeline.Phase, func(), error) {
	return nil, nil, nil
}

func (c *dnsCap) stop() {}
