package cache

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/maypok86/otter/v2"
)

// TestMemIndexModel runs random sets, gets and removes against a map and
// checks every answer, and that the bytes never pass the bound.
func TestMemIndexModel(t *testing.T) {
	const bound = 64 << 10
	x := newMemIndex(bound, 64)
	defer x.close()
	model := map[uint64][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	evictions := 0
	for op := range 20000 {
		// Few distinct low bits so probe runs collide and deletions shift.
		h := uint64(rng.IntN(400)) << 3
		switch rng.IntN(3) {
		case 0:
			rec := bytes.Repeat([]byte{byte(op)}, 1+rng.IntN(3000))
			n, err := x.set(h, rec)
			if err != nil {
				t.Fatal(err)
			}
			evictions += n
			model[h] = rec
		case 1:
			got, ok := x.get(h, nil)
			want, inModel := model[h]
			if ok && (!inModel || !bytes.Equal(got, want)) {
				t.Fatalf("op %d: get %x: wrong record (%d bytes, want %d)", op, h, len(got), len(want))
			}
			if !ok {
				delete(model, h) // evicted
			}
		case 2:
			x.remove(h)
			delete(model, h)
		}
		if n, used := x.stats(); used > bound || n < 0 {
			t.Fatalf("op %d: %d objects, %d bytes over the bound %d", op, n, used, bound)
		}
	}
	if evictions == 0 {
		t.Fatal("no eviction counted: the test never filled the tier")
	}
	// Every entry still indexed is found and holds its latest record.
	n, used := x.stats()
	var sum int64
	found := 0
	for h, want := range model {
		if got, ok := x.get(h, nil); ok {
			found++
			if !bytes.Equal(got, want) {
				t.Fatalf("%x: stale record", h)
			}
			_, room := slabClass(len(want))
			sum += int64(room)
		}
	}
	if found != n || sum != used {
		t.Fatalf("index says %d objects, %d bytes; found %d, %d bytes", n, used, found, sum)
	}
}

// TestMemIndexTooLarge: a record over the largest class is refused.
func TestMemIndexTooLarge(t *testing.T) {
	x := newMemIndex(1<<20, 16)
	defer x.close()
	if _, err := x.set(1, make([]byte, maxSlabClass+1)); err != errRecordTooLarge {
		t.Fatalf("err = %v", err)
	}
}

// zipfTrace is a deterministic trace of keys drawn from a Zipf law, with
// record sizes of 100 B to 16 KiB fixed per key.
// With scan > 0, that share of the requests are for keys never asked
// again (a crawler, a backup): an LRU keeps them, TinyLFU's admission
// should not.
func zipfTrace(n, keys int, s, scan float64) ([]uint64, func(uint64) int) {
	rng := rand.New(rand.NewPCG(42, 7))
	z := rand.NewZipf(rng, s, 1, uint64(keys-1))
	trace := make([]uint64, n)
	for i := range trace {
		if rng.Float64() < scan {
			trace[i] = (uint64(keys)+uint64(i))*0x9E3779B97F4A7C15 + 1
			continue
		}
		trace[i] = z.Uint64()*0x9E3779B97F4A7C15 + 1
	}
	size := func(h uint64) int { return 100 + int(h>>40)%(16<<10) }
	return trace, size
}

// TestMemIndexHitRatioZipf: at the same byte budget the index's W-TinyLFU
// hits within one point of otter's on Zipf traces (the tier it replaces).
func TestMemIndexHitRatioZipf(t *testing.T) {
	for _, tc := range []struct {
		s, scan float64
		budget  int64
	}{{1.01, 0, 4 << 20}, {1.1, 0, 8 << 20}, {1.3, 0, 2 << 20}, {1.01, 0.5, 4 << 20}, {1.1, 0.3, 8 << 20}} {
		trace, size := zipfTrace(300_000, 100_000, tc.s, tc.scan)
		ours := hitRatioMemIndex(t, trace, size, tc.budget)
		theirs := hitRatioOtter(t, trace, size, tc.budget)
		t.Logf("zipf s=%.2f scan=%.1f budget=%d: memIndex %.2f%%, otter %.2f%%", tc.s, tc.scan, tc.budget, 100*ours, 100*theirs)
		if ours < theirs-0.01 {
			t.Errorf("zipf s=%.2f scan=%.1f: hit ratio %.2f%% is more than a point under otter's %.2f%%", tc.s, tc.scan, 100*ours, 100*theirs)
		}
	}
}

func hitRatioMemIndex(t *testing.T, trace []uint64, size func(uint64) int, budget int64) float64 {
	x := newMemIndex(budget, 1024)
	defer x.close()
	hits := 0
	buf := make([]byte, 0, maxSlabClass)
	rec := make([]byte, 16<<10+100)
	for _, h := range trace {
		var ok bool
		if buf, ok = x.get(h, buf[:0]); ok {
			hits++
			continue
		}
		if _, err := x.set(h, rec[:size(h)]); err != nil {
			t.Fatal(err)
		}
	}
	return float64(hits) / float64(len(trace))
}

func hitRatioOtter(t *testing.T, trace []uint64, size func(uint64) int, budget int64) float64 {
	c, err := otter.New(&otter.Options[uint64, int]{
		MaximumWeight: uint64(budget),
		Weigher: func(_ uint64, v int) uint32 {
			_, room := slabClass(v) // the same bytes as the index counts
			return uint32(room)
		},
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for _, h := range trace {
		if _, ok := c.GetIfPresent(h); ok {
			hits++
			continue
		}
		c.Set(h, size(h))
	}
	return float64(hits) / float64(len(trace))
}

// TestSlabClasses: every size up to the largest class gets a room at
// least as large, and at most a quarter of it (or 31 bytes) unused.
func TestSlabClasses(t *testing.T) {
	for n := 1; n <= maxSlabClass; n++ {
		c, room := slabClass(n)
		if c < 0 || room < n || room-n > max(31, room/4) {
			t.Fatalf("slabClass(%d) = %d, %d", n, c, room)
		}
	}
}

// TestRecordRoundTrip: an object survives its record byte for byte, and
// a truncated record is refused.
func TestRecordRoundTrip(t *testing.T) {
	o := &Object{Key: "k\x00v", URL: "example.com/a?b", Tags: []string{"t1", "t2"}, Status: 203,
		Header: map[string][]string{"Etag": {`"x"`}, "Vary": {"A", "B"}, "Content-Length": {"3"}},
		Body:   []byte("abc"), Size: 3, RespTime: 1e18, InitAge: 5, Fresh: -7, SWR: -1, SIE: 9, Grace: 11,
		NoStale: true, AuthOK: true, ETag: `"x"`, VaryNames: []string{"Accept"}, Nonce: 1 << 63, Until: 12}
	o.invalidAt.Store(13)
	rec := appendRecord(nil, o, false)
	got, _, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%+v %v %d", o.clone(), o.fields, o.invalidAt.Load())
	if have := fmt.Sprintf("%+v %v %d", got.clone(), got.fields, got.invalidAt.Load()); have != want {
		t.Fatalf("decoded\n%s\nwant\n%s", have, want)
	}
	if _, _, err := decodeRecord(rec[:len(rec)-1]); err == nil {
		t.Fatal("a truncated record decoded")
	}
	empty := appendRecord(nil, &Object{Body: []byte{}}, false)
	if e, _, err := decodeRecord(empty); err != nil || e.Body == nil || len(e.Body) != 0 {
		t.Fatalf("empty body: %v %v", e, err)
	}
}
