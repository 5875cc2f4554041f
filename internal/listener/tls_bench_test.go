package listener_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

// BenchmarkTLSKeepAliveHit is one cache hit (1 KiB, and 100 KiB) on a
// kept-alive HTTPS HTTP/1.1 connection over loopback, client and node in
// this process; its ns/op is what a hit costs the node and this client
// together:
//
//	go test -run '^$' -bench TLSKeepAliveHit -benchmem -count 6 ./internal/listener
func BenchmarkTLSKeepAliveHit(b *testing.B) {
	cert := leveetest.SelfSigned(b, "a.example")
	o := leveetest.NewOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		size := 1024
		if r.URL.Path == "/100k" {
			size = 100 << 10
		}
		io.WriteString(w, strings.Repeat("x", size))
	}))
	n := leveetest.Start(b, tlsConfig(cert, o.URL, ""))
	for _, path := range []string{"/1k", "/100k"} {
		b.Run(path[1:], func(b *testing.B) {
			c, err := tls.Dial("tcp", n.Addr(""), &tls.Config{RootCAs: cert.Pool, ServerName: "a.example", NextProtos: []string{"http/1.1"}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET " + path + " HTTP/1.1\r\nHost: a.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			br := bufio.NewReaderSize(c, 64<<10)
			get := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, res.Body); err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
			get() // fills the cache
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
		})
	}
}

// tlsConfig is a node with one TLS listener (http1 as given, "" for the
// default) caching everything from origin.
func tlsConfig(cert *leveetest.Cert, origin, http1 string) string {
	h1 := ""
	if http1 != "" {
		h1 = "    http1: " + http1 + "\n"
	}
	return tlsNodeConfig(cert, origin, h1, "")
}
