package h1server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkKeepAliveRequest is one request and response on a kept-alive
// loopback connection, server and client in this process: its B/op and
// allocs/op are the garbage of one request through this server (the
// client side reads into a reused buffer and allocates nothing).
func BenchmarkKeepAliveRequest(b *testing.B) {
	body := make([]byte, 1024)
	hs := start(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}), nil)
	c, err := net.Dial("tcp", hs.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /obj/1k HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	// The response's size, from a first exchange.
	c.Write(req)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	var head int
	for k, vv := range res.Header {
		for _, v := range vv {
			head += len(k) + 2 + len(v) + 2
		}
	}
	size := len("HTTP/1.1 200 OK\r\n") + head + 2 + len(body)
	buf := make([]byte, size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}
