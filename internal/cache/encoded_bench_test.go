package cache

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/pipeline"
	"levee/internal/router"
)

// gzipWriter is a nopWriter that offers the cache gzip, as the
// compression phase does for a client that accepts it.
type gzipWriter struct {
	nopWriter
	served int
}

func (w *gzipWriter) CacheCoding(int, string, string, []string, int64) string { return "gzip" }
func (w *gzipWriter) CacheServed(string)                                      { w.served++ }
func (w *gzipWriter) StoredEncoder(_ string, out io.Writer) (io.WriteCloser, error) {
	return gzip.NewWriterLevel(out, gzip.BestSpeed)
}

// BenchmarkHitEncoded measures a hit answered from a stored gzip variant:
// the identity's lookup, the variant's key and lookup, its counter.
func BenchmarkHitEncoded(b *testing.B) {
	st, err := NewStore(Options{MemoryBytes: 64 << 20, Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		b.Fatal(err)
	}
	c := New(st, Settings{LockTimeout: time.Second, HitForMiss: time.Second, FillTimeout: time.Second})
	c.Bind(0, Compile(&RouteConfig{}, 64<<20), "bench")
	rt := &router.Route{ID: 0}
	body := []byte(strings.Repeat("text to compress ", 64))
	origin := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Etag", `"v1"`)
		w.WriteHeader(200)
		w.Write(body)
		return nil
	})
	h := c.Phase()(origin)
	req, _ := http.NewRequest("GET", "http://bench.example/obj/text", nil)
	req.RequestURI = "/obj/text"
	gw := &gzipWriter{nopWriter: nopWriter{h: http.Header{}}}
	serve := func() {
		clear(gw.h)
		ex := pipeline.NewExchange(gw, time.Now())
		ex.Route = rt
		if err := h.ServeHTTP(ex, req); err != nil {
			b.Fatal(err)
		}
	}
	// The variant is made in the background after the first hit: wait
	// (bounded) until a hit is answered from it.
	deadline := time.Now().Add(10 * time.Second)
	for gw.served == 0 {
		if time.Now().After(deadline) {
			b.Fatal("the gzip variant was never served")
		}
		serve()
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		serve()
	}
	b.StopTimer()
	if gw.served < b.N {
		b.Fatalf("%d of %d hits served from the variant", gw.served, b.N)
	}
}
