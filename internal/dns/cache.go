package dns

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// tmpl is a pre-packed response. A query's answer is the template's header
// with the query's ID and RD/CD bits, then the query's own question bytes
// (so its letter case is kept), then the rest of the template. For a
// template keyed by the exact name the question has the same length; a
// generic template (NXDOMAIN, REFUSED) is packed without compression, so its
// rest does not point into a question of another length.
type tmpl struct {
	variants [][]byte
	cum      []uint32           // cumulative weights; nil: variants equally likely
	qlen     int                // length of the question in the variants
	steered  prometheus.Counter // nil unless steered
}

// pick returns the variant for one answer.
func (t *tmpl) pick() []byte {
	switch {
	case len(t.variants) == 1:
		return t.variants[0]
	case t.cum != nil:
		r := rand.Uint32N(t.cum[len(t.cum)-1])
		for i, c := range t.cum {
			if r < c {
				return t.variants[i]
			}
		}
	}
	return t.variants[rand.IntN(len(t.variants))]
}

// write appends the answer to query q (whose question ends at qend) to out.
func (t *tmpl) write(out, q []byte, qend int) []byte {
	v := t.pick()
	out = append(out[:0], v[:12]...)
	out[0], out[1] = q[0], q[1]
	out[2] |= q[2] & 0x01 // RD
	out[3] |= q[3] & 0x10 // CD
	out = append(out, q[12:qend]...)
	return append(out, v[12+t.qlen:]...)
}

// cacheShards spreads the answer cache's lock.
const cacheShards = 16

// answerCache holds templates by key (lowercase wire name, type, flags).
// It is bounded: past max entries nothing more is added (counted), and it
// is dropped whole with its view when health or zones change.
type answerCache struct {
	shards [cacheShards]struct {
		mu sync.RWMutex
		m  map[string]*tmpl
	}
	n   atomic.Int64
	max int64
}

func newAnswerCache(max int) *answerCache {
	c := &answerCache{max: int64(max)}
	for i := range c.shards {
		c.shards[i].m = map[string]*tmpl{}
	}
	return c
}

func shardOf(k []byte) int {
	h := uint32(2166136261)
	for _, b := range k {
		h = (h ^ uint32(b)) * 16777619
	}
	return int(h % cacheShards)
}

func (c *answerCache) get(k []byte) *tmpl {
	sh := &c.shards[shardOf(k)]
	sh.mu.RLock()
	t := sh.m[string(k)]
	sh.mu.RUnlock()
	return t
}

// put stores t under k and reports whether it did. Answers that depend on
// the exact name asked (wildcards) may fill only half the cache, so random
// names cannot push out the zone's own.
func (c *answerCache) put(k []byte, t *tmpl, perName bool) bool {
	limit := c.max
	if perName {
		limit /= 2
	}
	if c.n.Load() >= limit {
		return false
	}
	sh := &c.shards[shardOf(k)]
	sh.mu.Lock()
	if _, ok := sh.m[string(k)]; !ok {
		sh.m[string(k)] = t
		c.n.Add(1)
	}
	sh.mu.Unlock()
	return true
}
