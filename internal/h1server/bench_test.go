package h1server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"levee/internal/leveetest/cputime"
)

// BenchmarkKeepAliveRequest is one request and response on a kept-alive
// loopback connection, server and client in this process: its B/op and
// allocs/op are the garbage of one request through this server (the
// client side reads into a reused buffer and allocates nothing).
func BenchmarkKeepAliveRequest(b *testing.B) {
	body := make([]byte, 1024)
	benchKeepAlive(b, len(body), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
}

// BenchmarkFileBody100K answers with a 100 KiB body from a file, as the
// cache sends a memfd body: io.Copy from an io.LimitedReader, which
// reaches ReadFrom and sendfile. Its ns/op counts the syscalls of the
// head and the body and the loopback's delivery to the client.
func BenchmarkFileBody100K(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "body")
	if err != nil {
		b.Fatal(err)
	}
	benchFileBody(b, f)
}

// BenchmarkMemfdBody100K is BenchmarkFileBody100K with the body in a memfd,
// as the cache's memory tier keeps it (4 KiB pages unless the system turns
// shmem huge pages on), against BenchmarkHeapBody100K, the same body
// written from the heap: which costs less to send, a splice of shmem pages
// or a copy.
func BenchmarkMemfdBody100K(b *testing.B) {
	fd, err := unix.MemfdCreate("bench-body", unix.MFD_CLOEXEC)
	if err != nil {
		b.Skip("no memfd:", err)
	}
	benchFileBody(b, os.NewFile(uintptr(fd), "bench-body"))
}

const body100K = 100 << 10

// benchFileBody fills f with 100 KiB and answers each request with it.
func benchFileBody(b *testing.B, f *os.File) {
	defer f.Close()
	if _, err := f.Write(make([]byte, body100K)); err != nil {
		b.Fatal(err)
	}
	benchKeepAlive(b, body100K, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(body100K))
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			panic(err)
		}
		io.Copy(w, &io.LimitedReader{R: f, N: body100K})
	}))
}

func BenchmarkHeapBody100K(b *testing.B) {
	body := make([]byte, body100K)
	benchKeepAlive(b, body100K, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(body100K))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
}

func benchKeepAlive(b *testing.B, bodyLen int, h http.Handler) {
	hs := start(b, h, nil)
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
	size := len("HTTP/1.1 200 OK\r\n") + head + 2 + bodyLen
	buf := make([]byte, size)
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}
