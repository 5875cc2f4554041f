package compress_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"levee/internal/leveetest"
)

// A response with a strong ETag is encoded once: the next request for it
// is answered from the store (counted), byte for byte the same decoded
// body; a new ETag is encoded afresh; a weak ETag is never stored; and
// store_memory: 0 turns the store off.
func TestStoreOfEncodedBodies(t *testing.T) {
	var version atomic.Int32
	version.Store(1)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := version.Load()
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/weak" {
			w.Header().Set("ETag", fmt.Sprintf(`W/"w%d"`, v))
		} else {
			w.Header().Set("ETag", fmt.Sprintf(`"s%d"`, v))
		}
		w.Write(bytes.Repeat([]byte(fmt.Sprintf("version %d ", v)), 1000))
	}))
	for _, off := range []bool{false, true} {
		store := ""
		if off {
			store = ", store_memory: 0"
		}
		n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
compress: {enabled: true%s}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, store, o.URL))
		version.Store(1)
		hits := func() string {
			_, body, _ := leveetest.Get(t, n.AdminURL("/metrics"))
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "levee_compress_store_hits_total ") {
					return strings.TrimPrefix(l, "levee_compress_store_hits_total ")
				}
			}
			return "absent"
		}
		check := func(path string, v int, wantHits string) {
			t.Helper()
			res, b := fetch(t, n.URL(path), "Accept-Encoding", "br")
			want := bytes.Repeat([]byte(fmt.Sprintf("version %d ", v)), 1000)
			if got := decode(t, res.Header.Get("Content-Encoding"), b); !bytes.Equal(got, want) {
				t.Fatalf("%s v%d (store off %v): decoded body differs", path, v, off)
			}
			if res.Header.Get("Content-Encoding") != "br" || !strings.HasPrefix(res.Header.Get("ETag"), "W/") {
				t.Fatalf("%s: Content-Encoding %q, ETag %q", path, res.Header.Get("Content-Encoding"), res.Header.Get("ETag"))
			}
			if h := hits(); h != wantHits {
				t.Fatalf("%s v%d (store off %v): store hits %s, want %s", path, v, off, h, wantHits)
			}
		}
		if off {
			check("/s", 1, "0")
			check("/s", 1, "0")
			continue
		}
		check("/s", 1, "0")
		check("/s", 1, "1")
		version.Store(2)
		check("/s", 2, "1") // new ETag: encoded again
		check("/s", 2, "2")
		check("/weak", 2, "2")
		check("/weak", 2, "2") // weak ETags are not stored
	}
}
