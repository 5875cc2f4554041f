package cache_test

import (
	"net/http"
	"sync"
	"testing"

	"levee/internal/leveetest"
)

// conditionalOrigin answers 304 to If-None-Match: "v1" and records which
// conditional headers reached it.
type conditionalOrigin struct {
	mu   sync.Mutex
	seen []string // If-None-Match of each request, "" when absent
	cc   string
	etag bool
}

func (o *conditionalOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.seen = append(o.seen, r.Header.Get("If-None-Match"))
	o.mu.Unlock()
	w.Header().Set("Cache-Control", o.cc)
	if o.etag {
		w.Header().Set("ETag", `"v1"`)
	}
	if r.Header.Get("If-None-Match") == `"v1"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write([]byte("body"))
}

func (o *conditionalOrigin) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		return "<none>"
	}
	return o.seen[len(o.seen)-1]
}

// RFC 9111 4.3.1/4.3.2: a cache that must forward a request it cannot
// answer may keep the client's own validators, so the origin answers 304
// instead of the body; that 304 is relayed and not stored as the object.
func TestClientConditionalReachesOriginOnMiss(t *testing.T) {
	org := &conditionalOrigin{cc: "max-age=60", etag: true}
	o := leveetest.NewOrigin(t, org)
	nd := node(t, o.URL, "", "")

	res, body := get(t, "GET", nd.URL("/x"), `If-None-Match: "v1"`)
	if res.StatusCode != 304 || body != "" {
		t.Fatalf("cold conditional GET: %d %q", res.StatusCode, body)
	}
	if org.last() != `"v1"` {
		t.Fatalf("origin saw If-None-Match %q, want the client's", org.last())
	}
	// The 304 was not stored as the object: a plain GET fetches the body.
	res, body = get(t, "GET", nd.URL("/x"))
	wantStatus(t, res, 200, "fwd=miss; stored")
	if body != "body" || org.last() != "" || o.Hits() != 2 {
		t.Fatalf("plain GET after the relayed 304: %q, origin saw %q, hits %d", body, org.last(), o.Hits())
	}
	// Now stored: the cache answers the conditional itself.
	res, _ = get(t, "GET", nd.URL("/x"), `If-None-Match: "v1"`)
	wantStatus(t, res, 304, "hit")
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2", o.Hits())
	}
}

// A stored object without a validator cannot be revalidated: a request
// that must go to the origin (here max-age=0) carries the client's
// validators, and the origin's 304 is relayed, not merged into the
// stored object.
func TestClientConditionalWithoutStoredValidator(t *testing.T) {
	org := &conditionalOrigin{cc: "max-age=60"}
	o := leveetest.NewOrigin(t, org)
	nd := node(t, o.URL, "", "")

	res, _ := get(t, "GET", nd.URL("/x"))
	wantStatus(t, res, 200, "stored")
	res, body := get(t, "GET", nd.URL("/x"), "Cache-Control: max-age=0", `If-None-Match: "v1"`)
	if res.StatusCode != 304 || body != "" {
		t.Fatalf("conditional GET that must revalidate: %d %q (Cache-Status %q)", res.StatusCode, body, res.Header.Get("Cache-Status"))
	}
	if org.last() != `"v1"` {
		t.Fatalf("origin saw If-None-Match %q, want the client's", org.last())
	}
	res, body = get(t, "GET", nd.URL("/x"))
	wantStatus(t, res, 200, "hit")
	if body != "body" {
		t.Fatalf("stored object after a relayed 304: %q", body)
	}
}

// A bypassed request goes to the origin as sent, validators included.
func TestClientConditionalOnBypass(t *testing.T) {
	org := &conditionalOrigin{cc: "max-age=60", etag: true}
	o := leveetest.NewOrigin(t, org)
	nd := node(t, o.URL, "{bypass: {cookies: [session]}}", "")
	res, _ := get(t, "GET", nd.URL("/x"), "Cookie: session=1", `If-None-Match: "v1"`)
	wantStatus(t, res, 304, "fwd=bypass")
	if org.last() != `"v1"` {
		t.Fatalf("origin saw If-None-Match %q", org.last())
	}
}
