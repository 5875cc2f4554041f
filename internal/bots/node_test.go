package bots_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/bots"
	"levee/internal/leveetest"
)

// metric reads one unlabelled metric of the node by name.
func metric(t *testing.T, n *leveetest.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			m := mf.Metric[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func botsConfig(origin, features string) string {
	return fmt.Sprintf(`listeners:
  - listen: 127.0.0.1:0
bots:
  features: %s
  watch_interval: 100ms
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        bots: {block_below: 5, log_below: 50}
`, features, origin)
}

// waitFor polls cond every 20ms for at most 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 250; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Test18Nov2025 replays the 18 Nov 2025 outage: under steady load the
// feature file is replaced by one with every row duplicated, twice over
// the bound; then by a truncated file, then an empty one. Each must be
// rejected whole, logged once and counted once, with no 5xx and the old
// file still scoring.
func Test18Nov2025(t *testing.T) {
	var seen sync.Map // score headers the origin received
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get(bots.DefaultScoreHeader), true)
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "features.csv")
	good, _ := bots.Example(200)
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	n := leveetest.Start(t, botsConfig(origin.URL, path))
	if got := metric(t, n, "levee_bots_features"); got != 200 {
		t.Fatalf("features in force = %v, want 200", got)
	}

	var stop atomic.Bool
	var total, fivexx atomic.Int64
	var wg sync.WaitGroup
	client := leveetest.Client()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; i < 100000 && !stop.Load() && time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest("GET", n.URL("/x"), nil)
				req.Header.Set("User-Agent", "curl/8.5.0")
				req.Header.Set("Accept", "*/*")
				req.Header.Set("Accept-Language", "en")
				req.Header.Set("Accept-Encoding", "gzip")
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				total.Add(1)
				if res.StatusCode >= 500 {
					fivexx.Add(1)
				}
			}
		}()
	}
	// A request's score with the good file, to compare after each rejection.
	scoreOf := func() string {
		for i := 0; i < 1000; i++ {
			var s string
			seen.Range(func(k, _ any) bool { s = k.(string); return false })
			if s != "" {
				return s
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("the origin saw no score header")
		return ""
	}
	before := scoreOf()

	bad := map[string][]byte{}
	var dup strings.Builder
	for _, l := range strings.SplitAfter(string(good), "\n") {
		if l == "" || strings.HasPrefix(l, "#end") {
			continue
		}
		dup.WriteString(l)
		if !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "name,") {
			dup.WriteString(l)
		}
	}
	dup.WriteString("#end 400\n")
	bad["duplicated"] = []byte(dup.String())
	bad["truncated"] = good[:len(good)/2]
	bad["empty"] = nil
	for _, name := range []string{"duplicated", "truncated", "empty"} {
		rejected := metric(t, n, "levee_bots_features_rejected_total")
		logsBefore := n.Logs.Count("feature file rejected")
		// Replaced as a generator should: write aside, then rename.
		if err := os.WriteFile(path+".new", bad[name], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
		waitFor(t, name+" file rejected", func() bool { return metric(t, n, "levee_bots_features_rejected_total") > rejected })
		// The same file seen again by a SIGHUP-style reload and the admin
		// API is not counted or logged again.
		src, _ := os.ReadFile(n.ConfigPath)
		if err := n.Apply(n.ConfigPath, src, "signal"); err != nil {
			t.Fatal(err)
		}
		res, err := http.Post(n.AdminURL("/bots/features/reload"), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: admin reload answered %d, want 422", name, res.StatusCode)
		}
		time.Sleep(250 * time.Millisecond) // two more polls of the watcher
		if got := metric(t, n, "levee_bots_features_rejected_total") - rejected; got != 1 {
			t.Errorf("%s: rejection counter rose by %v, want exactly 1", name, got)
		}
		if got := n.Logs.Count("feature file rejected") - logsBefore; got != 1 {
			t.Errorf("%s: %d log lines, want 1", name, got)
		}
		if got := metric(t, n, "levee_bots_features"); got != 200 {
			t.Errorf("%s: features in force = %v, want the old 200", name, got)
		}
		seen.Clear()
		if after := scoreOf(); after != before {
			t.Errorf("%s: score changed from %s to %s: the old file no longer scores", name, before, after)
		}
	}
	stop.Store(true)
	wg.Wait()
	if fivexx.Load() != 0 {
		t.Errorf("%d of %d requests got a 5xx", fivexx.Load(), total.Load())
	}
	if total.Load() == 0 {
		t.Fatal("no load ran")
	}
	t.Logf("%d requests under load, %d 5xx", total.Load(), fivexx.Load())

	// /status shows the file in force and the last rejection.
	_, st, _ := leveetest.Get(t, n.AdminURL("/status"))
	var status struct {
		Extra struct {
			BotFeatures bots.FileStatus `json:"bot_features"`
		} `json:"extra"`
	}
	if err := json.Unmarshal([]byte(st), &status); err != nil {
		t.Fatal(err)
	}
	if f := status.Extra.BotFeatures; f.Path != path || f.Features != 200 || f.LastReject != "file is empty" || f.Version == "" {
		t.Errorf("/status does not show the feature file and its last rejection: %+v", f)
	}

	// A good file afterwards is taken by the admin API at once.
	small, _ := bots.Example(10)
	os.WriteFile(path, small, 0o644)
	res, err := http.Post(n.AdminURL("/bots/features/reload"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || metric(t, n, "levee_bots_features") != 10 {
		t.Fatalf("good file after rejections: status %d, features %v", res.StatusCode, metric(t, n, "levee_bots_features"))
	}
}
