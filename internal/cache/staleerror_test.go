package cache_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

// A stale answer given because the origin failed shows in the access log
// (the status served, the origin error and its class) and is counted.
func TestStaleOnErrorIsLoggedAndCounted(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0, stale-if-error=600")
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		fmt.Fprint(w, "v1")
	}))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: true}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, o.URL))
	if res, body := get(t, "GET", n.URL("/a")); res.StatusCode != 200 || body != "v1" {
		t.Fatalf("fill: %d %q", res.StatusCode, body)
	}
	o.Close() // the revalidation now fails to connect
	res, body := get(t, "GET", n.URL("/a"))
	if res.StatusCode != 200 || body != "v1" || !strings.Contains(res.Header.Get("Cache-Status"), "stale-if-error") {
		t.Fatalf("stale: %d %q %q", res.StatusCode, body, res.Header.Get("Cache-Status"))
	}
	var line string
	for _, l := range strings.Split(n.Access.String(), "\n") {
		if strings.Contains(l, "stale_on_error") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, `"status":200`) || !strings.Contains(line, `"error":"origin dial:`) {
		t.Fatalf("access log has no stale-on-error line with status and origin error class:\n%s", n.Access.String())
	}
	mres, err := leveetest.Client().Get(n.AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	if want := `levee_cache_stale_on_error_total{kind="dial",site="s"} 1`; !strings.Contains(string(b), want) {
		t.Fatalf("metrics lack %s", want)
	}
}
