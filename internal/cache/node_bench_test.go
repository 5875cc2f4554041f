package cache_test

import (
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

type nopRW struct{ h http.Header }

func (w *nopRW) Header() http.Header         { return w.h }
func (w *nopRW) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopRW) WriteHeader(int)             {}

// BenchmarkNodeHit is a hit through the whole node chain (wall, request
// ID, route, cache) in process, without the network: what levee adds to
// net/http on a cache hit.
func BenchmarkNodeHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	o := leveetest.NewOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write([]byte(body))
	}))
	n := node(b, o.URL, "", "")
	req, _ := http.NewRequest("GET", "http://bench/obj/1k", nil)
	req.RequestURI = "/obj/1k"
	req.RemoteAddr = "127.0.0.1:5555"
	w := &nopRW{h: http.Header{}}
	n.ServeHTTP(w, req) // fill
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		n.ServeHTTP(w, req)
	}
	if w.h.Get("Cache-Status") != "levee; hit" {
		b.Fatalf("not a hit: %v", w.h)
	}
}
