package cache

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func tierStore(t *testing.T, index string, mem int64) *Store {
	t.Helper()
	st, err := NewStore(Options{MemoryBytes: mem, MemoryIndex: index, Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func memfdClosed(b *memBody) bool {
	_, err := b.f.Stat()
	return errors.Is(err, os.ErrClosed)
}

// freshObject is a small object fresh for an hour, with a URL and tags.
func freshObject(key, url string, tags ...string) *Object {
	return &Object{Key: key, URL: url, Tags: tags, Status: 200, Header: http.Header{"X": {key}},
		Body: []byte("body of " + key), Size: int64(len("body of " + key)), RespTime: time.Now().UnixNano(),
		Fresh: int64(time.Hour), SWR: -1, SIE: -1}
}

// A memfd body leaves with its object: evicted by later fills (each
// eviction counted) or purged, its memfd is closed, on either tier.
func TestMemTierReleasesMemfd(t *testing.T) {
	for _, index := range []string{MemoryIndexLevee, MemoryIndexOtter} {
		t.Run(index, func(t *testing.T) {
			st := tierStore(t, index, 2<<20)
			bodies := map[uint64]*memBody{}
			for i := uint64(1); i <= 20; i++ {
				o := bigObject(fmt.Sprint(i), 256<<10)
				st.put(i, o)
				if o.mb == nil {
					t.Fatal("a 256 KiB object is not in a memfd")
				}
				bodies[i] = o.mb
			}
			evicted := 0
			for i, b := range bodies {
				in := st.mem.contains(i)
				if in == memfdClosed(b) {
					t.Fatalf("object %d: in memory %v, memfd closed %v", i, in, memfdClosed(b))
				}
				if !in {
					evicted++
				}
			}
			if evicted == 0 || telemetryValue(st.m.Evictions.WithLabelValues("memory")) != float64(evicted) {
				t.Fatalf("%d objects evicted, %v counted", evicted, telemetryValue(st.m.Evictions.WithLabelValues("memory")))
			}
			p := bigObject("purged", 64<<10)
			p.URL = "example.com/purged"
			st.put(100, p)
			pb := p.mb
			if n, err := st.Purge(Purge{URL: "example.com/purged"}); err != nil || n != 1 {
				t.Fatalf("purge touched %d, %v", n, err)
			}
			if !memfdClosed(pb) || st.lookup(100, []byte("purged")) != nil {
				t.Fatal("a purged memfd body is still open or found")
			}
		})
	}
}

// A soft purge leaves the object in memory, stale: also when its decoded
// copy was in the front array before the purge.
func TestMemTierSoftPurgeMarksStale(t *testing.T) {
	for _, index := range []string{MemoryIndexLevee, MemoryIndexOtter} {
		t.Run(index, func(t *testing.T) {
			st := tierStore(t, index, 8<<20)
			st.put(1, freshObject("a", "example.com/a", "t1"))
			now := time.Now().UnixNano()
			if o := st.lookup(1, []byte("a")); o == nil || o.freshFor(now) <= 0 {
				t.Fatal("not stored fresh")
			}
			if n, err := st.Purge(Purge{Tag: "t1", Soft: true}); err != nil || n != 1 {
				t.Fatalf("soft purge touched %d, %v", n, err)
			}
			o := st.lookup(1, []byte("a"))
			if o == nil {
				t.Fatal("a soft purge removed the object")
			}
			if left := o.freshFor(time.Now().UnixNano() + 1); left > 0 {
				t.Fatalf("soft-purged object still fresh for %v", time.Duration(left))
			}
			if string(o.Body) != "body of a" || o.get("X") != "a" {
				t.Fatalf("soft-purged object changed: %q %v", o.Body, o.header())
			}
		})
	}
}

// Purges by tag and by prefix reach every matching object of the index
// (more than one batch of its walk) and nothing else.
func TestMemTierPurgeWalksIndex(t *testing.T) {
	const n = 700 // over two batches of 256
	for _, index := range []string{MemoryIndexLevee, MemoryIndexOtter} {
		t.Run(index, func(t *testing.T) {
			st := tierStore(t, index, 64<<20)
			for i := range n {
				tag := "even"
				if i%2 == 1 {
					tag = "odd"
				}
				k := fmt.Sprintf("k%d", i)
				st.put(uint64(i)+1, freshObject(k, fmt.Sprintf("example.com/%s/%d", tag, i), tag))
			}
			if got, err := st.Purge(Purge{Tag: "odd"}); err != nil || got != n/2 {
				t.Fatalf("tag purge touched %d, want %d (%v)", got, n/2, err)
			}
			// Even numbers under 700 written with a leading 1: 10-18 and 100-198.
			if got, err := st.Purge(Purge{Prefix: "example.com/even/1"}); err != nil || got != 55 {
				t.Fatalf("prefix purge touched %d, want 55 (%v)", got, err)
			}
			for i := range n {
				k := fmt.Sprintf("k%d", i)
				gone := i%2 == 1 || fmt.Sprint(i)[0] == '1'
				if o := st.lookup(uint64(i)+1, []byte(k)); (o == nil) != gone {
					t.Fatalf("object %d: found %v, purged %v", i, o != nil, gone)
				}
			}
		})
	}
}

// The front array never serves a replaced or purged object, including a
// copy decoded from a record read before the change (the interleaving in
// leveeTier's comment).
func TestMemTierFrontNeverServesOld(t *testing.T) {
	st := tierStore(t, MemoryIndexLevee, 8<<20)
	t1 := st.mem.(*leveeTier)
	st.put(1, freshObject("a", "example.com/a"))
	if o := st.lookup(1, []byte("a")); o == nil || o.get("X") != "a" {
		t.Fatal("not stored")
	}
	replaced := freshObject("a", "example.com/a")
	replaced.Header = http.Header{"X": {"new"}}
	st.put(1, replaced)
	if o := st.lookup(1, []byte("a")); o == nil || o.get("X") != "new" {
		t.Fatal("the front served the replaced object")
	}
	if _, err := st.Purge(Purge{URL: "example.com/a"}); err != nil {
		t.Fatal(err)
	}
	if st.lookup(1, []byte("a")) != nil {
		t.Fatal("the front served a purged object")
	}

	// 1. a hit reads the record; 2. a fill replaces it; 3. the hit
	// installs its decoded copy: the next hit must see the fill.
	st.put(2, freshObject("b", "example.com/b"))
	t1.forget(2) // as if never decoded
	_, rd, ok := t1.read(2)
	if !ok || rd.rec == "" {
		t.Fatal("no record read")
	}
	newer := freshObject("b", "example.com/b")
	newer.Header = http.Header{"X": {"newer"}}
	st.put(2, newer)
	t1.forget(2) // the fill's copy out of the front: the next hit decodes
	t1.install(2, rd.decode(), rd.seq)
	if o := st.lookup(2, []byte("b")); o == nil || o.get("X") != "newer" {
		t.Fatalf("the front served the copy decoded before the fill: %v", o.header())
	}
	// The same with a soft purge between the read and the install.
	t1.forget(2)
	_, rd, _ = t1.read(2)
	if _, err := st.Purge(Purge{URL: "example.com/b", Soft: true}); err != nil {
		t.Fatal(err)
	}
	t1.install(2, rd.decode(), rd.seq)
	if o := st.lookup(2, []byte("b")); o == nil || o.freshFor(time.Now().UnixNano()+1) > 0 {
		t.Fatal("the front served the copy decoded before a soft purge as fresh")
	}
}

// A heap body too large for a slab class (memfds off) is kept beside the
// record, weighed in the bound, and served whole.
func TestLeveeTierLargeHeapBody(t *testing.T) {
	st := tierStore(t, MemoryIndexLevee, 8<<20)
	st.memfdOff.Store(true)
	o := bigObject("a", 200<<10)
	st.put(1, o)
	got := st.lookup(1, []byte("a"))
	if got == nil || got.mb != nil || len(got.Body) != 200<<10 || got.Body[1000] != o.Body[1000] {
		t.Fatal("a 200 KiB heap body is not stored whole")
	}
	if _, used := st.mem.stats(); used < 200<<10 {
		t.Fatalf("%d bytes counted for a 200 KiB body", used)
	}
	st.remove(1)
	if n := len(st.mem.(*leveeTier).side); n != 0 {
		t.Fatalf("%d side bodies left after the remove", n)
	}
}

// The heap bodies the front array holds besides the slabs stay within
// frontMaxBytes, and its count matches its slots.
func TestLeveeTierFrontBytesBounded(t *testing.T) {
	st := tierStore(t, MemoryIndexLevee, 128<<20)
	t1 := st.mem.(*leveeTier)
	for i := range 2 * frontSlots {
		k := fmt.Sprint(i)
		st.put(uint64(i)*0x9E3779B97F4A7C15, bigObject(k, 20<<10))
		st.lookup(uint64(i)*0x9E3779B97F4A7C15, []byte(k))
	}
	var sum int64
	for _, f := range t1.front {
		if f.o != nil {
			sum += f.cost
		}
	}
	if sum != t1.frontBytes || sum > frontMaxBytes || sum < frontMaxBytes/2 {
		t.Fatalf("front holds %d bytes, counts %d, bound %d", sum, t1.frontBytes, frontMaxBytes)
	}
	for i := range 2 * frontSlots {
		st.remove(uint64(i) * 0x9E3779B97F4A7C15)
	}
	if t1.frontBytes != 0 {
		t.Fatalf("front counts %d bytes once empty", t1.frontBytes)
	}
}

// An object whose record is over the largest slab class even without its
// body (a 70 KiB header) is kept out of memory, counted and not leaked.
func TestLeveeTierRefusesOversizedRecord(t *testing.T) {
	st := tierStore(t, MemoryIndexLevee, 8<<20)
	o := freshObject("a", "example.com/a")
	o.Header = http.Header{"X-Big": {strings.Repeat("v", 70<<10)}}
	st.put(1, o)
	if st.lookup(1, []byte("a")) != nil {
		t.Fatal("a 70 KiB record was stored")
	}
	if got := telemetryValue(st.m.Overflow.WithLabelValues("memory_record")); got != 1 {
		t.Fatalf("memory_record overflow %v, want 1", got)
	}
	if n, used := st.mem.stats(); n != 0 || used != 0 || len(st.mem.(*leveeTier).side) != 0 {
		t.Fatalf("%d objects, %d bytes, %d side bodies left", n, used, len(st.mem.(*leveeTier).side))
	}
}
