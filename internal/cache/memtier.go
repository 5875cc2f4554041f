package cache

import (
	"fmt"

	"github.com/maypok86/otter/v2"
)

// memTier is the Store's memory tier, keyed by the 64-bit key hash: levee's
// pointer-free index (leveetier.go, the default) or otter's cache of
// *Object (cache.memory_index: otter). Either one owns the memfd
// reference of an object it stores (released when the object leaves it)
// and reports its evictions for space, and the objects it could not keep,
// through the tierEvents it was made with.
type memTier interface {
	// get returns h's object and records the access.
	get(h uint64) (*Object, bool)
	// contains reports whether h is stored, without recording an access.
	contains(h uint64) bool
	// set stores packed o under h, replacing what h named; it takes
	// over one reference of o.mb, if any.
	set(h uint64, o *Object)
	remove(h uint64)
	// markStale makes h's object o (as each gave it) stale from at on.
	markStale(h uint64, o *Object, at int64)
	// each calls fn for every object stored, at least with its URL,
	// Tags, Marker, HitForMiss and whether its body is in memory; fn may
	// call the tier's other methods.
	each(fn func(h uint64, o *Object))
	setMax(bytes int64)
	stats() (objects int, bytes int64)
	// clear removes every object (at Close).
	clear()
}

// Memory index names, the values of cache.memory_index.
const (
	MemoryIndexLevee = "levee"
	MemoryIndexOtter = "otter"
)

// tierEvents is what a memory tier reports: evicted is called with the
// number of objects evicted for space, refused with the error that kept
// an object out (too large for the index's records, or no memory for a
// slab).
type tierEvents struct {
	evicted func(n int)
	refused func(err error)
}

// newMemTier makes the memory tier named by index ("" for the default).
func newMemTier(index string, maxBytes int64, ev tierEvents) (memTier, error) {
	switch index {
	case "", MemoryIndexLevee:
		return newLeveeTier(maxBytes, ev), nil
	case MemoryIndexOtter:
		return newOtterTier(maxBytes, ev.evicted)
	}
	return nil, fmt.Errorf("cache: unknown memory index %q: want %s or %s", index, MemoryIndexLevee, MemoryIndexOtter)
}

// otterTier is the memory tier as otter's W-TinyLFU cache of *Object:
// every object costs the garbage collector its node, its Object and what
// they point to (about 370 bytes and 196 ms of full GC per 2 million
// objects, BenchmarkMemoryIndex2M).
type otterTier struct {
	c *otter.Cache[uint64, *Object]
}

func newOtterTier(maxBytes int64, evicted func(n int)) (*otterTier, error) {
	c, err := otter.New(&otter.Options[uint64, *Object]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       func(_ uint64, v *Object) uint32 { return v.weight() },
		Executor:      func(fn func()) { fn() },
		OnDeletion: func(e otter.DeletionEvent[uint64, *Object]) {
			if e.Cause == otter.CauseOverflow {
				evicted(1)
			}
			if e.Value.mb != nil {
				e.Value.mb.release() // the tier's reference (see Store.memSet)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &otterTier{c: c}, nil
}

func (t *otterTier) get(h uint64) (*Object, bool) { return t.c.GetIfPresent(h) }

func (t *otterTier) contains(h uint64) bool { _, ok := t.c.GetEntryQuietly(h); return ok }

func (t *otterTier) set(h uint64, o *Object) { t.c.Set(h, o) }

func (t *otterTier) remove(h uint64) { t.c.Invalidate(h) }

// markStale marks the stored object itself: otter holds o.
func (t *otterTier) markStale(_ uint64, o *Object, at int64) { o.invalidAt.Store(at) }

func (t *otterTier) each(fn func(h uint64, o *Object)) {
	for h, o := range t.c.All() {
		fn(h, o)
	}
}

func (t *otterTier) setMax(bytes int64) { t.c.SetMaximum(uint64(bytes)) }

func (t *otterTier) stats() (int, int64) { return t.c.EstimatedSize(), int64(t.c.WeightedSize()) }

func (t *otterTier) clear() { t.c.InvalidateAll() }
