package cache_test

import (
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

func TestMissThenHit(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write([]byte("hello"))
	}))
	n := node(t, o.URL, "", "")
	res, body := get(t, "GET", n.URL("/a"))
	wantStatus(t, res, 200, "fwd=miss; stored")
	if body != "hello" {
		t.Fatalf("body %q", body)
	}
	res, body = get(t, "GET", n.URL("/a"))
	wantStatus(t, res, 200, "levee; hit")
	if body != "hello" || o.Hits() != 1 {
		t.Fatalf("body %q hits %d", body, o.Hits())
	}
	if res.Header.Get("Age") == "" || res.Header.Get("Content-Length") != "5" {
		t.Fatalf("headers %v", res.Header)
	}
}

// The cache's decision is in the access log and the debug header.
func TestDecisionLogged(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("x"))
	}))
	n := leveetest.Start(t, `
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: s, hosts: ["*"], debug_header: true, routes: [{path: /, origins: [{url: "`+o.URL+`"}], cache: {}}]}]
`)
	res, _ := get(t, "GET", n.URL("/d"))
	if !strings.Contains(res.Header.Get("Levee-Debug"), "cache=miss") {
		t.Fatalf("debug %q", res.Header.Get("Levee-Debug"))
	}
	res, _ = get(t, "GET", n.URL("/d"))
	if !strings.Contains(res.Header.Get("Levee-Debug"), "cache=hit") {
		t.Fatalf("debug %q", res.Header.Get("Levee-Debug"))
	}
	if !strings.Contains(n.Access.String(), `"cache":"hit"`) {
		t.Fatalf("access log: %s", n.Access.String())
	}
}

// Trailers of an origin response reach the client through a fill.
func TestTrailersForwarded(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("body"))
		w.Header().Set("X-Checksum", "abc")
	}))
	n := node(t, o.URL, "", "")
	res, body := get(t, "GET", n.URL("/t"))
	if body != "body" || res.Trailer.Get("X-Checksum") != "abc" {
		t.Fatalf("body %q trailer %v", body, res.Trailer)
	}
}
