package cache

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/pipeline"
	"levee/internal/router"
)

// nopWriter is a reusable ResponseWriter, so the benchmark measures the
// cache phase and not a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// ReadFrom stands for a connection's sendfile: a file body is handed to
// the kernel, whose copy is not the cache phase's cost and is not counted.
func (w *nopWriter) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			n := lr.N
			lr.N = 0
			return n, nil
		}
	}
	return io.Copy(struct{ io.Writer }{w}, r)
}

func benchHit(b *testing.B, size int, parallel bool) {
	st, err := NewStore(Options{MemoryBytes: 64 << 20, Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	c := New(st, Settings{LockTimeout: time.Second, HitForMiss: time.Second, FillTimeout: time.Second})
	ru := Compile(&RouteConfig{}, 64<<20)
	c.Bind(0, ru, "bench")
	rt := &router.Route{ID: 0}
	body := []byte(strings.Repeat("x", size))
	origin := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(200)
		w.Write(body)
		return nil
	})
	h := c.Phase()(origin)
	req, _ := http.NewRequest("GET", "http://bench.example/obj/1k", nil)
	req.RequestURI = "/obj/1k"
	nw := &nopWriter{h: http.Header{}}
	serve := func() {
		clear(nw.h)
		ex := pipeline.NewExchange(nw, time.Now())
		ex.Route = rt
		if err := h.ServeHTTP(ex, req); err != nil {
			b.Fatal(err)
		}
	}
	serve()
	if nw.h.Get("Cache-Status") != "levee; fwd=miss; stored" {
		b.Fatalf("fill: %v", nw.h)
	}
	serve()
	if nw.h.Get("Cache-Status") != "levee; hit" {
		b.Fatalf("hit: %v", nw.h)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			serve()
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{h: http.Header{}}
		r := req.Clone(req.Context())
		for pb.Next() {
			clear(w.h)
			ex := pipeline.NewExchange(w, time.Now())
			ex.Route = rt
			if err := h.ServeHTTP(ex, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHit1K and BenchmarkHit100K measure the cache phase's hit path
// (key, lookup, freshness, headers, body write), without the network.
func BenchmarkHit1K(b *testing.B)   { benchHit(b, 1<<10, false) }
func BenchmarkHit100K(b *testing.B) { benchHit(b, 100<<10, false) }

// BenchmarkHit16K is a 16 KiB heap body (under MemfdMin): with the levee
// index, it is served from the front array's decoded object, not decoded
// from its record at every hit.
func BenchmarkHit16K(b *testing.B) { benchHit(b, 16<<10, false) }

// BenchmarkHit1KParallel is BenchmarkHit1K from GOMAXPROCS goroutines on
// one object: what the memory tier's lock costs when hits contend.
func BenchmarkHit1KParallel(b *testing.B) { benchHit(b, 1<<10, true) }

// BenchmarkIndex2M indexes two million objects in the disk tier's index
// and reports its bytes per object and the time of a full GC with it live.
// The work is done once whatever b.N is (it takes seconds), so ns/op is
// not meaningful; read bytes/object and gc-µs.
func BenchmarkIndex2M(b *testing.B) {
	const n = 2_000_000
	for i := 0; i < min(b.N, 1); i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := &disk{idx: make(map[uint64]diskEntry)}
		meta := &diskMeta{}
		for j := 0; j < n; j++ {
			meta.URL = fmt.Sprintf("example.com/obj/%d", j)
			d.indexLocked(uint64(j)*0x9E3779B97F4A7C15, meta, 1024, true)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		start := time.Now()
		runtime.GC()
		gc := time.Since(start)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/object")
		b.ReportMetric(float64(gc.Microseconds()), "gc-µs")
		runtime.KeepAlive(d)
	}
}

// BenchmarkMemoryIndex2M does the same for the memory tier's otter index
// with empty objects, including each Object's own fields (done once).
func BenchmarkMemoryIndex2M(b *testing.B) {
	const n = 2_000_000
	for i := 0; i < min(b.N, 1); i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st, _ := NewStore(Options{MemoryBytes: 64 << 30, MemoryIndex: MemoryIndexOtter, Metrics: NewMetrics(prometheus.NewRegistry())})
		for j := 0; j < n; j++ {
			st.mem.set(uint64(j)*0x9E3779B97F4A7C15, &Object{Body: []byte{}})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		start := time.Now()
		runtime.GC()
		gc := time.Since(start)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/object")
		b.ReportMetric(float64(gc.Microseconds()), "gc-µs")
		runtime.KeepAlive(st)
	}
}

// BenchmarkMemoryTier2M stores two million objects (a 22-byte key and URL,
// no header, an empty body) in the pointer-free memory index and reports
// the Go heap it holds per object (B/object), the off-heap slab bytes per
// object (slab-B/object) and the time of a forced full GC with them live
// (gc-ms). Done once whatever b.N is.
func BenchmarkMemoryTier2M(b *testing.B) {
	const n = 2_000_000
	for i := 0; i < min(b.N, 1); i++ {
		var x *memIndex
		heap, gc := measureLive(func() {
			x = newMemIndex(64<<30, 1024)
			var rec []byte
			for j := 0; j < n; j++ {
				name := fmt.Sprintf("example.com/obj/%d", j)
				rec = appendRecord(rec[:0], &Object{Key: name, URL: name, Body: []byte{}}, false)
				if _, err := x.set(hashKey(name), rec); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(heap)/n, "B/object")
		b.ReportMetric(float64(x.slabs.mapped)/n, "slab-B/object")
		b.ReportMetric(float64(gc.Microseconds())/1000, "gc-ms")
		x.close()
	}
}

// measureLive runs fill and returns the growth of the heap in use it
// left after a full GC, and the time of a second full GC with it live
// (the caller keeps it referenced).
func measureLive(fill func()) (heapInuse int64, gc time.Duration) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	start := time.Now()
	runtime.GC()
	return int64(after.HeapInuse) - int64(before.HeapInuse), time.Since(start)
}

// BenchmarkStoreMemoryTier2M fills two million objects through the cache
// phase as a user's node does (a miss, the origin's answer with
// Cache-Control and Content-Type and an empty body, the fill storing it
// with its Date and Content-Length), once per memory index, and reports
// the Go heap in use per object (B/object), the off-heap slab bytes per
// object (slab-B/object, levee's index only) and the time of a forced
// full GC with them live (gc-ms). Done once whatever b.N is.
func BenchmarkStoreMemoryTier2M(b *testing.B) {
	for _, index := range []string{MemoryIndexLevee, MemoryIndexOtter} {
		b.Run(index, func(b *testing.B) {
			for i := 0; i < min(b.N, 1); i++ {
				fillStore2M(b, index)
			}
		})
	}
}

func fillStore2M(b *testing.B, index string) {
	const n = 2_000_000
	var st *Store
	heap, gc := measureLive(func() {
		var err error
		st, err = NewStore(Options{MemoryBytes: 64 << 30, MemoryIndex: index, Metrics: NewMetrics(prometheus.NewRegistry())})
		if err != nil {
			b.Fatal(err)
		}
		fillThroughPhase(b, st, n)
	})
	if objects, _ := st.mem.stats(); objects != n {
		b.Fatalf("%d objects stored, want %d", objects, n)
	}
	b.ReportMetric(float64(heap)/n, "B/object")
	slab := 0.0
	if t, ok := st.mem.(*leveeTier); ok {
		slab = float64(t.x.slabs.mapped) / n
	}
	b.ReportMetric(slab, "slab-B/object")
	b.ReportMetric(float64(gc.Microseconds())/1000, "gc-ms")
	st.Close()
}

// fillThroughPhase has the cache phase fill n objects into st, each a
// miss answered by an origin with two header fields and an empty body.
func fillThroughPhase(b *testing.B, st *Store, n int) {
	c := New(st, Settings{LockTimeout: time.Second, HitForMiss: time.Second, FillTimeout: time.Second})
	c.Bind(0, Compile(&RouteConfig{}, 64<<20), "bench")
	rt := &router.Route{ID: 0}
	h := c.Phase()(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(200)
		return nil
	}))
	nw := &nopWriter{h: http.Header{}}
	for j := 0; j < n; j++ {
		path := "/obj/" + strconv.Itoa(j)
		req := &http.Request{Method: "GET", Host: "bench.example", URL: &url.URL{Path: path}, RequestURI: path,
			Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		clear(nw.h)
		ex := pipeline.NewExchange(nw, time.Now())
		ex.Route = rt
		if err := h.ServeHTTP(ex, req); err != nil {
			b.Fatal(err)
		}
	}
}
