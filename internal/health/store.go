// Package health keeps origin health in a node-level store keyed by origin
// identity (pool name and origin URL as configured), so a reload that keeps
// an origin keeps its state. It runs active HTTP and TCP checks from boot,
// ejects origins whose live traffic fails (passive outlier detection),
// damps flapping, and publishes one membership bit per origin that the
// pickers in internal/pool read without locking.
package health

import (
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/guard"
	"levee/internal/pool"
)

// sweepInterval is how often held-back transitions, ejection ends and slow
// starts are re-evaluated.
const sweepInterval = 200 * time.Millisecond

// Store is the node's health state. It outlives config generations.
type Store struct {
	log  *slog.Logger
	wall *guard.Wall
	m    *metrics
	// now is the clock; tests replace it on their own Store.
	now func() time.Time
	// manual stops Sync from starting checkers: tests run rounds themselves.
	manual bool

	mu    sync.RWMutex
	pools map[string]*poolState

	sweepOnce sync.Once
	stop      chan struct{}
	stopOnce  sync.Once
}

// NewStore returns an empty store registering its metrics on reg.
func NewStore(log *slog.Logger, wall *guard.Wall, reg prometheus.Registerer) *Store {
	return &Store{log: log, wall: wall, m: newMetrics(reg), now: time.Now,
		pools: map[string]*poolState{}, stop: make(chan struct{})}
}

// poolState is one pool's health settings and members.
type poolState struct {
	name      string
	set       atomic.Pointer[settings] // read lock-free by entries
	ejectMu   sync.Mutex               // serialises passive ejection decisions
	entries   map[string]*entry        // guarded by Store.mu
	synced    bool                     // committed at least once
	checker   *checker
	checkKey  string
	panicking bool // guarded by Store.mu
}

// settings are a pool's committed health settings.
type settings struct {
	cfg       *PoolConfig // nil: no active or passive checks
	slowStart time.Duration
	rt        http.RoundTripper
}

func newSettings(d *Def) *settings {
	return &settings{cfg: d.Health, slowStart: d.SlowStart, rt: d.Transport}
}

// Def is what a staged generation needs of one pool; Sync commits it.
type Def struct {
	Name      string
	Health    *PoolConfig
	SlowStart time.Duration
	Transport http.RoundTripper
	IDs       []string
}

// Bind attaches live state to the origins of a pool being staged: each
// origin gets the State and Reporter kept under its identity, created on
// first sight. Settings of an already committed pool change only at Sync.
func (s *Store) Bind(d *Def, origins []*pool.Origin) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pools[d.Name]
	if ps == nil {
		ps = &poolState{name: d.Name, entries: map[string]*entry{}}
		ps.set.Store(newSettings(d))
		s.pools[d.Name] = ps
	}
	for _, o := range origins {
		e := ps.entries[o.ID]
		if e == nil {
			e = newEntry(s, ps, o.ID, o.URL.Scheme, o.Host)
			e.rampOnSync = ps.synced
			ps.entries[o.ID] = e
		}
		o.State = e.st
		o.Report = e
		d.IDs = append(d.IDs, o.ID)
	}
}

// Sync commits the pools of the generation just swapped in: settings are
// updated, checkers started or restarted when their settings changed, and
// pools and origins no longer configured are forgotten.
func (s *Store) Sync(defs []*Def) {
	s.sweepOnce.Do(func() { s.wall.Go("health-sweep", s.sweepLoop) })
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]*Def{}
	for _, d := range defs {
		keep[d.Name] = d
	}
	for name, ps := range s.pools {
		d, ok := keep[name]
		if !ok {
			ps.stopChecker()
			for id := range ps.entries {
				s.m.forget(name, id)
			}
			delete(s.pools, name)
			continue
		}
		s.syncPool(ps, d)
	}
}

func (s *Store) syncPool(ps *poolState, d *Def) {
	ps.set.Store(newSettings(d))
	ps.synced = true
	set := ps.set.Load()
	want := map[string]bool{}
	now := s.now()
	for _, id := range d.IDs {
		want[id] = true
		if e := ps.entries[id]; e != nil && e.rampOnSync {
			e.rampOnSync = false
			e.st.StartRamp(now.UnixNano(), set.slowStart)
		}
	}
	for id := range ps.entries {
		if !want[id] {
			s.m.forget(ps.name, id)
			delete(ps.entries, id)
		}
	}
	key := checkKey(set.cfg)
	if key != ps.checkKey {
		ps.stopChecker()
		ps.checkKey = key
		if key != "" && !s.manual {
			ps.checker = s.startChecker(ps, set.cfg.Active.Interval.D())
		}
	}
	for _, e := range ps.entries {
		e.publishMetric()
	}
}

func (ps *poolState) stopChecker() {
	if ps.checker != nil {
		ps.checker.halt()
		ps.checker = nil
	}
}

// Stop ends every checker and the sweeper (at shutdown).
func (s *Store) Stop() {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ps := range s.pools {
			ps.stopChecker()
		}
	})
}

// State reports what the store knows of one origin of a pool: healthy
// (its published membership) and whether any check has reported on it.
// An origin the store has never seen is healthy and unknown.
func (s *Store) State(poolName, originID string) (healthy, known bool) {
	s.mu.RLock()
	ps := s.pools[poolName]
	var e *entry
	if ps != nil {
		e = ps.entries[originID]
	}
	s.mu.RUnlock()
	if e == nil {
		return true, false
	}
	return e.st.Up(), e.isKnown()
}

// Panic records that a request found no usable origin in any pool of its
// route and is trying pool anyway. The first one logs; the sweeper logs
// the end once the pool has a usable origin again.
func (s *Store) Panic(poolName string) {
	s.m.panics.WithLabelValues(poolName).Inc()
	s.mu.Lock()
	ps := s.pools[poolName]
	first := ps != nil && !ps.panicking
	if first {
		ps.panicking = true
	}
	s.mu.Unlock()
	if first {
		s.log.Warn("health: panic mode: no usable origin in any pool of a route; trying origins that look down", "pool", poolName)
	}
}

// snapshotPools returns the pools sorted by name with their entries sorted
// by ID, for the sweeper and /status.
func (s *Store) snapshotPools() []poolView {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]poolView, 0, len(s.pools))
	for _, ps := range s.pools {
		v := poolView{ps: ps, entries: make([]*entry, 0, len(ps.entries))}
		for _, e := range ps.entries {
			v.entries = append(v.entries, e)
		}
		sort.Slice(v.entries, func(i, j int) bool { return v.entries[i].id < v.entries[j].id })
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ps.name < out[j].ps.name })
	return out
}

type poolView struct {
	ps      *poolState
	entries []*entry
}
