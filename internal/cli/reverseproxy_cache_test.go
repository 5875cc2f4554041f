package cli

import (
	"net/http"
	"testing"

	"levee/internal/leveetest"
)

// Quick mode with --cache caches with defaults: the benchmark's form.
func TestQuickModeCache(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dyn" {
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=3600")
		}
		w.Write([]byte("x"))
	}))
	src, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{o.URL}, cache: true})
	if err != nil {
		t.Fatal(err)
	}
	n := leveetest.Start(t, string(src))
	for i := 0; i < 3; i++ {
		leveetest.Get(t, n.URL("/obj/1k"))
		leveetest.Get(t, n.URL("/dyn"))
	}
	_, _, h := leveetest.Get(t, n.URL("/obj/1k"))
	if h.Get("Cache-Status") != "levee; hit" || o.Hits() != 4 {
		t.Fatalf("Cache-Status %q, origin hits %d (want 1 fill + 3 dyn)", h.Get("Cache-Status"), o.Hits())
	}
	src, _ = quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{o.URL}})
	n = leveetest.Start(t, string(src))
	_, _, h = leveetest.Get(t, n.URL("/obj/1k"))
	if h.Get("Cache-Status") != "" {
		t.Fatalf("cache on without --cache: %q", h.Get("Cache-Status"))
	}
}
