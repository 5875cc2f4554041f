package cache

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Store is a node's cached objects: a memory tier bounded in bytes with
// W-TinyLFU admission and eviction (levee's pointer-free index, or otter:
// memtier.go), keyed by the 64-bit hash of the cache key with the full key
// kept in the object for collision checks, and an optional disk tier. It
// outlives config generations.
type Store struct {
	mem     memTier
	memIdx  string // the memory tier's name (Options.MemoryIndex)
	disk    *disk  // nil without a disk tier
	m       *Metrics
	log     *slog.Logger
	flights flights
	// memMaxObject is the largest body kept in memory; larger objects
	// live only on disk (or are not stored without a disk tier).
	memMaxObject int64
	purgeSeq     atomic.Uint64
	// memfdMin is MemfdMin (lowered by tests); memfdOff is set when
	// /proc/self/fd cannot be opened, memfdWarn after the first logged
	// memfd failure, mapWarn after the first memfd body left unmapped.
	memfdMin                     int64
	memfdOff, memfdWarn, mapWarn atomic.Bool
	memRefusedWarn               atomic.Bool // the first object the memory tier refused is logged
	goFn                         func(name string, fn func())
	enc                          *encoding // encoded variants (encoded.go); made at first use
	encOnce                      sync.Once
	onPanic                      func(where string, v any)
}

// Options configure a Store.
type Options struct {
	MemoryBytes int64
	// MemoryIndex names the memory tier: "levee" (or "") or "otter".
	MemoryIndex string
	DiskPath    string // "" for no disk tier
	DiskBytes   int64
	Metrics     *Metrics
	Registry    prometheus.Registerer // for the tier gauges; may be nil
	Log         *slog.Logger
	// Go starts a background goroutine behind a panic wall (guard.Wall.Go).
	Go func(name string, fn func())
	// OnPanic records a panic the cache contained (guard.Wall.Record).
	OnPanic func(where string, v any)
}

// maxInflight bounds the fills tracked for coalescing; past it requests
// are not coalesced (counted in levee_cache_overflow_total{what="inflight"}).
const maxInflight = 16384

// NewStore opens a store. With a disk path it loads the disk index
// synchronously, so a restarted node serves its disk tier at once.
func NewStore(o Options) (*Store, error) {
	s := &Store{m: o.Metrics, log: o.Log, memMaxObject: max(o.MemoryBytes/8, 1<<20), goFn: o.Go,
		memfdMin: MemfdMin}
	if s.goFn == nil {
		s.goFn = func(_ string, fn func()) { go fn() }
	}
	s.onPanic = o.OnPanic
	if s.onPanic == nil {
		s.onPanic = func(string, any) {}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.flights.init()
	evictions := s.m.Evictions.WithLabelValues("memory")
	refused := s.m.Overflow.WithLabelValues("memory_record")
	mem, err := newMemTier(o.MemoryIndex, o.MemoryBytes, tierEvents{
		evicted: func(n int) { evictions.Add(float64(n)) },
		refused: func(err error) {
			refused.Inc()
			if s.memRefusedWarn.CompareAndSwap(false, true) {
				s.log.Warn("cache: an object was kept out of the memory tier (logged once)", "error", err.Error())
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.mem, s.memIdx = mem, o.MemoryIndex
	if s.memIdx == "" {
		s.memIdx = MemoryIndexLevee
	}
	if o.DiskPath != "" {
		if s.disk, err = openDisk(o.DiskPath, o.DiskBytes, s.m, s.log); err != nil {
			return nil, err
		}
	}
	if o.Registry != nil {
		s.registerGauges(o.Registry)
	}
	return s, nil
}

func (s *Store) registerGauges(reg prometheus.Registerer) {
	gauge := func(name, help, tier string, f func() float64) {
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help,
			ConstLabels: prometheus.Labels{"tier": tier}}, f))
	}
	gauge("levee_cache_objects", "Objects stored, by tier.", "memory", func() float64 { n, _ := s.mem.stats(); return float64(n) })
	gauge("levee_cache_bytes", "Bytes stored, by tier (memory: weighted size; disk: file bytes).", "memory",
		func() float64 { _, b := s.mem.stats(); return float64(b) })
	if s.disk != nil {
		gauge("levee_cache_objects", "Objects stored, by tier.", "disk", func() float64 { n, _ := s.disk.stats(); return float64(n) })
		gauge("levee_cache_bytes", "Bytes stored, by tier (memory: weighted size; disk: file bytes).", "disk",
			func() float64 { _, b := s.disk.stats(); return float64(b) })
	}
}

// SetMemory resizes the memory tier (on reload).
func (s *Store) SetMemory(bytes int64) {
	s.mem.setMax(bytes)
	s.memMaxObject = max(bytes/8, 1<<20)
}

// MemoryIndex returns the memory tier's name (cache.memory_index).
func (s *Store) MemoryIndex() string { return s.memIdx }

// DiskPath returns the disk tier's directory, or "".
func (s *Store) DiskPath() string {
	if s.disk == nil {
		return ""
	}
	return s.disk.dir
}

// Start starts the store's background work (the disk writer). NewStore
// starts nothing, so staging a config that is never used leaks nothing.
func (s *Store) Start() {
	if s.disk != nil {
		s.disk.start(s.goFn)
	}
}

// Close stops the disk writer after it drains its queue, and empties the
// memory tier so its memfds are closed (requests still streaming one keep
// it open until they finish).
func (s *Store) Close() {
	if s.disk != nil {
		s.disk.close()
	}
	s.mem.clear()
}

// lookup returns the object stored under k, from memory or disk, or nil.
// A disk object whose body is too large for memory comes back with a nil
// Body; serve it with openBody.
func (s *Store) lookup(h uint64, k []byte) *Object {
	if o, ok := s.mem.get(h); ok {
		if o.Key == string(k) {
			return o
		}
		return nil
	}
	if s.disk == nil {
		return nil
	}
	o := s.disk.get(h, s.memMaxObject)
	if o == nil || o.Key != string(k) {
		return nil
	}
	if o.Body != nil || o.Marker {
		o.pack()
		if b := s.toMemfd(o); b != nil {
			defer b.release()
		}
		s.memSet(h, o)
	}
	return o
}

// memSet stores o in the memory tier. An object with a memfd body takes a
// reference for the tier, released by the deletion listener; if the
// memfd is already closed (the object it came from was evicted), o is
// kept out of memory and is left with no body in memory.
func (s *Store) memSet(h uint64, o *Object) {
	if o.mb != nil && !o.mb.acquire() {
		o.mb = nil
		s.mem.remove(h)
		return
	}
	s.mem.set(h, o)
}

// put stores o under h in memory (when small enough) and on disk.
func (s *Store) put(h uint64, o *Object) {
	o.pack()
	if o.Size <= s.memMaxObject {
		if b := s.toMemfd(o); b != nil {
			defer b.release() // after the tier and the disk queue took theirs
		}
		s.memSet(h, o)
	} else {
		s.mem.remove(h)
	}
	if s.disk != nil && !o.HitForMiss {
		s.disk.put(h, o)
	}
}

// putMarker stores a hit-for-miss marker in memory only.
func (s *Store) putMarker(h uint64, o *Object) {
	o.pack()
	s.mem.set(h, o)
}

// remove deletes h from both tiers.
func (s *Store) remove(h uint64) {
	s.mem.remove(h)
	if s.disk != nil {
		s.disk.remove(h)
	}
}
