package cache_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

// newRawOrigin is a TCP origin that answers every request with the same
// bytes: interim responses written by hand, then a final one, as
// net/http's server would not send them.
func newRawOrigin(t *testing.T, answer string) *raworigin.Origin {
	return raworigin.Start(t, func(o *raworigin.Origin) {
		o.Answer = func(*http.Request, int64) string { return answer }
	})
}

const earlyHints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" +
	"HTTP/1.1 102 Processing\r\n\r\n" +
	"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\nbody"

// interimNode starts a node whose one listener uses the given YAML
// options, proxying to origin with the route's cache block.
func interimNode(t *testing.T, listener, origin, routeCache string) *leveetest.Node {
	return leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"%s}]
log: {access: false}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: %s
`, listener, origin, routeCache))
}

// interimGet sends a GET and returns the 1xx responses seen before the
// final one ("103 </style.css>; rel=preload" for each), and the response.
func interimGet(t *testing.T, c *http.Client, url string) ([]string, *http.Response, string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%d %s", code, h.Get("Link")))
		mu.Unlock()
		return nil
	}}
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	mu.Lock()
	defer mu.Unlock()
	return seen, res, string(b)
}

// RFC 9110 15.2: a proxy forwards 1xx responses (103 Early Hints, 102)
// to the client; a cache never stores them, so a hit carries none. Both
// HTTP/1.1 servers and HTTP/2 (h2c), with the cache filling and with it
// off.
func TestInterimResponsesForwarded(t *testing.T) {
	h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: func() *http.Protocols {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		return &p
	}()}}
	servers := []struct {
		name, listener string
		client         *http.Client
	}{
		{"levee-h1", "", leveetest.Client()},
		{"net/http-h1", `, http1: "net/http"`, leveetest.Client()},
		{"h2c", `, h2c: true`, h2c},
	}
	for _, s := range servers {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cache=%v", s.name, cached), func(t *testing.T) {
				o := newRawOrigin(t, earlyHints)
				route := "{}"
				if !cached {
					route = "{enabled: false}"
				}
				nd := interimNode(t, s.listener, o.URL, route)
				seen, res, body := interimGet(t, s.client, nd.URL("/x"))
				want := "103 </style.css>; rel=preload,102 "
				if strings.Join(seen, ",") != want || res.StatusCode != 200 || body != "body" {
					t.Fatalf("interim %q, final %d %q; want interim %q, 200 body", seen, res.StatusCode, body, want)
				}
				if res.Header.Get("Link") != "" {
					t.Fatalf("the 103's Link leaked into the final response: %q", res.Header.Get("Link"))
				}
				if s.name == "h2c" && res.ProtoMajor != 2 {
					t.Fatalf("client spoke %s, want HTTP/2", res.Proto)
				}
				seen, res, body = interimGet(t, s.client, nd.URL("/x"))
				if !cached {
					if len(seen) != 2 || o.Requests.Load() != 2 {
						t.Fatalf("second request: interim %q, origin hits %d", seen, o.Requests.Load())
					}
					return
				}
				if len(seen) != 0 || res.Header.Get("Link") != "" || !strings.Contains(res.Header.Get("Cache-Status"), "hit") ||
					body != "body" || o.Requests.Load() != 1 {
					t.Fatalf("hit: interim %q, Link %q, Cache-Status %q, body %q, origin hits %d", seen,
						res.Header.Get("Link"), res.Header.Get("Cache-Status"), body, o.Requests.Load())
				}
			})
		}
	}
}

// An origin that sends informational responses without end is cut after
// a bound: a 502, not a request held forever.
func TestTooManyInterimResponses(t *testing.T) {
	o := newRawOrigin(t, strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 6)+
		"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 4\r\n\r\nbody")
	nd := interimNode(t, "", o.URL, "{}")
	seen, res, _ := interimGet(t, leveetest.Client(), nd.URL("/x"))
	if res.StatusCode != http.StatusBadGateway || len(seen) != 5 {
		t.Fatalf("status %d after %d interim responses, want 502 after 5", res.StatusCode, len(seen))
	}
}

// No 1xx to an HTTP/1.0 client (RFC 9110 15.2).
func TestNoInterimToHTTP10(t *testing.T) {
	o := newRawOrigin(t, earlyHints)
	for _, l := range []string{"", `, http1: "net/http"`} {
		nd := interimNode(t, l, o.URL, "{enabled: false}")
		c, err := net.Dial("tcp", nd.Addr(""))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /x HTTP/1.0\r\nHost: a\r\n\r\n")
		b, _ := io.ReadAll(c)
		c.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.0 200") && !strings.HasPrefix(string(b), "HTTP/1.1 200") {
			t.Fatalf("listener%s: HTTP/1.0 client got %q", l, b)
		}
	}
}

// A request with a body takes net/http's transport to the origin, not
// the lean HTTP/1 path: its 1xx reach the client too.
func TestInterimResponsesForwardedWithBody(t *testing.T) {
	o := newRawOrigin(t, earlyHints)
	nd := interimNode(t, "", o.URL, "{}")
	var seen []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		seen = append(seen, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequest("POST", nd.URL("/x"), strings.NewReader("payload"))
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := "103 </style.css>; rel=preload,102 "; strings.Join(seen, ",") != want || res.StatusCode != 200 || string(b) != "body" {
		t.Fatalf("POST: interim %q, final %d %q", seen, res.StatusCode, b)
	}
}
