package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// Issue 4 with issue 3: every origin of every pool is down (by active health
// checks, with a backup pool down too) and a cached copy is present: the
// stale copy is served, marked stale, and no client sees a 5xx.
func TestAllOriginsDownServesStaleCopy(t *testing.T) {
	var down atomic.Bool
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=1")
		fmt.Fprintf(w, "copy of %s", r.URL.Path)
	})
	primary := leveetest.NewOrigin(t, handler)
	backup := leveetest.NewOrigin(t, handler)
	n := leveetest.Start(t, fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
pools:
  - name: primary
    origins: [{url: %q}]
    health: {active: {path: /healthz, interval: 1h, rise: 1, fall: 1}}
  - name: backup
    origins: [{url: %q}]
    health: {active: {path: /healthz, interval: 1h, rise: 1, fall: 1}}
sites:
  - name: t
    hosts: ["*"]
    routes:
      - path: /
        pools: [primary, backup]
        cache: {grace: 1h}
`, primary.URL, backup.URL))
	for _, p := range []string{"/a", "/b"} {
		if code, body, _ := leveetest.Get(t, n.URL(p)); code != 200 || body != "copy of "+p {
			t.Fatalf("warming %s: %d %q", p, code, body)
		}
	}
	time.Sleep(1100 * time.Millisecond) // the copies are now stale
	down.Store(true)
	n.HealthRound("primary")
	n.HealthRound("backup")
	n.HealthSweep()
	for _, pool := range []struct{ name, url string }{{"primary", primary.URL}, {"backup", backup.URL}} {
		if healthy, known := n.HealthState(pool.name, pool.url); healthy || !known {
			t.Fatalf("%s not marked down by its health check (healthy %v, known %v)", pool.name, healthy, known)
		}
	}
	for i := 0; i < 20; i++ {
		for _, p := range []string{"/a", "/b"} {
			code, body, hdr := leveetest.Get(t, n.URL(p))
			if code != 200 || body != "copy of "+p || !strings.Contains(hdr.Get("Cache-Status"), "fwd=stale") {
				t.Fatalf("all origins down, %s: %d %q Cache-Status %q", p, code, body, hdr.Get("Cache-Status"))
			}
		}
	}
	if code, _, _ := leveetest.Get(t, n.URL("/never-cached")); code < 500 {
		t.Fatalf("an uncached URL with every origin down answered %d", code)
	}
}
