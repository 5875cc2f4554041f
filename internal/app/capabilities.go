package app

import "levee/internal/pipeline"

// capability is one optional part of the node built on the edge (cache,
// health, shield, DNS). Its node-level state outlives generations; stage
// builds what one generation needs without serving, and the returned commit
// runs only after the generation is swapped in.
type capability interface {
	// stage returns the phases (by pipeline.Order name) this capability
	// adds to g's chain, and a commit to run after the swap (may be nil).
	stage(g *generation) (phases map[string]pipeline.Phase, commit func(), err error)
	// stop releases the capability's resources at shutdown.
	stop()
}

// newCapabilities lists the node's capabilities; each lives in its own file.
func newCapabilities(n *Node) []capability {
	return []capability{newHealth(n), newCache(n), newShield(n), newDNS(n)}
}
