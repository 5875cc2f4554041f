package cache_test

import (
	"net/http"
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
