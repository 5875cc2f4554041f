package bots_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"levee/internal/bots"
	"levee/internal/leveetest"
	"levee/internal/modswitch"
)

// A kill switch set by a file in the data directory, with the admin API
// off, turns bot management off within 2 s; removing the line turns it on.
func TestKillSwitchFileWithoutAdminAPI(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get(bots.DefaultScoreHeader))
	}))
	defer origin.Close()
	n := leveetest.Start(t, fmt.Sprintf(`admin: {listen: "off"}
listeners:
  - listen: 127.0.0.1:0
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        bots: {}
`, origin.URL))
	score := func() string { _, b, _ := leveetest.Get(t, n.URL("/")); return b }
	if score() == "" {
		t.Fatal("no score before the switch")
	}
	file := filepath.Join(n.DataDir, modswitch.FileName)
	flip := func(content, want string) time.Duration {
		start := time.Now()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if got := score(); (want == "") == (got == "") {
				return time.Since(start)
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("the switch (%q) took no effect within 2.5s", content)
		return 0
	}
	took := flip("bots\n", "")
	t.Logf("kill switch by file effective after %v", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("kill switch took %v, over 2s", took)
	}
	flip("", "scored")
}
