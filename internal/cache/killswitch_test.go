package cache_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/modswitch"
)

// The cache's kill switch written to the file in the data directory
// takes effect within 2 s, with the admin API off: every request goes to
// the origin (cache-off, nothing served or stored); removing the line
// turns the cache back on.
func TestKillSwitchFileWithoutAdminAPI(t *testing.T) {
	var hits atomic.Int64
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write([]byte("hello"))
	}))
	n := leveetest.Start(t, `admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: "`+o.URL+`"}]
        cache: {}
`)
	status := func() string {
		res, _ := get(t, "GET", n.URL("/a"))
		return res.Header.Get("Cache-Status")
	}
	status()
	if cs := status(); !strings.Contains(cs, "hit") {
		t.Fatalf("second request not a hit: %q", cs)
	}
	file := filepath.Join(n.DataDir, modswitch.FileName)
	flip := func(content, want string) {
		t.Helper()
		start := time.Now()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if strings.Contains(status(), want) {
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("the switch took %v, over 2s", took)
				}
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("the switch file %q took no effect within 2.5s", content)
	}
	flip("cache\n", "detail=cache-off")
	before := hits.Load()
	status()
	if hits.Load() != before+1 {
		t.Error("with the cache killed the request did not reach the origin")
	}
	flip("", "hit")
}
