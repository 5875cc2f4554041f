package app_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/app"
	"levee/internal/cli"
	"levee/internal/config"
	"levee/internal/leveetest"
)

func baseConfig(origin, marker string) string {
	return fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites:
  - name: t
    hosts: ["*"]
    routes:
      - path: /
        set_headers: {X-Marker: %q}
        origins: [{url: %q}]
`, marker, origin)
}

func markerOrigin(t *testing.T) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Marker"))
	}))
}

// badConfigs are the four kinds of broken config the issue names.
func badConfigs(good string) map[string]string {
	var big strings.Builder
	big.WriteString(good)
	for i := 0; i < 2*config.MaxSites; i++ {
		fmt.Fprintf(&big, "  - {name: s%d, hosts: [h%d.example], routes: [{origins: [{url: 'http://127.0.0.1:1'}]}]}\n", i, i)
	}
	return map[string]string{
		"over a bound": big.String(),
		"truncated":    good[:len(good)*2/3],
		"empty":        "",
		"unknown key":  good + "surprise: true\n",
	}
}

func TestBadConfigsRejectedEverywhere(t *testing.T) {
	o := markerOrigin(t)
	good := baseConfig(o.URL, "v1")
	n := leveetest.Start(t, good)
	gen := n.Generation()
	for name, bad := range badConfigs(good) {
		t.Run(name, func(t *testing.T) {
			// levee validate
			path := filepath.Join(t.TempDir(), "bad.yaml")
			os.WriteFile(path, []byte(bad), 0o600)
			var out, errb bytes.Buffer
			if code := cli.Main([]string{"validate", "-c", path}, &out, &errb); code != cli.ExitUsage {
				t.Errorf("validate exit %d, want %d; stderr %s", code, cli.ExitUsage, errb.String())
			}
			// live reload from file (SIGHUP path)
			before := n.Reloads("rejected")
			n.WriteConfig(bad)
			if err := n.ReloadFile("SIGHUP"); err == nil {
				t.Fatal("file reload accepted")
			}
			if got := n.Reloads("rejected") - before; got != 1 {
				t.Errorf("rejected counter rose by %v, want 1", got)
			}
			// live reload by the admin API
			before = n.Reloads("rejected")
			if code, body := n.PostConfig(bad); code != 422 || !strings.Contains(body, `"applied": false`) {
				t.Errorf("POST /config: %d %s", code, body)
			}
			if got := n.Reloads("rejected") - before; got != 1 {
				t.Errorf("rejected counter rose by %v after POST, want 1", got)
			}
			if n.Generation() != gen {
				t.Errorf("generation changed to %d", n.Generation())
			}
			if status, body, _ := leveetest.Get(t, n.URL("/")); status != 200 || body != "v1" {
				t.Errorf("old generation not serving: %d %q", status, body)
			}
		})
	}
	if c := n.Logs.Count("config rejected"); c != 2*len(badConfigs(good)) {
		t.Errorf("rejections logged %d times, want once each (%d)", c, 2*len(badConfigs(good)))
	}
}

func TestGoodReloadsSwapGeneration(t *testing.T) {
	o := markerOrigin(t)
	n := leveetest.Start(t, baseConfig(o.URL, "v1"))
	if code, body := n.PostConfig(baseConfig(o.URL, "v2")); code != 200 {
		t.Fatalf("POST /config: %d %s", code, body)
	}
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "v2" {
		t.Fatalf("after POST: %q", body)
	}
	n.WriteConfig(baseConfig(o.URL, "v3"))
	if err := n.ReloadFile(app.SourceReload); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "v3" {
		t.Fatalf("after file reload: %q", body)
	}
	_, st, _ := leveetest.Get(t, n.AdminURL("/status"))
	if !strings.Contains(st, `"generation": 3`) {
		t.Errorf("status: %s", st)
	}
	_, cfg, _ := leveetest.Get(t, n.AdminURL("/config"))
	if !strings.Contains(cfg, `"v3"`) {
		t.Errorf("GET /config does not show the active config: %s", cfg)
	}
	_, m, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	if !strings.Contains(m, "levee_config_generation 3") || !strings.Contains(m, `levee_config_reloads_total{result="success"} 3`) {
		t.Errorf("metrics missing generation/reloads")
	}
}

func TestWatchReloadsOnFileChange(t *testing.T) {
	o := markerOrigin(t)
	cfg := func(m string) string {
		return baseConfig(o.URL, m) + "reload: {watch: true, watch_interval: 50ms}\n"
	}
	n := leveetest.Start(t, cfg("v1"))
	n.WriteConfig(cfg("v2"))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, body, _ := leveetest.Get(t, n.URL("/")); body == "v2" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("file change was not picked up; logs:\n%s", n.Logs.String())
}

func TestReloadUnderLoadDropsNothing(t *testing.T) {
	o := markerOrigin(t)
	n := leveetest.Start(t, baseConfig(o.URL, "a"))
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var firstErr atomic.Value
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := leveetest.Client()
			for j := 0; j < 5000; j++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.Get(n.URL("/"))
				if err != nil || res.StatusCode != 200 {
					failed.Add(1)
					if err != nil {
						firstErr.CompareAndSwap(nil, err.Error())
					}
				} else {
					ok.Add(1)
				}
				if res != nil {
					res.Body.Close()
				}
			}
		}()
	}
	// 20 reloads; every other one changes listener-level settings, which
	// swaps the http.Server behind the socket.
	for i := 0; i < 20; i++ {
		time.Sleep(30 * time.Millisecond)
		cfg := baseConfig(o.URL, fmt.Sprintf("m%d", i))
		if i%2 == 1 {
			cfg += fmt.Sprintf("timeouts: {idle: %ds}\n", 60+i)
		}
		if code, body := n.PostConfig(cfg); code != 200 {
			t.Fatalf("reload %d: %s", i, body)
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Fatalf("%d ok, %d failed across 20 reloads (first error %v)", ok.Load(), failed.Load(), firstErr.Load())
	}
	t.Logf("%d requests, 0 failed, across 20 reloads", ok.Load())
}

// A config posted to the admin API is not undone behind the operator's
// back: SIGHUP and the file watch are refused (logged, counted, shown in
// /status) until POST /reload says the file wins.
func TestPostedConfigIsNotSilentlyUndoneByTheFile(t *testing.T) {
	o := markerOrigin(t)
	n := leveetest.Start(t, baseConfig(o.URL, "file-v1")+"reload: {watch: true, watch_interval: 20ms}\n")
	if code, body := n.PostConfig(baseConfig(o.URL, "posted") + "reload: {watch: true, watch_interval: 20ms}\n"); code != 200 {
		t.Fatalf("POST /config: %d %s", code, body)
	}
	_, st, _ := leveetest.Get(t, n.AdminURL("/status"))
	if !strings.Contains(st, `"config_source": "admin"`) || !strings.Contains(st, `"file_reloads_paused": true`) {
		t.Errorf("status does not show the posted config:\n%s", st)
	}
	n.WriteConfig(baseConfig(o.URL, "file-v2"))
	if err := n.ReloadFile("SIGHUP"); !errors.Is(err, app.ErrPostedConfigActive) {
		t.Fatalf("SIGHUP over a posted config: %v", err)
	}
	for i := 0; i < 200 && n.Logs.Count("source\":\"watch") == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n.Logs.Count("source\":\"watch") == 0 {
		t.Errorf("the watch's refusal was not logged:\n%s", n.Logs.String())
	}
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "posted" {
		t.Fatalf("posted config undone: %q", body)
	}
	res, err := http.Post(n.AdminURL("/reload"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("POST /reload: %d", res.StatusCode)
	}
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "file-v2" {
		t.Fatalf("after POST /reload: %q", body)
	}
	if _, st, _ := leveetest.Get(t, n.AdminURL("/status")); !strings.Contains(st, `"file_reloads_paused": false`) {
		t.Errorf("status after POST /reload:\n%s", st)
	}
	n.WriteConfig(baseConfig(o.URL, "file-v3"))
	if err := n.ReloadFile("SIGHUP"); err != nil {
		t.Fatalf("SIGHUP once the file won again: %v", err)
	}
	var out, errb bytes.Buffer
	addr := strings.TrimPrefix(n.AdminURL(""), "http://")
	n.WriteConfig(baseConfig(o.URL, "file-v4"))
	if code := cli.Main([]string{"reload", "--admin", addr}, &out, &errb); code != 0 || !strings.Contains(out.String(), "reloaded: generation") {
		t.Fatalf("levee reload: exit %d %q %q", code, out.String(), errb.String())
	}
	n.WriteConfig("listeners: [oops")
	if code := cli.Main([]string{"reload", "--admin", addr}, &out, &errb); code != cli.ExitUsage {
		t.Fatalf("levee reload of a broken file: exit %d, want %d", code, cli.ExitUsage)
	}
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "file-v4" {
		t.Fatalf("after a rejected reload: %q", body)
	}
}

// The origin pools' counters are the node's: three requests across a
// reload that keeps the pool's settings reuse the one connection dialed.
func TestOriginPoolCountersSurviveReload(t *testing.T) {
	o := markerOrigin(t)
	n := leveetest.Start(t, baseConfig(o.URL, "v1"))
	for i, marker := range []string{"v1", "v1", "v2"} {
		if marker == "v2" {
			if code, body := n.PostConfig(baseConfig(o.URL, "v2")); code != 200 {
				t.Fatalf("POST /config: %d %s", code, body)
			}
		}
		if _, body, _ := leveetest.Get(t, n.URL("/")); body != marker {
			t.Fatalf("request %d: %q, want %q", i, body, marker)
		}
	}
	_, m, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	for _, want := range []string{
		"levee_proxy_origin_dials_total 1",
		`levee_proxy_origin_idle_closed_total{reason="pool_full"} 0`,
		`levee_proxy_origin_idle_closed_total{reason="expired"} 0`,
		`levee_proxy_origin_idle_closed_total{reason="closed_by_origin"} 0`,
		"levee_proxy_stale_retries_total 0",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
