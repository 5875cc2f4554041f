package app_test

import (
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

// A head between limits.max_header_bytes and net/http's own slack (the
// limit plus 4 KiB) must still get 431, from every server a listener can
// hand a request to: levee's HTTP/1 server, net/http, and HTTP/2 (h2c).
func TestSmallHeaderLimitHoldsOnEveryServer(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	n := leveetest.Start(t, `
admin: {listen: "127.0.0.1:0"}
limits: {max_header_bytes: 1KiB}
listeners:
  - {listen: "127.0.0.1:0"}
  - {listen: "127.0.0.2:0", http1: "net/http"}
  - {listen: "127.0.0.3:0", h2c: true}
sites: [{name: t, hosts: ["*"], routes: [{origins: [{url: "`+o.URL+`"}]}]}]
`)
	big := strings.Repeat("a", 3000)
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0"} {
		line := rawRequest(t, n.Addr(addr), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n")
		if !strings.HasPrefix(line, "HTTP/1.1 431") {
			t.Errorf("%s: 3000-byte header with a 1KiB limit: %q", addr, line)
		}
		if line := rawRequest(t, n.Addr(addr), "GET / HTTP/1.1\r\nHost: x\r\nX-Small: "+big[:500]+"\r\n\r\n"); !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Errorf("%s: 500-byte header with a 1KiB limit: %q", addr, line)
		}
	}
	// HTTP/2: a head just over the limit (inside HTTP/2's own 32-byte
	// per-field slack, which Go's client also enforces) gets 431; a single
	// field far over the limit is refused by the HPACK decoder before any
	// request exists (a connection error), which also keeps it from the
	// origin.
	h2 := leveetest.H2CClient()
	heads := map[string]http.Header{"one field just over": {"X-Big": {big[:1000]}}}
	for name, hdr := range heads {
		req, _ := http.NewRequest("GET", "http://"+n.Addr("127.0.0.3:0")+"/", nil)
		req.Header = hdr
		res, err := h2.Do(req)
		if err != nil {
			t.Fatalf("h2c %s: %v", name, err)
		}
		res.Body.Close()
		if res.StatusCode != 431 {
			t.Errorf("h2c %s with a 1KiB limit: %d", name, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+n.Addr("127.0.0.3:0")+"/", nil)
	req.Header.Set("X-Big", big)
	if res, err := h2.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode != 431 {
			t.Errorf("h2c 3000-byte field with a 1KiB limit: %d", res.StatusCode)
		}
	}
	if o.Hits() != 2 {
		t.Errorf("origin saw %d requests, want the 2 small ones", o.Hits())
	}
}
