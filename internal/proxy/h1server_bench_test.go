package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"levee/internal/h1server"
	"levee/internal/leveetest/cputime"
	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/router"
)

// BenchmarkPassThroughH1Server is one pass-through GET end to end over
// loopback: a kept-alive client connection to levee's HTTP/1 server, the
// proxy, the lean transport, a raw origin. Unlike BenchmarkProxyPass its
// request context is h1server's, so what the proxy's cancel hook costs
// that server (a context and request it can no longer reuse) shows here.
// cpu-ns/op counts client, server and origin together.
func BenchmarkPassThroughH1Server(b *testing.B) {
	addr := rawOrigin(b, dynResponse)
	u, _ := url.Parse("http://" + addr)
	pl := pool.New("p", []*pool.Origin{pool.NewOrigin("o", u, 1, nil, 0, 0)}, benchTransport(b))
	route := &router.Route{Pools: []*pool.Pool{pl}}
	px := &Proxy{}
	srv := &h1server.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ex := pipeline.NewExchange(w, time.Time{})
			ex.Route = route
			if err := px.ServeHTTP(ex, r); err != nil {
				panic(err)
			}
		}),
		Fallback:          func(_ context.Context, c net.Conn) { c.Close() },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    h1server.ReadBufferSize,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close(); srv.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !srv.Serve(c) {
				c.Close()
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /dyn HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	for range 2 { // the origin connection is dialed and pooled
		c.Write(req)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := io.Copy(io.Discard, res.Body); res.StatusCode != 200 || n != 50 {
			b.Fatalf("status %d, %d bytes", res.StatusCode, n)
		}
	}
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
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
	}
}
