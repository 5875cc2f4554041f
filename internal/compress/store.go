package compress

import (
	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// store keeps encoded bodies levee made, so a response it has encoded
// once is not encoded again: keyed by coding, host, URL and the
// response's strong ETag (a strong validator names exact bytes, so the
// same ETag encodes to the same output). Bounded by bytes, evicted by
// W-TinyLFU. Entries that fit in maxEntry only.
type store struct {
	c        *otter.Cache[string, []byte]
	maxEntry int
	hits     prometheus.Counter
	stored   prometheus.Counter
}

func newStore(bytes int64, hits, stored prometheus.Counter) *store {
	return &store{
		c: otter.Must(&otter.Options[string, []byte]{
			MaximumWeight: uint64(bytes),
			Weigher:       func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) },
		}),
		maxEntry: int(min(bytes/8, 8<<20)),
		hits:     hits,
		stored:   stored,
	}
}

func (s *store) get(key string) ([]byte, bool) {
	b, ok := s.c.GetIfPresent(key)
	if ok {
		s.hits.Inc()
	}
	return b, ok
}

func (s *store) put(key string, b []byte) {
	if len(b) > s.maxEntry {
		return
	}
	s.c.Set(key, b)
	s.stored.Inc()
}

// resize changes the byte bound (a reload); the largest entry stays as
// first set.
func (s *store) resize(bytes int64) { s.c.SetMaximum(uint64(bytes)) }

func storeKey(coding, host, uri, etag string) string {
	return coding + "\x00" + host + "\x00" + uri + "\x00" + etag
}
