package cluster_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
)

type nopRW struct{ h http.Header }

func (w *nopRW) Header() http.Header         { return w.h }
func (w *nopRW) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopRW) WriteHeader(int)             {}

// benchNodeYAML is quick mode's node with --cache, and with --cluster
// when redisURL is set: a cluster section with advertise (the tiered
// cache on), as `levee reverse-proxy --from 127.0.0.1:PORT --cluster`
// makes it.
func benchNodeYAML(redisURL, origin string) string {
	cl := ""
	if redisURL != "" {
		cl = fmt.Sprintf("cluster: {redis: %q, node: bench, advertise: \"http://127.0.0.1:1\"}\n", redisURL)
	}
	return fmt.Sprintf(`listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
%ssites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, cl, origin)
}

// benchNode starts a node for mode "alone" or "cluster" (a real
// redis-server on loopback) and waits until the cluster lists it, so
// the measured requests see the tier phase with a live member list.
func benchNode(b *testing.B, mode, origin string) *leveetest.Node {
	url := ""
	if mode == "cluster" {
		url = leveetest.StartRedis(b).URL()
	}
	n := leveetest.Start(b, benchNodeYAML(url, origin))
	if mode == "cluster" {
		deadline := time.Now().Add(5 * time.Second)
		for len(clusterStatus(b, n).Members) != 1 {
			if time.Now().After(deadline) {
				b.Fatal("the node did not join the cluster within 5s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return n
}

// BenchmarkNodeHit is a 1 KiB cache hit through the whole node chain in
// process, without and with a cluster: what the cluster adds to a hit
// (issue 15's 5% bar). Compare with benchstat -col /mode.
func BenchmarkNodeHit(b *testing.B) {
	body := strings.Repeat("x", 1024)
	for _, mode := range []string{"alone", "cluster"} {
		b.Run("mode="+mode, func(b *testing.B) {
			o := leveetest.NewOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "public, max-age=3600")
				w.Write([]byte(body))
			}))
			n := benchNode(b, mode, o.URL)
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
		})
	}
}

// BenchmarkNodePass is an uncacheable request (the origin says no-store:
// a fill that stores nothing, as the bench's dyn) through the node to a
// loopback origin, without and with a cluster.
func BenchmarkNodePass(b *testing.B) {
	for _, mode := range []string{"alone", "cluster"} {
		b.Run("mode="+mode, func(b *testing.B) {
			o := leveetest.NewOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "no-store")
				w.Write([]byte("{}"))
			}))
			n := benchNode(b, mode, o.URL)
			w := &nopRW{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A new request each time: the proxy adds forwarding
				// headers to the one it is given.
				req, _ := http.NewRequest("GET", "http://bench/dyn?x=1", nil)
				req.RequestURI = "/dyn?x=1"
				req.RemoteAddr = "127.0.0.1:5555"
				clear(w.h)
				n.ServeHTTP(w, req)
			}
			if s := w.h.Get("Cache-Status"); !strings.Contains(s, "fwd=") {
				b.Fatalf("not forwarded: %v", w.h)
			}
		})
	}
}
