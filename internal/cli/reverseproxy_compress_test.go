package cli

import (
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

// Quick mode compresses only with --compress.
func TestQuickModeCompress(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(strings.Repeat("levee ", 1000)))
	}))
	for _, on := range []bool{true, false} {
		src, err := quickConfig(&quickOptions{from: "127.0.0.1:0", admin: "off", to: []string{o.URL}, compress: on})
		if err != nil {
			t.Fatal(err)
		}
		n := leveetest.Start(t, string(src))
		req, _ := http.NewRequest("GET", n.URL("/"), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != on {
			t.Fatalf("--compress=%v: Content-Encoding %q", on, res.Header.Get("Content-Encoding"))
		}
	}
}
