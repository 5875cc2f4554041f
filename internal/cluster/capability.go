// Package cluster makes several levee nodes act as one edge through a
// shared Redis/Valkey store: membership, purges everywhere and
// cluster-scoped rate limits. The store is an optimisation, never a
// dependency: no request waits on it, and while it is away each node
// serves on its own state.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"levee/internal/cache"
	"levee/internal/pipeline"
)

// Capability is the cluster's node-level state: the connection to the
// store and the loops over it, which outlive generations (a reload that
// keeps the cluster: section keeps them), and the members last seen.
type Capability struct {
	host    pipeline.Host
	version string
	target  Purger
	m       *metrics
	lim     *Limiter
	tier    *tier
	rooms   *roomSync
	certs   *CertStorage
	ro      *rollout
	// validate checks a config pushed through the admin API (set with
	// the applier by the node).
	validate Validator

	mu  sync.Mutex
	run *runner // nil: not in a cluster

	configVersion atomic.Pointer[string]
	members       atomic.Pointer[[]Member]
}

// NewCapability returns the cluster capability of a node; version is the
// binary's, reported to the other members; target is the local cache.
func NewCapability(h pipeline.Host, version string, target Purger) *Capability {
	c := &Capability{host: h, version: version, target: target, m: newMetrics(h.Registry, h.Log)}
	c.lim = newLimiter(c)
	c.tier = newTier(c)
	c.rooms = &roomSync{c: c}
	c.certs = newCertStorage(c)
	c.ro = newRollout(c)
	empty := ""
	c.configVersion.Store(&empty)
	if target != nil {
		target.OnPurge(c.localPurge)
	}
	return c
}

// Stage checks the section (the store's password and CA are read now, so
// a missing file rejects the config) and returns a commit that joins,
// leaves or re-joins the cluster. source is the config's text; its hash
// is the config version the other members see.
func (c *Capability) Stage(cfg *Config, source []byte) (pipeline.Staged, error) {
	want := *cfg
	if want.On() {
		if _, _, err := clientOptions(&want); err != nil {
			return pipeline.Staged{}, err
		}
	}
	sum := sha256.Sum256(source)
	ver := hex.EncodeToString(sum[:6])
	staged := pipeline.Staged{Commit: func() {
		c.configVersion.Store(&ver)
		c.ro.committed(source)
		c.apply(want)
	}}
	if want.On() && want.Advertise != "" {
		staged.Phases = map[string]pipeline.Phase{"tier": c.tier.phase(NodeName(&want))}
	}
	return staged, nil
}

// apply makes want the running cluster config.
func (c *Capability) apply(want Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run != nil && reflect.DeepEqual(c.run.cfg, want) {
		return
	}
	if c.run != nil {
		c.run.stop()
		c.run = nil
	}
	if !want.On() {
		c.m.storeUp.Set(0)
		return
	}
	r, err := c.start(want)
	if err != nil {
		c.host.Log.Error("cluster: cannot start; serving on local state", "err", err)
		return
	}
	c.run = r
	c.ro.start()
}

// NodeName is the node's name in the cluster: the configured one, or the
// host name.
func NodeName(cfg *Config) string {
	if cfg.Node != "" {
		return cfg.Node
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "levee"
	}
	return h
}

// storeID names the store (host and database, no secrets), so a purge
// cursor saved for one store is not applied to another.
func storeID(cfg *Config) string {
	a, _ := parseAddress(cfg)
	if a.kind != "server" {
		return a.id()
	}
	u, err := url.Parse(cfg.Redis)
	if err != nil {
		return cfg.Redis
	}
	return u.Host + u.Path // as saved by earlier versions
}

// runner is one connection to the store and its loops.
type runner struct {
	c      *Capability
	cfg    Config
	name   string
	st     *store
	ps     *purges
	outbox chan cache.Purge
	quit   chan struct{}
	wg     sync.WaitGroup
}

func (c *Capability) start(cfg Config) (*runner, error) {
	st, err := newStore(&cfg)
	if err != nil {
		return nil, err
	}
	name := NodeName(&cfg)
	r := &runner{c: c, cfg: cfg, name: name, st: st, outbox: make(chan cache.Purge, MaxOutbox), quit: make(chan struct{}),
		ps: newPurges(name, c.target, c.m, c.host.DataDir, storeID(&cfg))}
	c.lim.attach(st)
	for _, loop := range []struct {
		name string
		f    func()
	}{{"cluster-heartbeat", r.heartbeatLoop}, {"cluster-purge-sub", r.subscribeLoop}, {"cluster-purge-pub", r.publishLoop}} {
		r.wg.Add(1)
		f := loop.f
		c.host.Wall.Go(loop.name, func() { defer r.wg.Done(); f() })
	}
	return r, nil
}

// stop ends the loops, leaves the member set and saves the purge cursor.
func (r *runner) stop() {
	close(r.quit)
	r.wg.Wait()
	r.c.lim.detach()
	leave(r.st, r.name)
	r.ps.save()
	r.st.close()
}

func (r *runner) me() Member {
	return Member{Name: r.name, Version: r.c.version, ConfigVersion: *r.c.configVersion.Load(), Health: "serving",
		Advertise: strings.TrimSuffix(r.cfg.Advertise, "/")}
}

// heartbeatLoop announces the node and refreshes the member list; when
// the store comes back after an outage it catches up on purges at once.
func (r *runner) heartbeatLoop() {
	t := time.NewTicker(r.cfg.Heartbeat.D())
	defer t.Stop()
	wasUp := false
	for {
		ms, err := heartbeat(r.st, r.me(), r.cfg.MemberTTL.D())
		if err != nil {
			r.c.m.storeErrors.Inc()
			r.c.m.storeUp.Set(0)
			if wasUp {
				r.c.host.Log.Warn("cluster: store unreachable; serving on local state", "err", err)
			}
			wasUp = false
		} else {
			if !wasUp {
				// Before the members are shown: once a node lists
				// itself, its purge cursor is positioned.
				r.ps.catchUp(r.st)
			}
			r.c.members.Store(&ms)
			r.c.m.members.Set(float64(len(ms)))
			r.c.m.storeUp.Set(1)
			r.c.lim.setMembers(len(ms))
			wasUp = true
		}
		r.ps.save()
		select {
		case <-r.quit:
			return
		case <-r.c.host.Stopped:
			return
		case <-t.C:
		}
	}
}

// subscribeLoop applies purges announced on pub/sub and, every second,
// reads the stream for any it missed.
func (r *runner) subscribeLoop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := r.st.rdb.Subscribe(ctx, chanPurges)
	defer sub.Close()
	msgs := sub.Channel()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	r.ps.catchUp(r.st)
	for {
		select {
		case <-r.quit:
			return
		case <-r.c.host.Stopped:
			return
		case msg, ok := <-msgs:
			if !ok {
				return
			}
			r.ps.onMessage(r.st, msg.Payload)
		case <-t.C:
			r.ps.catchUp(r.st)
		}
	}
}

// publishLoop sends local purges in order; one that fails is retried
// until the store takes it or the node stops.
func (r *runner) publishLoop() {
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	for {
		var p cache.Purge
		select {
		case <-r.quit:
			return
		case <-r.c.host.Stopped:
			return
		case p = <-r.outbox:
		}
		for publish(r.st, r.name, r.cfg.PurgeRetention, p) != nil {
			r.c.m.storeErrors.Inc()
			select {
			case <-r.quit:
				return
			case <-r.c.host.Stopped:
				return
			case <-retry.C:
			}
		}
		r.c.m.purgeSent.Inc()
	}
}

// localPurge is the cache's purge observer: it queues the purge for the
// other nodes without waiting on the store.
func (c *Capability) localPurge(p cache.Purge) {
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return
	}
	select {
	case r.outbox <- p:
	default:
		c.m.purgeDropped.Inc()
		c.host.Log.Error("cluster: purge outbox full; this purge reaches only this node", "bound", MaxOutbox)
	}
}

// Status is the cluster part of /status and GET /cluster.
type Status struct {
	Enabled   bool     `json:"enabled"`
	Node      string   `json:"node,omitempty"`
	Store     string   `json:"store,omitempty"` // "up" or "down"
	PurgeSeq  uint64   `json:"purge_seq"`
	Members   []Member `json:"members"`
	Heartbeat string   `json:"heartbeat,omitempty"`
	// Config is this node's cluster config version and the rollout it
	// last read.
	Config *ConfigStatus `json:"config,omitempty"`
}

// Status reports the members last seen and the store's state.
func (c *Capability) Status() Status {
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return Status{Members: []Member{}}
	}
	st := Status{Enabled: true, Node: r.name, Store: "down", PurgeSeq: r.ps.seq(), Heartbeat: r.cfg.Heartbeat.D().String()}
	if r.st.up() {
		st.Store = "up"
	}
	if ms := c.members.Load(); ms != nil {
		st.Members = *ms
	}
	if st.Members == nil {
		st.Members = []Member{}
	}
	st.Config = c.ro.status()
	return st
}

// AdminRoutes are the cluster's admin API routes.
func (c *Capability) AdminRoutes() map[string]http.Handler {
	routes := map[string]http.Handler{"GET /cluster": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(c.Status())
	})}
	for pattern, h := range c.rolloutRoutes() {
		routes[pattern] = h
	}
	return routes
}

// Limiter returns the cluster-scoped rate limiter (the shield calls it).
func (c *Capability) Limiter() *Limiter { return c.lim }

// Stop leaves the cluster.
func (c *Capability) Stop() {
	c.ro.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.target != nil {
		c.target.OnPurge(nil)
	}
	if c.run != nil {
		c.run.stop()
		c.run = nil
	}
}
