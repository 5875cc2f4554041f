package shield

import "sync"

// Admission lanes, served in this order: keep requests first (they may use
// the whole limit), then clients with a good reputation, then everyone
// else. Within a lane, clients take turns.
const (
	laneKeep = iota
	laneReputable
	laneOther
	numLanes
)

// waiter is one request waiting for an admission slot.
type waiter struct {
	key     uint64 // client key
	lane    int
	granted bool          // set under the limiter's queue lock
	ch      chan struct{} // receives once when granted
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// keyQueue is one client's waiters, oldest first.
type keyQueue struct {
	key  uint64
	ws   []*waiter
	dead bool // emptied: its ring entry is stale
}

// fairQueue holds the waiters of one lane and hands them out round robin
// by client key (deficit round robin with every request costing one
// quantum): a client with one waiting request is served after at most one
// request of every other waiting client, however many the others queued.
// Its size is bounded by the limiter (max_queue in all, max per client),
// and its map and ring never hold more than a small multiple of the
// waiters.
type fairQueue struct {
	keys map[uint64]*keyQueue
	ring []*keyQueue // turn order; may hold dead entries, compacted
	head int
	n    int // waiters
}

func (f *fairQueue) perKey(key uint64) int {
	if kq := f.keys[key]; kq != nil {
		return len(kq.ws)
	}
	return 0
}

func (f *fairQueue) push(w *waiter) {
	if f.keys == nil {
		f.keys = map[uint64]*keyQueue{}
	}
	kq := f.keys[w.key]
	if kq == nil {
		kq = &keyQueue{key: w.key}
		f.keys[w.key] = kq
		f.ring = append(f.ring, kq)
	}
	kq.ws = append(kq.ws, w)
	f.n++
	f.compact()
}

// pop returns the next client's oldest waiter, or nil.
func (f *fairQueue) pop() *waiter {
	for f.head < len(f.ring) {
		kq := f.ring[f.head]
		f.ring[f.head] = nil
		f.head++
		if kq.dead || len(kq.ws) == 0 {
			continue
		}
		w := kq.ws[0]
		kq.ws[0] = nil
		kq.ws = kq.ws[1:]
		f.n--
		if len(kq.ws) == 0 {
			f.drop(kq)
		} else {
			f.ring = append(f.ring, kq)
		}
		f.compact()
		return w
	}
	return nil
}

// remove takes w out (its wait ran out); it reports whether w was queued.
func (f *fairQueue) remove(w *waiter) bool {
	kq := f.keys[w.key]
	if kq == nil {
		return false
	}
	for i, x := range kq.ws {
		if x == w {
			copy(kq.ws[i:], kq.ws[i+1:])
			kq.ws[len(kq.ws)-1] = nil
			kq.ws = kq.ws[:len(kq.ws)-1]
			f.n--
			if len(kq.ws) == 0 {
				f.drop(kq)
			}
			return true
		}
	}
	return false
}

func (f *fairQueue) drop(kq *keyQueue) {
	kq.dead = true
	delete(f.keys, kq.key)
}

// compact drops consumed and dead ring entries once they outnumber the
// live ones, so the ring stays within a small multiple of the waiters.
func (f *fairQueue) compact() {
	if len(f.ring) < 64 || len(f.ring) < 2*(len(f.keys)+1) {
		return
	}
	live := f.ring[:0]
	for _, kq := range f.ring[f.head:] {
		if kq != nil && !kq.dead {
			live = append(live, kq)
		}
	}
	clear(f.ring[len(live):])
	f.ring, f.head = live, 0
}
