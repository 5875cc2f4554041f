package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"levee/internal/config"
	"levee/internal/leveetest/cputime"
	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/router"
)

// dynResponse is what the bench harness's origin answers on /dyn.
const dynResponse = "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 50\r\n" +
	"Content-Type: application/json\r\nX-Origin: origin\r\nDate: Sun, 06 Dec 2026 10:46:51 GMT\r\n\r\n" +
	`{"n":1,"t":1796554011666409096,"origin":"origin"}` + "\n"

// rawOrigin is a loopback origin that answers every request head with the
// same response, so a benchmark measures the client side: no net/http
// server in the loop.
func rawOrigin(tb testing.TB, response string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go answerHeads(c, response)
		}
	}()
	return ln.Addr().String()
}

func answerHeads(c net.Conn, response string) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(bytes.TrimSpace(line)) == 0 {
				break
			}
		}
		if _, err := io.WriteString(c, response); err != nil {
			return
		}
	}
}

func benchTransport(b *testing.B) *h1Transport {
	spec := config.PoolSpec{Protocol: "http1", MaxIdlePerOrigin: 64}
	spec.Timeouts.Dial = config.Duration(time.Second)
	spec.Timeouts.ResponseHeader = config.Duration(60 * time.Second)
	tr, err := NewTransport(&spec)
	if err != nil {
		b.Fatal(err)
	}
	h := tr.(*h1Transport)
	b.Cleanup(h.CloseIdleConnections)
	return h
}

// BenchmarkLeanRoundTrip is one body-less request through the lean
// transport to a loopback origin and its 50-byte body read to the end:
// what a pass-through request costs on the origin side, syscalls included.
func BenchmarkLeanRoundTrip(b *testing.B) {
	addr := rawOrigin(b, dynResponse)
	tr := benchTransport(b)
	req, _ := http.NewRequest("GET", "http://"+addr+"/dyn", nil)
	req.Header = http.Header{"User-Agent": {"wrk"}, "Accept": {"*/*"}, "X-Forwarded-For": {"127.0.0.1"}}
	buf := make([]byte, 512)
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		res, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.ReadFull(res.Body, buf[:50])
		if _, err := res.Body.Read(buf); err != io.EOF || n != 50 {
			b.Fatalf("body: %d bytes, then %v", n, err)
		}
		res.Body.Close()
	}
}

// BenchmarkProxyPass is one GET through Proxy.ServeHTTP to a loopback
// origin, the response written to a recorder: the proxy's own work per
// pass-through request (headers, the try, streaming), syscalls to the
// origin included, the client side not. Its request context has an
// AfterFunc of its own, like h1server's.
func BenchmarkProxyPass(b *testing.B) {
	addr := rawOrigin(b, dynResponse)
	tr := benchTransport(b)
	u, _ := url.Parse("http://" + addr)
	pl := pool.New("p", []*pool.Origin{pool.NewOrigin("o", u, 1, nil, 0, 0)}, tr)
	route := &router.Route{Pools: []*pool.Pool{pl}}
	px := &Proxy{}
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		// A context with AfterFunc of its own, as h1server's request
		// context is.
		req := httptest.NewRequestWithContext(newHookCtx(), "GET", "http://shop.example/dyn?x=1", nil)
		req.RemoteAddr = "192.0.2.1:12345"
		req.Header.Set("User-Agent", "bench")
		req.Header.Set("Accept", "*/*")
		w := httptest.NewRecorder()
		ex := pipeline.NewExchange(w, time.Time{})
		ex.Route = route
		if err := px.ServeHTTP(ex, req); err != nil {
			b.Fatal(err)
		}
		if w.Code != 200 || w.Body.Len() != 50 {
			b.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
		}
	}
}

// BenchmarkResponseHead reads the head of the bench origin's /dyn answer
// from memory and its body to the end, the lean way (into a header map),
// as wire bytes, and net/http's way: the parsing alone, without syscalls.
func BenchmarkResponseHead(b *testing.B) {
	req, _ := http.NewRequest("GET", "http://o/dyn", nil)
	src := strings.NewReader(dynResponse)
	br := bufio.NewReaderSize(src, 16<<10)
	body := make([]byte, 64)
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(dynResponse)
			br.Reset(src)
			br.Peek(1)
			lh, ok := readLeanHead(br, req, nil)
			if !ok {
				b.Fatal("not lean")
			}
			if n, _ := io.ReadFull(br, body[:lh.length]); n != 50 {
				b.Fatal(n)
			}
		}
	})
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		var wh wireHead
		for b.Loop() {
			src.Reset(dynResponse)
			br.Reset(src)
			br.Peek(1)
			lh, ok := readLeanHead(br, req, &wh)
			if !ok || lh.wire == nil {
				b.Fatal("not a wire head")
			}
			if n, _ := io.ReadFull(br, body[:lh.length]); n != 50 {
				b.Fatal(n)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(dynResponse)
			br.Reset(src)
			res, err := http.ReadResponse(br, req)
			if err != nil {
				b.Fatal(err)
			}
			if n, _ := io.ReadFull(res.Body, body[:50]); n != 50 {
				b.Fatal(n)
			}
			res.Body.Close()
		}
	})
}
