package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

// An origin's answer without Content-Type reaches the client without one,
// over HTTP/1.1 and HTTP/2, from the origin and from the cache: an edge
// does not guess a media type the origin did not state (RFC 9110 §8.3
// leaves that to the recipient; nginx and HAProxy pass such answers
// as they are). levee's servers sniff one, as net/http does, for a
// handler that sets none; through the proxy an HTML body went out as
// text/html.
func TestNoContentTypeAddedToOriginAnswers(t *testing.T) {
	t.Parallel()
	const body = "<html><body>hi</body></html>"
	o := untypedOrigin(t, body)
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0", h2c: true}]
log: {access: false}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, o.URL))
	h1 := &http.Client{Transport: &http.Transport{}}
	h2 := leveetest.H2CClient()
	for _, c := range []struct {
		name   string
		client *http.Client
		path   string
	}{
		{"HTTP/1.1 miss", h1, "/one"},
		{"HTTP/1.1 hit", h1, "/one"},
		{"HTTP/2 miss", h2, "/two"},
		{"HTTP/2 hit", h2, "/two"},
		{"HTTP/2 hit of an HTTP/1.1 fill", h2, "/one"},
	} {
		res, err := c.client.Get(n.URL(c.path))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(got) != body {
			t.Fatalf("%s: %d %q", c.name, res.StatusCode, got)
		}
		wantHit := strings.Contains(c.name, "hit")
		if cs := res.Header.Get("Cache-Status"); strings.Contains(cs, "hit") != wantHit {
			t.Fatalf("%s: Cache-Status %q", c.name, cs)
		}
		if ct, ok := res.Header["Content-Type"]; ok {
			t.Errorf("%s: Content-Type %q added to an answer the origin sent without one", c.name, ct)
		}
	}
}

// The same after the answer went to the disk tier and the node restarted:
// the stored head keeps "no type" and the hit is not sniffed either.
func TestNoContentTypeAddedFromDisk(t *testing.T) {
	t.Parallel()
	body := "<html><body>" + strings.Repeat("x", 64<<10) + "</body></html>"
	o := untypedOrigin(t, body)
	yaml := fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
cache: {memory: 64MiB, disk: {path: %q}}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, t.TempDir(), o.URL)
	n := leveetest.Start(t, yaml)
	if code, _, h := leveetest.Get(t, n.URL("/d")); code != 200 || h["Content-Type"] != nil {
		t.Fatalf("miss: %d, Content-Type %q", code, h["Content-Type"])
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, m, _ := leveetest.Get(t, n.AdminURL("/metrics")); strings.Contains(m, `levee_cache_objects{tier="disk"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the answer never reached the disk tier")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	asked := o.Requests.Load()
	n2 := leveetest.Start(t, yaml)
	code, got, h := leveetest.Get(t, n2.URL("/d"))
	if code != 200 || got != body || o.Requests.Load() != asked {
		t.Fatalf("after restart: %d, same body %v, origin asked %d more times", code, got == body, o.Requests.Load()-asked)
	}
	if ct, ok := h["Content-Type"]; ok {
		t.Errorf("hit from disk: Content-Type %q added to an answer the origin sent without one", ct)
	}
}

// untypedOrigin answers every request with body, cacheable for ten
// minutes, and no Content-Type.
func untypedOrigin(t *testing.T, body string) *raworigin.Origin {
	return raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: max-age=600\r\n\r\n%s", len(body), body)
		}
	})
}
