package shield_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"levee/internal/leveetest"
	"levee/internal/leveetest/cputime"
)

// BenchmarkNodePass is one pass-through GET through a whole node over a
// kept-alive loopback connection (levee's HTTP/1 server, every phase with
// the shield's default admission, the proxy) to a loopback origin. Client,
// node and origin share the process: allocs/op and cpu-ns/op (the
// process's CPU per op) count all three.
func BenchmarkNodePass(b *testing.B) {
	o := leveetest.NewOrigin(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, `{"n":1,"t":1796554011666409096,"origin":"origin"}`+"\n")
	}))
	// No h2c: an h2c listener serves every connection with net/http.
	n := leveetest.Start(b, fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, o.URL))
	c, err := net.Dial("tcp", n.Addr(""))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /dyn HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := io.Copy(io.Discard, res.Body); res.StatusCode != 200 || n != 50 {
			b.Fatalf("status %d, %d bytes", res.StatusCode, n)
		}
	}
	roundTrip()
	b.ReportAllocs()
	defer cputime.Report(b)()
	for b.Loop() {
		roundTrip()
	}
}
