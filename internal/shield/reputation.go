package shield

import (
	"sync/atomic"
	"time"
)

// Reputation remembers clients recently served well while the node was
// calm, so that during a surge they keep their priority (a lane ahead of
// newcomers at admission, exempt from generated rules) and the time it
// takes to recognise an attack does not cost them.
//
// It is a fixed array of slots indexed by the client key, each one word
// (tag, first and last good second), read and written with atomics: no
// lock, no allocation, 8 bytes a slot whatever the number of clients. A
// colliding client overwrites a slot: the loser forgets its reputation,
// which only costs it the priority.
type Reputation struct {
	slots [repSlots]atomic.Uint64
	start time.Time
	ttl   atomic.Int64 // seconds a good mark lasts
}

const (
	repSlots = 1 << 15 // 256 KiB
	secBits  = 20      // about 12 days of seconds, compared modulo
	secMask  = 1<<secBits - 1
	tagShift = 2 * secBits
	// repMinAge: a client must have been served well over at least this
	// many distinct seconds, so a flood's first requests, admitted before
	// the origin saturates, earn nothing.
	repMinAge = 1
)

// DefaultReputationTTL is how long a good client keeps its priority.
const DefaultReputationTTL = 10 * time.Minute

func newReputation(start time.Time) *Reputation {
	r := &Reputation{start: start}
	r.ttl.Store(int64(DefaultReputationTTL / time.Second))
	return r
}

func (r *Reputation) sec(now time.Time) uint64 {
	return uint64(now.Sub(r.start)/time.Second) & secMask
}

// Good reports whether the client was served well, while calm, over at
// least repMinAge seconds, the last time within the TTL.
func (r *Reputation) Good(key uint64, now time.Time) bool {
	v := r.slots[key%repSlots].Load()
	if v == 0 || v>>tagShift != key>>tagShift {
		return false
	}
	first, last, cur := v>>secBits&secMask, v&secMask, r.sec(now)
	return (cur-last)&secMask <= uint64(r.ttl.Load()) && (last-first)&secMask >= repMinAge
}

// Record marks a client served well now (the caller checks the node is
// calm). It writes at most once a second per client.
func (r *Reputation) Record(key uint64, now time.Time) {
	s := &r.slots[key%repSlots]
	v, cur := s.Load(), r.sec(now)
	first := cur
	if v != 0 && v>>tagShift == key>>tagShift {
		if v&secMask == cur {
			return
		}
		if (cur-v&secMask)&secMask <= uint64(r.ttl.Load()) {
			first = v >> secBits & secMask
		}
	}
	s.Store(key>>tagShift<<tagShift | first<<secBits | cur)
}
