package listener_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

// BenchmarkHit compares cache hits (1KiB) over HTTP/3 and HTTP/2 over TLS
// on one node, with parallel requests on one client connection each:
//
//	go test -run - -bench Hit -benchtime 3s ./internal/listener
func BenchmarkHit(b *testing.B) {
	cert := leveetest.SelfSigned(b, "a.example")
	o := leveetest.NewOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, strings.Repeat("x", 1024))
	}))
	n := leveetest.Start(b, h3Config(cert, o.URL, "30s"))
	url := "https://" + n.Addr("") + "/obj"
	clients := map[string]*http.Client{
		"h3": h3Client(cert),
		"h2": {Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool, ServerName: "a.example"},
			ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}},
	}
	for _, name := range []string{"h2", "h3"} {
		c := clients[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(1024)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := c.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			})
		})
	}
}
