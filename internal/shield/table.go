package shield

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/prometheus/client_golang/prometheus"
)

// numShards splits a table so that concurrent requests rarely share a lock.
const numShards = 64

// evictSample is how many entries an insert into a full shard looks at to
// choose the one to evict: the one whose bucket is emptiest (lowest TAT).
const evictSample = 8

// Table is a bounded, sharded GCRA state table: key hash -> theoretical
// arrival time (TAT) in nanoseconds. It never holds more than its bound:
// an insert into a full shard evicts the sampled entry with the lowest TAT
// (an expired one costs nothing; a live one is counted in Evictions, since
// forgetting it lets that key start over with a full burst).
type Table struct {
	perShard  int
	evictions atomic.Uint64
	evictCtr  prometheus.Counter // may be nil
	shards    [numShards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[uint64]int64
	_  cpu.CacheLinePad // keep hot shards' locks on separate cache lines
}

// NewTable returns a table bounded to about maxKeys entries (rounded up to
// a multiple of the shard count). evictions, if not nil, counts evictions
// of live entries.
func NewTable(maxKeys int, evictions prometheus.Counter) *Table {
	per := max(1, (maxKeys+numShards-1)/numShards)
	t := &Table{perShard: per, evictCtr: evictions}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]int64, min(per, 1024))
	}
	return t
}

// Cap returns the table's bound.
func (t *Table) Cap() int { return t.perShard * numShards }

// Len returns the number of entries held.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Evictions returns how many live entries were evicted to stay in bound.
func (t *Table) Evictions() uint64 { return t.evictions.Load() }

// Allow applies GCRA for key at time now (ns): interval is the emission
// interval (ns per request) and tau the burst tolerance (interval*burst).
// It returns whether the request conforms and, if not, the wait in ns.
func (t *Table) Allow(key uint64, now, interval, tau int64) (bool, int64) {
	s := &t.shards[key%numShards]
	s.mu.Lock()
	tat, ok := s.m[key]
	if !ok && len(s.m) >= t.perShard {
		t.evict(s, now)
	}
	if tat < now {
		tat = now
	}
	next := tat + interval
	if allowAt := next - tau; now < allowAt {
		s.mu.Unlock()
		return false, allowAt - now
	}
	s.m[key] = next
	s.mu.Unlock()
	return true, 0
}

// evict removes one entry of a full shard; s.mu is held. Go randomises
// where a map range starts, so the sample is random.
func (t *Table) evict(s *shard, now int64) {
	var victim uint64
	best := int64(1<<63 - 1)
	i := 0
	for k, v := range s.m {
		if v < best {
			victim, best = k, v
		}
		if i++; i == evictSample || v <= now {
			break
		}
	}
	delete(s.m, victim)
	if best <= now {
		return
	}
	t.evictions.Add(1)
	if t.evictCtr != nil {
		t.evictCtr.Inc()
	}
}
