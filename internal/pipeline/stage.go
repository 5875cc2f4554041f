package pipeline

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
	"levee/internal/router"
)

// Host is what every capability gets from the node that runs it: logs,
// metrics, the panic wall, the data directory and a channel closed at
// shutdown. A capability keeps it for its node-level state, which outlives
// config generations.
type Host struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	Wall     *guard.Wall
	DataDir  string
	Stopped  <-chan struct{}
}

// Routes is the compiled site and route table of a generation being
// staged. Each route's ID indexes Routes.List, so a phase keeps its
// per-route data in a slice of its own, indexed by Route.ID, and reads it
// on the request path without a map look-up or a type assertion.
type Routes struct {
	Table *router.Table
	List  []*router.Route // by ID
}

// Staged is what one capability adds to a generation being staged.
type Staged struct {
	// Phases are the request phases it adds, by their name in Order.
	Phases map[string]Phase
	// Commit runs after the generation is swapped in (nil: nothing to
	// do). Until then nothing the capability staged may be visible.
	Commit func()
}
