package cache

import (
	"errors"
	"math"
	"math/bits"
	"sync"

	"golang.org/x/sys/unix"
)

// memIndex is a pointer-free memory tier: fixed-size entries keyed by the
// 64-bit key hash, each naming a record (the encoded object: its full key,
// fields and small body) in slabs mapped outside the Go heap. The garbage
// collector sees a few large pointer-free slices whatever the number of
// objects, where otter's nodes and the Objects they point to cost it every
// object. Admission and eviction are W-TinyLFU, as in otter and Caffeine:
// a window LRU of 1 % of the bytes in front of a segmented LRU
// (probation, protected), and a 4-bit count-min sketch deciding whether a
// window's victim may displace the main space's.
//
// A hash names one record: a second key with the same hash replaces the
// first, and readers compare the full key in the record (as the otter tier
// does with Object.Key).
type memIndex struct {
	mu      sync.Mutex
	slots   []int32 // open addressing by hash: entry index + 1; 0 empty
	ents    []memEntry
	free    int32 // first free entry (linked by next), -1 none
	lists   [3]memList
	sketch  sketch
	slabs   slabs
	max     int64 // bytes
	used    int64
	count   int
	evicted int64
	// onDrop, when set, is called with the index locked for every entry
	// that leaves (evicted, replaced, removed, cleared), so a tier can
	// release what it keeps beside the record (leveetier.go).
	onDrop func(h uint64)
}

// memEntry is one object: where its record is and its place in a list.
type memEntry struct {
	hash       uint64
	ref        slabRef
	weight     uint32 // record bytes as allocated (its size class)
	prev, next int32
	list       uint8
}

// The three W-TinyLFU lists.
const (
	listWindow = iota
	listProbation
	listProtected
	listNone = 255
)

// memList is a doubly linked LRU list of entries: head is the most recent.
type memList struct {
	head, tail int32
	bytes      int64
}

// errRecordTooLarge: records over the largest size class are not kept.
var errRecordTooLarge = errors.New("cache: record over the memory tier's largest slab class")

func newMemIndex(maxBytes int64, expected int) *memIndex {
	x := &memIndex{max: maxBytes, free: -1}
	for i := range x.lists {
		x.lists[i] = memList{head: -1, tail: -1}
	}
	x.slots = make([]int32, max(16, 1<<bits.Len(uint(expected*2))))
	x.sketch.init(expected)
	return x
}

// get appends h's record to dst and records the access; ok is false when
// h is not stored.
func (x *memIndex) get(h uint64, dst []byte) ([]byte, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sketch.add(h)
	i := x.find(h)
	if i < 0 {
		return dst, false
	}
	e := &x.ents[i]
	dst = append(dst, x.slabs.bytes(e.ref)...)
	x.touch(i)
	return dst, true
}

// set stores rec under h (replacing what h named) and evicts by
// W-TinyLFU until the bytes are within the bound. It returns how many
// entries were evicted for space.
func (x *memIndex) set(h uint64, rec []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.deleteLocked(h)
	return x.insertLocked(h, rec, 0)
}

// insertLocked stores rec under h, which must not be stored, weighing
// extra bytes more than its room (a body kept beside the record), and
// evicts until the bytes are within the bound.
func (x *memIndex) insertLocked(h uint64, rec []byte, extra int64) (int, error) {
	if len(rec) > maxSlabClass {
		return 0, errRecordTooLarge
	}
	_, room := slabClass(len(rec))
	if w := int64(room) + extra; extra < 0 || w > math.MaxUint32 {
		return 0, errRecordTooLarge
	}
	ref, w, err := x.slabs.alloc(len(rec))
	if err != nil {
		return 0, err
	}
	copy(x.slabs.bytes(ref), rec)
	i := x.newEntry()
	x.ents[i] = memEntry{hash: h, ref: ref, weight: uint32(int64(w) + extra), prev: -1, next: -1, list: listNone}
	x.insertSlot(h, i)
	x.count++
	x.used += int64(x.ents[i].weight)
	x.push(listWindow, i)
	before := x.evicted
	x.evict(i)
	return int(x.evicted - before), nil
}

// setMax changes the bound, evicting down to it; it returns how many
// entries were evicted.
func (x *memIndex) setMax(maxBytes int64) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.max = maxBytes
	before := x.evicted
	x.evict(-1)
	return int(x.evicted - before)
}

// remove deletes h; it reports whether it was stored.
func (x *memIndex) remove(h uint64) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.deleteLocked(h)
}

// stats returns the objects and bytes stored.
func (x *memIndex) stats() (int, int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.count, x.used
}

// close unmaps the slabs; the index is empty afterwards.
func (x *memIndex) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.onDrop != nil {
		for i := range x.ents {
			if x.ents[i].list != listNone {
				x.onDrop(x.ents[i].hash)
			}
		}
	}
	x.slabs.unmap()
	clear(x.slots)
	x.ents, x.free, x.count, x.used = x.ents[:0], -1, 0, 0
	for i := range x.lists {
		x.lists[i] = memList{head: -1, tail: -1}
	}
}

func (x *memIndex) deleteLocked(h uint64) bool {
	i := x.find(h)
	if i < 0 {
		return false
	}
	x.drop(i)
	return true
}

// drop frees entry i, its slot and its record.
func (x *memIndex) drop(i int32) {
	e := &x.ents[i]
	x.unlink(i)
	x.removeSlot(e.hash)
	x.slabs.release(e.ref)
	if x.onDrop != nil {
		x.onDrop(e.hash)
	}
	x.used -= int64(e.weight)
	x.count--
	e.next, e.list = x.free, listNone
	x.free = i
}

func (x *memIndex) newEntry() int32 {
	if x.free >= 0 {
		i := x.free
		x.free = x.ents[i].next
		return i
	}
	x.ents = append(x.ents, memEntry{})
	return int32(len(x.ents) - 1)
}

// touch records a hit on i: to the front of its list, and from probation
// to protected (demoting protected's LRU past its share).
func (x *memIndex) touch(i int32) {
	l := x.ents[i].list
	x.unlink(i)
	if l == listProbation {
		l = listProtected
	}
	x.push(l, i)
	for x.lists[listProtected].bytes > x.max*80/100 {
		t := x.lists[listProtected].tail
		if t < 0 || t == i {
			break
		}
		x.unlink(t)
		x.push(listProbation, t)
	}
}

// evict moves the window's overflow to probation and, while the tier is
// over its bound, lets each window victim (candidate) duel probation's
// LRU (victim): the less frequent one leaves. keep is the entry just set,
// evicted last.
func (x *memIndex) evict(keep int32) {
	for x.lists[listWindow].bytes > max(x.max/100, 1) {
		t := x.lists[listWindow].tail
		if t == keep && x.lists[listWindow].head == t {
			break
		}
		x.unlink(t)
		x.push(listProbation, t)
	}
	for x.used > x.max {
		victim := x.lists[listProbation].tail
		if victim < 0 {
			victim = x.lists[listProtected].tail
		}
		if victim < 0 {
			victim = x.lists[listWindow].tail
		}
		cand := x.lists[listProbation].head
		if cand >= 0 && cand != victim && x.sketch.estimate(x.ents[cand].hash) > x.sketch.estimate(x.ents[victim].hash) {
			x.drop(victim)
		} else if cand >= 0 && cand != victim {
			x.drop(cand)
		} else {
			x.drop(victim)
		}
		x.evicted++
	}
}

func (x *memIndex) push(l uint8, i int32) {
	e := &x.ents[i]
	ls := &x.lists[l]
	e.list, e.prev, e.next = l, -1, ls.head
	if ls.head >= 0 {
		x.ents[ls.head].prev = i
	} else {
		ls.tail = i
	}
	ls.head = i
	ls.bytes += int64(e.weight)
}

func (x *memIndex) unlink(i int32) {
	e := &x.ents[i]
	if e.list == listNone {
		return
	}
	ls := &x.lists[e.list]
	if e.prev >= 0 {
		x.ents[e.prev].next = e.next
	} else {
		ls.head = e.next
	}
	if e.next >= 0 {
		x.ents[e.next].prev = e.prev
	} else {
		ls.tail = e.prev
	}
	ls.bytes -= int64(e.weight)
	e.list, e.prev, e.next = listNone, -1, -1
}

// find returns h's entry or -1 (linear probing).
func (x *memIndex) find(h uint64) int32 {
	m := uint64(len(x.slots) - 1)
	for p := h & m; ; p = (p + 1) & m {
		s := x.slots[p]
		if s == 0 {
			return -1
		}
		if x.ents[s-1].hash == h {
			return s - 1
		}
	}
}

func (x *memIndex) insertSlot(h uint64, i int32) {
	if (x.count+1)*2 > len(x.slots) {
		x.grow()
	}
	m := uint64(len(x.slots) - 1)
	p := h & m
	for x.slots[p] != 0 {
		p = (p + 1) & m
	}
	x.slots[p] = i + 1
}

// removeSlot deletes h's slot and moves the probe run after it back
// (backward-shift deletion: no tombstones, lookups stay short).
func (x *memIndex) removeSlot(h uint64) {
	m := uint64(len(x.slots) - 1)
	p := h & m
	for x.ents[x.slots[p]-1].hash != h {
		p = (p + 1) & m
	}
	for q := (p + 1) & m; x.slots[q] != 0; q = (q + 1) & m {
		home := x.ents[x.slots[q]-1].hash & m
		// The entry at q may move to p if p lies on its probe path.
		if (q-home)&m >= (q-p)&m {
			x.slots[p] = x.slots[q]
			p = q
		}
	}
	x.slots[p] = 0
}

func (x *memIndex) grow() {
	if len(x.slots) > 4*len(x.sketch.words) {
		// The sketch keeps about four counters per object: widen it with
		// the table (its counts start over, as otter's do when it grows).
		x.sketch.init(len(x.slots))
	}
	old := x.slots
	x.slots = make([]int32, len(old)*2)
	m := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		p := x.ents[s-1].hash & m
		for x.slots[p] != 0 {
			p = (p + 1) & m
		}
		x.slots[p] = s
	}
}

// sketch is a count-min sketch of 4-bit counters (four per key, one in
// each quarter of a 64-bit word), halved every 10 x its width additions
// so old popularity fades (TinyLFU's reset).
type sketch struct {
	words     []uint64
	additions int
	resetAt   int
}

func (s *sketch) init(expected int) {
	n := max(64, 1<<bits.Len(uint(expected)))
	s.words = make([]uint64, n/4)
	s.resetAt = 10 * n
}

func (s *sketch) index(h uint64, i int) (word int, shift uint) {
	hh := (h ^ uint64(i+1)*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
	hh ^= hh >> 31
	return int(hh % uint64(len(s.words))), uint(i)*16 + uint(hh>>60)&12
}

func (s *sketch) add(h uint64) {
	added := false
	for i := range 4 {
		w, sh := s.index(h, i)
		if (s.words[w]>>sh)&15 < 15 {
			s.words[w] += 1 << sh
			added = true
		}
	}
	if added {
		if s.additions++; s.additions >= s.resetAt {
			for i := range s.words {
				s.words[i] = (s.words[i] >> 1) & 0x7777777777777777
			}
			s.additions /= 2
		}
	}
}

func (s *sketch) estimate(h uint64) uint64 {
	m := uint64(15)
	for i := range 4 {
		w, sh := s.index(h, i)
		m = min(m, (s.words[w]>>sh)&15)
	}
	return m
}

// slabs hand out records in size classes from 1 MiB anonymous mappings,
// outside the Go heap; a freed record's room goes on its class's free
// list (a pointer-free slice of references).
type slabs struct {
	maps   [][]byte // each slabSize bytes, from mmap
	free   [numSlabClasses][]slabRef
	next   [numSlabClasses]slabRef // bump pointer in the class's current slab
	mapped int64                   // bytes
}

// slabRef names a record's room: a slab and an offset in it.
type slabRef struct {
	slab, off uint32
	n         uint32 // record length
}

const (
	slabSize       = 1 << 20
	maxSlabClass   = 64 << 10
	numSlabClasses = 48
)

// slabClass returns the class of a record of n bytes and its room: 32-byte
// steps to 512, then four steps per doubling (at most 25 % left unused).
func slabClass(n int) (int, int) {
	if n <= 512 {
		c := max(0, (n-1)/32)
		return c, (c + 1) * 32
	}
	size := 512
	for c := 16; c < numSlabClasses; c++ {
		size += 1 << (bits.Len(uint(size)) - 3)
		if n <= size {
			return c, size
		}
	}
	return -1, 0
}

func (s *slabs) alloc(n int) (slabRef, int, error) {
	c, room := slabClass(n)
	if c < 0 || room > maxSlabClass {
		return slabRef{}, 0, errRecordTooLarge
	}
	if f := s.free[c]; len(f) > 0 {
		r := f[len(f)-1]
		s.free[c] = f[:len(f)-1]
		r.n = uint32(n)
		return r, room, nil
	}
	nx := s.next[c]
	if len(s.maps) == 0 || nx.slab == 0 || int(nx.off)+room > slabSize {
		m, err := unix.Mmap(-1, 0, slabSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
		if err != nil {
			return slabRef{}, 0, err
		}
		s.maps = append(s.maps, m)
		s.mapped += slabSize
		nx = slabRef{slab: uint32(len(s.maps)), off: 0} // slab numbers start at 1
	}
	r := slabRef{slab: nx.slab, off: nx.off, n: uint32(n)}
	nx.off += uint32(room)
	s.next[c] = nx
	return r, room, nil
}

// release frees r's room (its class follows from the record's length).
func (s *slabs) release(r slabRef) {
	c, _ := slabClass(int(r.n))
	s.free[c] = append(s.free[c], r)
}

func (s *slabs) bytes(r slabRef) []byte {
	m := s.maps[r.slab-1]
	return m[r.off : r.off+r.n : r.off+r.n]
}

func (s *slabs) unmap() {
	for _, m := range s.maps {
		_ = unix.Munmap(m)
	}
	*s = slabs{}
}
