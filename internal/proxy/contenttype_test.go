package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

// An origin's answer without Content-Type reaches the client without one,
// over HTTP/1.1 and HTTP/2, from the origin and from the cache: an edge
// does not guess a media type the origin did not state (RFC 9110 §8.3
// leaves that to the recipient; nginx, HAProxy and Envoy pass such answers
// as they are). levee's servers sniff one, as net/http does, for a
// handler that sets none; through the proxy an HTML body went out as
// text/html.
func TestNoContentTypeAddedToOriginAnswers(t *testing.T) {
	t.Parallel()
	const body = "<html><body>hi</body></html>"
	o := raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nCache-Control: max-age=60\r\n\r\n%s", len(body), body)
		}
	})
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
