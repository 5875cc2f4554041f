// Package app runs a levee node: it loads the config, builds and swaps
// generations, owns the state that outlives a generation (listeners,
// transports, upgraded connections), reloads on signal, API call or file
// change, and drains on shutdown.
package app

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/bots"
	"levee/internal/dns"
	"levee/internal/guard"
	"levee/internal/health"
	"levee/internal/listener"
	"levee/internal/pipeline"
	"levee/internal/proxy"
	"levee/internal/telemetry"
)

// Options configure a node beyond its config file.
type Options struct {
	// ConfigPath is the config file; reloads by signal or watch re-read it.
	ConfigPath string
	// DataDir holds state such as the last-known-good config.
	DataDir string
	// Strict refuses to start on a broken config instead of falling back to
	// the last-known-good one.
	Strict bool
	// Log receives the node's own logs; Access the access log.
	Log    io.Writer
	Access io.Writer
	// ExtraPhases are added to the chain by name (see pipeline.Order). For
	// tests (the "fault" phase) and embedding; never set from config.
	ExtraPhases map[string]pipeline.Phase
	// Version is reported in /status.
	Version string
}

// Node is one running levee node.
type Node struct {
	opts    Options
	log     *slog.Logger
	access  *slog.Logger
	metrics *telemetry.Metrics
	wall    *guard.Wall
	started time.Time

	gen        atomic.Pointer[generation]
	genCounter atomic.Uint64
	onLKG      atomic.Bool
	// configSource is the source of the active config ("start", "SIGHUP",
	// "watch", SourceAdmin, SourceReload, "last-known-good").
	configSource atomic.Value

	reloadMu   sync.Mutex
	listeners  *listener.Set // guarded by reloadMu
	admin      *adminServer  // guarded by reloadMu
	transports *proxy.TransportStore
	upgrades   *proxy.UpgradeSet
	failover   *proxy.Failover // the node's retry budget

	caps *capabilities

	stopOnce sync.Once
	stopped  chan struct{}
}

// New returns a node that serves nothing until Start.
func New(opts Options) *Node {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Access == nil {
		opts.Access = os.Stdout
	}
	m := telemetry.NewMetrics()
	lg := telemetry.NewLogger(opts.Log, "info")
	n := &Node{
		opts:       opts,
		log:        lg,
		access:     telemetry.NewLogger(opts.Access, "info"),
		metrics:    m,
		wall:       guard.New(lg, m.Registry),
		started:    time.Now(),
		transports: proxy.NewTransportStore(),
		upgrades:   proxy.NewUpgradeSet(),
		stopped:    make(chan struct{}),
	}
	budget := proxy.NewBudget(health.DefaultRetryRatio, health.DefaultRetryMinPerSecond)
	n.caps = newCapabilities(pipeline.Host{Log: lg, Registry: m.Registry, Wall: n.wall, DataDir: opts.DataDir, Stopped: n.stopped}, budget, opts.Version)
	n.caps.cluster.SetApplier(n.applyClusterVersion, validateConfig)
	n.failover = &proxy.Failover{Budget: budget, Health: n.caps.health.Store(), Metrics: proxy.NewFailoverMetrics(m.Registry)}
	proxy.RegisterPoolMetrics(m.Registry, n.transports.Counters())
	sh := n.caps.shield
	n.listeners = listener.NewSet(lg, n.wall, n, listener.Hooks{Admit: sh.Admit, Wrap: sh.WrapServer, Hello: bots.JA4,
		Certificate: n.caps.autotls.GetCertificate}, n.stopped)
	n.listeners.RegisterMetrics(m.Registry)
	return n
}

// ServeHTTP hands each request to the current generation. A request keeps
// the generation it started with until it ends, so a swap never disturbs it.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.gen.Load().handler.ServeHTTP(w, r)
}

// Metrics returns the node's metrics (for tests and embedding).
func (n *Node) Metrics() *telemetry.Metrics { return n.metrics }

// Wall returns the node's panic wall.
func (n *Node) Wall() *guard.Wall { return n.wall }

// Generation returns the number of the active generation (0 before Start).
func (n *Node) Generation() uint64 {
	if g := n.gen.Load(); g != nil {
		return g.id
	}
	return 0
}

// Addrs returns the bound address of each listener, keyed by its address as
// configured (which may end in ":0").
func (n *Node) Addrs() map[string]net.Addr {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	return n.listeners.Addrs()
}

// AdminAddr returns the admin listener's bound address, or nil.
func (n *Node) AdminAddr() net.Addr {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	if n.admin == nil {
		return nil
	}
	return n.admin.ln.Addr()
}

// Done is closed when the node has shut down.
func (n *Node) Done() <-chan struct{} { return n.stopped }

// DNS returns the node's DNS server (tests, status).
func (n *Node) DNS() *dns.Server { return n.caps.dns.Server() }

// DNSAddrs returns the bound address of each DNS address, keyed as
// configured.
func (n *Node) DNSAddrs() map[string]net.Addr { return n.caps.dns.Server().Addrs() }

// HealthRound runs one active check round of a pool now and waits for it
// (tests call it instead of sleeping on tickers).
func (n *Node) HealthRound(pool string) { n.caps.health.Store().Round(pool) }

// HealthSweep re-evaluates held-back transitions and ejections now.
func (n *Node) HealthSweep() { n.caps.health.Store().Sweep() }

// HealthState reports what the health checker knows of one origin of a
// named pool (see health.Capability.HealthState).
func (n *Node) HealthState(pool, originURL string) (healthy, known bool) {
	return n.caps.health.HealthState(pool, originURL)
}
