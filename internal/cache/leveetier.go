package cache

// leveeTier is the memory tier as levee's pointer-free index (memindex.go):
// each object is a record in off-heap slabs, so the garbage collector sees
// a few large pointer-free slices whatever the number of objects. Beside
// the index, guarded by its lock, it keeps what a record cannot hold:
//
//   - side: the bodies kept outside records, by hash: a memfd body (a
//     pointer to its *memBody, whose reference the tier owns) or a heap
//     body too large for a slab class (when memfds are off). At most
//     cache.memory / MemfdMin of them are memfds; every side body is
//     weighed in the index's bound.
//   - front: a direct-mapped array of decoded objects, so a hit on a hot
//     object costs no decode (about five allocations, and a copy of the
//     record and of its body). The heap bodies its objects hold besides
//     the slabs' copies are at most frontMaxBytes in all: past that an
//     object is served decoded but not kept (memfd bodies and side heap
//     bodies are shared, not copied, and cost nothing there).
//
// The front never serves a replaced or purged object: every change of a
// hash (set, remove, eviction, soft purge) clears its slot and moves the
// slot's sequence on, and an object decoded outside the lock is put in its
// slot only if the sequence has not moved since the record was read. The
// interleaving it prevents:
//  1. a hit reads h's record and unlocks to decode it;
//  2. a purge removes h (or a fill replaces it);
//  3. the hit puts its decoded object in h's slot, and every later hit
//     would serve it.
//
// With the sequence, step 3 sees step 2's change and keeps the slot empty.
type leveeTier struct {
	x     *memIndex
	side  map[uint64]sideBody
	front [frontSlots]frontSlot
	// frontBytes is the sum of the front slots' costs.
	frontBytes int64
	ev         tierEvents
}

// sideBody is a body kept beside a record: exactly one field is set.
type sideBody struct {
	mb   *memBody
	heap []byte
}

// shares reports whether body is sb's heap body.
func (sb sideBody) shares(body []byte) bool {
	return len(sb.heap) > 0 && len(body) == len(sb.heap) && &body[0] == &sb.heap[0]
}

// frontSlot is one decoded object; seq moves on at every change of the
// hashes that map to the slot.
type frontSlot struct {
	h    uint64
	o    *Object
	seq  uint64
	cost int64 // o's heap body bytes that copy the slab's
}

const (
	frontSlots    = 1024
	frontMaxBytes = 16 << 20
)

func newLeveeTier(maxBytes int64, ev tierEvents) *leveeTier {
	t := &leveeTier{x: newMemIndex(maxBytes, 1024), side: map[uint64]sideBody{}, ev: ev}
	t.x.onDrop = t.dropped
	return t
}

// dropped releases what h had beside its record; the index is locked.
func (t *leveeTier) dropped(h uint64) {
	t.forget(h)
	if sb, ok := t.side[h]; ok {
		delete(t.side, h)
		if sb.mb != nil {
			sb.mb.release() // the tier's reference (see Store.memSet)
		}
	}
}

// forget clears h's front slot and moves its sequence on; the index is
// locked.
func (t *leveeTier) forget(h uint64) {
	f := &t.front[h&(frontSlots-1)]
	f.seq++
	if f.h == h && f.o != nil {
		t.frontBytes -= f.cost
		f.o, f.cost = nil, 0
	}
}

// putFront keeps o in h's front slot if the front's bytes allow it; the
// index is locked.
func (t *leveeTier) putFront(h uint64, o *Object) {
	f := &t.front[h&(frontSlots-1)]
	var cost int64
	if o.mb == nil && !t.side[h].shares(o.Body) {
		cost = int64(len(o.Body))
	}
	total := t.frontBytes + cost
	if f.o != nil {
		total -= f.cost
	}
	if total > frontMaxBytes {
		return
	}
	t.frontBytes = total
	f.h, f.o, f.cost = h, o, cost
}

func (t *leveeTier) get(h uint64) (*Object, bool) {
	o, rd, ok := t.read(h)
	if o != nil || !ok {
		return o, ok
	}
	if o = rd.decode(); o == nil {
		return nil, false
	}
	t.install(h, o, rd.seq)
	return o, true
}

// recordRead is a record read under the lock, to decode outside it.
type recordRead struct {
	rec string
	sb  sideBody
	seq uint64 // the front slot's sequence when rec was read
}

// read records an access to h and returns its front object, or its
// record to decode; ok is false when h is not stored.
func (t *leveeTier) read(h uint64) (*Object, recordRead, bool) {
	x := t.x
	f := &t.front[h&(frontSlots-1)]
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sketch.add(h)
	i := x.find(h)
	if i < 0 {
		return nil, recordRead{}, false
	}
	x.touch(i)
	if f.o != nil && f.h == h {
		return f.o, recordRead{}, true
	}
	return nil, recordRead{rec: string(x.slabs.bytes(x.ents[i].ref)), sb: t.side[h], seq: f.seq}, true
}

// decode rebuilds the object, or nil when the record is corrupt or its
// side body is missing.
func (rd *recordRead) decode() *Object {
	o, side, err := decodeRecordString(rd.rec)
	if err != nil {
		return nil
	}
	if side {
		if rd.sb.mb == nil && rd.sb.heap == nil {
			return nil
		}
		o.mb, o.Body = rd.sb.mb, rd.sb.heap
	}
	return o
}

// install puts decoded o in h's front slot unless h's slot changed since
// its record was read (seq).
func (t *leveeTier) install(h uint64, o *Object, seq uint64) {
	t.x.mu.Lock()
	if t.front[h&(frontSlots-1)].seq == seq {
		t.putFront(h, o)
	}
	t.x.mu.Unlock()
}

func (t *leveeTier) contains(h uint64) bool {
	t.x.mu.Lock()
	defer t.x.mu.Unlock()
	return t.x.find(h) >= 0
}

// set stores o's record; a memfd body, or a heap body that would make
// the record too large for a slab, is kept beside it. An object that
// cannot be stored (a record over 64 KiB without its body, a body over
// 4 GiB, or no memory for a slab) is left out of the tier and reported.
func (t *leveeTier) set(h uint64, o *Object) {
	sb := sideBody{mb: o.mb}
	rec := appendRecord(nil, o, o.mb != nil)
	if o.mb == nil && len(rec) > maxSlabClass {
		sb.heap = o.Body
		rec = appendRecord(rec[:0], o, true)
	}
	var extra int64
	switch {
	case sb.mb != nil:
		extra = sb.mb.size
	case sb.heap != nil:
		extra = int64(len(sb.heap))
	}
	x := t.x
	x.mu.Lock()
	x.deleteLocked(h)
	if sb.mb != nil || sb.heap != nil {
		t.side[h] = sb
	}
	n, err := x.insertLocked(h, rec, extra)
	switch {
	case err != nil:
		t.dropped(h)
	case x.find(h) >= 0:
		t.putFront(h, o)
	}
	x.mu.Unlock()
	if n > 0 {
		t.ev.evicted(n)
	}
	if err != nil {
		t.ev.refused(err)
	}
}

func (t *leveeTier) remove(h uint64) { t.x.remove(h) }

// markStale rewrites the soft-purge time in h's record and clears its
// front slot, so the next hit decodes the stale mark.
func (t *leveeTier) markStale(h uint64, _ *Object, at int64) {
	x := t.x
	x.mu.Lock()
	defer x.mu.Unlock()
	if i := x.find(h); i >= 0 {
		setRecordInvalidAt(x.slabs.bytes(x.ents[i].ref), at)
		t.forget(h)
	}
}

// each visits the entries in batches, decoding only what a purge matches
// on, and calls fn with the index unlocked: entries set or removed
// meanwhile may be seen or missed, as in a walk of any concurrent map.
func (t *leveeTier) each(fn func(h uint64, o *Object)) {
	const batch = 256
	type visit struct {
		h uint64
		o *Object
	}
	seen := make([]visit, 0, batch)
	x := t.x
	for start := 0; ; start += batch {
		seen = seen[:0]
		x.mu.Lock()
		end := min(start+batch, len(x.ents))
		for i := start; i < end; i++ {
			e := &x.ents[i]
			if e.list == listNone {
				continue
			}
			o := &Object{}
			r, flags := decodeHead(string(x.slabs.bytes(e.ref)), o)
			if r.err != nil {
				continue
			}
			if flags&(recHasBody|recSideBody) != 0 {
				o.Body = []byte{} // what bodyInMemory asks
			}
			seen = append(seen, visit{e.hash, o})
		}
		x.mu.Unlock()
		if start >= end {
			return
		}
		for _, v := range seen {
			fn(v.h, v.o)
		}
	}
}

func (t *leveeTier) setMax(bytes int64) {
	if n := t.x.setMax(bytes); n > 0 {
		t.ev.evicted(n)
	}
}

func (t *leveeTier) stats() (int, int64) { return t.x.stats() }

func (t *leveeTier) clear() { t.x.close() }
