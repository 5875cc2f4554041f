package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mdns "github.com/miekg/dns"

	"levee/internal/leveetest"
)

// apiJSON decodes GET url into v.
func apiJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// cell is the text of column col (0-based) of the row whose first cell is
// key, in table id.
func cell(id, key string, col int) string {
	return fmt.Sprintf(`(() => { const r = [...document.querySelectorAll("#%s tr")].find(r => r.dataset.key === %s); return r ? r.children[%d].textContent : ""; })()`,
		id, jsString(key), col)
}

func pageText(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	return leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Evaluate[string](expr))
}

// The cache page shows the figures of the API and /metrics after known
// traffic: two misses and two hits make a 50 % hit ratio, 2 / 4, and the
// memory tier's objects and bytes are the API's.
func TestBrowserCachePageMatchesAPI(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "object "+r.URL.Path)
	}))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}], cache: {}}]}]
`, o.URL))
	for _, p := range []string{"/a", "/a", "/b", "/b"} {
		leveetest.Get(t, n.URL(p))
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/cache.html")))
	waitJS(t, ctx, 10*time.Second, textOf("cache-hit-ratio")+` === "50.0 %" && `+textOf("cache-hits")+` === "2 / 4"`)
	if hits := metricSum(t, n.AdminURL("/metrics"), "levee_cache_requests_total"); hits != 4 {
		t.Fatalf("/metrics: %v cache requests, want 4", hits)
	}
	var api struct {
		Tiers []struct {
			Tier    string  `json:"tier"`
			Objects float64 `json:"objects"`
			Bytes   float64 `json:"bytes"`
		} `json:"tiers"`
	}
	apiJSON(t, n.AdminURL("/api/v1/cache"), &api)
	if len(api.Tiers) == 0 || api.Tiers[0].Tier != "memory" || api.Tiers[0].Bytes == 0 {
		t.Fatalf("API tiers: %+v", api.Tiers)
	}
	mem := api.Tiers[0]
	waitJS(t, ctx, 10*time.Second, cell("cache-tiers", "memory", 1)+` === `+jsString(fmt.Sprint(mem.Objects))+
		` && `+cell("cache-tiers", "memory", 2)+` === `+jsString(fmt.Sprint(mem.Bytes)))
	waitJS(t, ctx, 5*time.Second, cell("cache-results", "hit", 1)+` === "2" && `+cell("cache-results", "miss", 1)+` === "2"`)
	screenshot(t, ctx, "cache")
}

// The origins page shows each origin's health, the pool with no origin
// up in panic mode, and the failover events the API and /metrics count.
func TestBrowserOriginsPageShowsHealthAndFailovers(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	up := leveetest.NewOrigin(t, leveetest.Text("up"))
	const dead = "http://127.0.0.1:1"
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
pools:
- {name: dead, origins: [{url: %q}], health: {active: {path: /, interval: 100ms, timeout: 90ms, rise: 1, fall: 1}}}
- {name: web, origins: [{url: %q}, {url: %q}], health: {active: {path: /, interval: 100ms, timeout: 90ms, rise: 1, fall: 1}}}
sites: [{name: s, hosts: ["*"], routes: [{path: /, pools: [dead, web]}]}]
`, dead, up.URL, dead))
	waitUntil(t, 10*time.Second, "health settled: dead down, web up", func() bool {
		d, known := n.HealthState("dead", dead)
		u, _ := n.HealthState("web", up.URL)
		return known && !d && u
	})
	for range 5 {
		if st, body, _ := leveetest.Get(t, n.URL("/")); st != 200 || body != "up" {
			t.Fatalf("edge: %d %q", st, body)
		}
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/origins.html")))
	waitJS(t, ctx, 10*time.Second, cell("origins-table", "dead", 3)+` === "PANIC" && `+cell("origins-table", "web", 3)+` === "no"`)
	waitJS(t, ctx, 5*time.Second, cell("origins-table", "web", 2)+` === "1 / 2 up" && `+
		cell("origins-table", "web "+up.URL, 2)+` === "up" && `+cell("origins-table", "web "+dead, 2)+` === "down"`)
	var api struct {
		Failovers float64 `json:"failovers"`
	}
	apiJSON(t, n.AdminURL("/api/v1/origins"), &api)
	m := metricSum(t, n.AdminURL("/metrics"), "levee_proxy_failovers_total")
	if api.Failovers < 5 || api.Failovers != m {
		t.Fatalf("failovers: API %v, /metrics %v, want the same and at least 5", api.Failovers, m)
	}
	waitJS(t, ctx, 5*time.Second, textOf("origins-failovers")+` === `+jsString(fmt.Sprint(api.Failovers)))
	screenshot(t, ctx, "origins")
}

// The DNS page shows the zones, the queries /metrics counts after a known
// number, and each steered name with its pool's health.
func TestBrowserDNSPageMatchesMetrics(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	web := leveetest.NewOrigin(t, leveetest.Text("web"))
	zf := filepath.Join(t.TempDir(), "example.com.zone")
	os.WriteFile(zf, []byte(zoneV1), 0o600)
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
pools:
- {name: web, origins: [{url: %q}], health: {active: {path: /, interval: 100ms, timeout: 90ms, rise: 1, fall: 1}}}
sites: [{name: s, hosts: ["*"], routes: [{path: /, pools: [web]}]}]
dns:
  listen: ["127.0.0.1:0"]
  zones:
  - origin: example.com.
    file: %s
    steer: [{name: app, pool: web}]
`, web.URL, zf))
	var addr string
	for _, a := range n.DNSAddrs() {
		addr = a.String()
	}
	const N = 7
	for i := range N {
		m := new(mdns.Msg)
		m.SetQuestion([]string{"app.example.com.", "www.example.com."}[i%2], mdns.TypeA)
		if _, _, err := (&mdns.Client{Timeout: 3 * time.Second}).Exchange(m, addr); err != nil {
			t.Fatal(err)
		}
	}
	if q := metricSum(t, n.AdminURL("/metrics"), "levee_dns_queries_total"); q != N {
		t.Fatalf("/metrics: %v DNS queries, want %d", q, N)
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/dns.html")))
	waitJS(t, ctx, 10*time.Second, textOf("dns-zones")+` === "example.com." && `+textOf("dns-queries")+` === "7"`)
	waitJS(t, ctx, 5*time.Second, cell("dns-steering", "app", 2)+` === "web" && `+cell("dns-steering", "app", 6)+` === "healthy"`)
	var api struct {
		Steered map[string]float64 `json:"steered_answers"`
	}
	apiJSON(t, n.AdminURL("/api/v1/dns"), &api)
	var steered float64
	for state, v := range api.Steered {
		steered += v
		waitJS(t, ctx, 5*time.Second, cell("dns-steered", state, 1)+` === `+jsString(fmt.Sprint(v)))
	}
	if steered < 1 {
		t.Fatalf("no steered answer counted: %v", api.Steered)
	}
	screenshot(t, ctx, "dns")
}

const zoneV1 = `$ORIGIN example.com.
@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ 3600 IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.10
`

// Two applies from the config page make the history show the second's
// diff; roll back applies the version before again, and the next request
// to the edge gets the previous origin's answer.
func TestBrowserConfigHistoryDiffAndRollback(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o1, o2, o3 := leveetest.NewOrigin(t, leveetest.Text("v1")), leveetest.NewOrigin(t, leveetest.Text("v2")), leveetest.NewOrigin(t, leveetest.Text("v3"))
	cfg := func(origin string) string {
		return fmt.Sprintf(`admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, origin)
	}
	n := leveetest.Start(t, cfg(o1.URL))
	// The node listens on port 0; the config posted keeps the addresses it
	// got, as an operator editing the active config would.
	active := func() string { _, body, _ := leveetest.Get(t, n.AdminURL("/api/v1/config")); return body }
	base := active()
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/config.html")))
	waitJS(t, ctx, 10*time.Second, `document.getElementById("config-text").value.includes("listeners:")`)
	for i, o := range []string{o2.URL, o3.URL} {
		next := strings.Replace(base, o1.URL, o, 1)
		leveetest.BrowserDo(t, ctx, 10*time.Second,
			chromedp.SetValue(chromedp.CSS("#config-text"), next),
			chromedp.Click(chromedp.CSS("#config-apply")))
		waitJS(t, ctx, 10*time.Second, textOf("config-result")+`.startsWith("applied")`)
		waitJS(t, ctx, 10*time.Second, textOf("config-active")+` === `+jsString(fmt.Sprint(i+2)))
	}
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "v3" {
		t.Fatalf("after two applies the edge says %q", body)
	}
	// The newest version's diff: the third origin in, the second out.
	waitJS(t, ctx, 10*time.Second, `[...document.querySelectorAll("#config-diff span.add")].some(s => s.textContent.includes(`+jsString(o3.URL)+`))`+
		` && [...document.querySelectorAll("#config-diff span.del")].some(s => s.textContent.includes(`+jsString(o2.URL)+`))`)
	if rows := pageText(t, ctx, `String(document.querySelectorAll("#config-history tr[data-key]").length)`); rows != "3" {
		t.Fatalf("history rows: %s", rows)
	}
	leveetest.BrowserDo(t, ctx, 5*time.Second, chromedp.ScrollIntoView(chromedp.CSS("#config-diff")))
	screenshot(t, ctx, "config-history")
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#config-rollback")))
	waitJS(t, ctx, 10*time.Second, textOf("rollback-result")+` === "rolled back to version 2: now version 4"`)
	if _, body, _ := leveetest.Get(t, n.URL("/")); body != "v2" {
		t.Fatalf("after the rollback the edge says %q, want v2", body)
	}
	waitJS(t, ctx, 10*time.Second, textOf("config-active")+` === "4" && document.getElementById("config-text").value.includes(`+jsString(o2.URL)+`)`)
	screenshot(t, ctx, "config-rolled-back")
	// Validate only: a broken config is refused with its line, nothing applied.
	gen := n.Generation()
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.SetValue(chromedp.CSS("#config-text"), base+"colour: blue\n"),
		chromedp.Click(chromedp.CSS("#config-validate")))
	waitJS(t, ctx, 10*time.Second, `[...document.querySelectorAll("#config-errors li")].some(li => li.textContent.includes("colour: unknown key"))`)
	if n.Generation() != gen {
		t.Fatal("validate applied the config")
	}
}

// The shield page's figures are the API's: after a known number of
// requests over a rate limit, the rate-limit actions shown are those
// counted; the switches page lists the modules and kills one.
func TestBrowserShieldAndSwitchesPages(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, leveetest.Text("hello"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
shield:
  rules: [{name: per-ip, rate: 60/m, burst: 2, key: [ip]}]
`, o.URL))
	limited := 0
	for range 6 {
		if st, _, _ := leveetest.Get(t, n.URL("/")); st == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no request was limited")
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/shield.html")))
	waitJS(t, ctx, 10*time.Second, textOf("shield-ratelimit")+` === `+jsString(fmt.Sprint(limited))+
		` && `+cell("shield-decisions", "ratelimit limited", 2)+` === `+jsString(fmt.Sprint(limited)))
	screenshot(t, ctx, "shield-figures")

	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/switches.html")))
	waitJS(t, ctx, 10*time.Second, cell("modules-table", "waf", 1)+` === "running"`)
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS(`#modules-table tr[data-key="waf"] button`)))
	waitJS(t, ctx, 10*time.Second, cell("modules-table", "waf", 1)+` === "killed" && `+textOf("module-result")+` === "waf killed"`)
	var mods map[string]struct {
		Killed bool `json:"killed"`
	}
	apiJSON(t, n.AdminURL("/api/v1/modules"), &mods)
	if !mods["waf"].Killed {
		t.Fatalf("modules after the kill: %+v", mods)
	}
	screenshot(t, ctx, "switches")
}

// The shield page's waiting-room and admission figures equal the API's
// after known traffic: three visitors queued in a room (held, so none is
// admitted) make a queue of 3 with an estimated wait of 3 minutes at one
// admission a minute; three requests held by a slow origin are the pool's
// 3 in flight under its pinned limit of 8.
func TestBrowserShieldWaitingRoomAndAdmission(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "hello")
	}))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
pools: [{name: web, origins: [{url: %q}]}]
sites:
  - name: s
    hosts: ["*"]
    routes: [{path: /room, pools: [web]}, {path: /, pools: [web]}]
shield:
  admission: {min_limit: 8, max_limit: 8, initial_limit: 8, max_wait: 10s}
  waiting_rooms: [{site: s, route: /room, capacity: 1, admit_per_minute: 1, refresh: 30s, session: 1m, mode: queue}]
`, o.URL))
	// Each visitor without a cookie is a new place in the queue; the
	// room's restart hold (two refreshes, 60 s) admits none of them.
	for i := range 3 {
		if _, _, h := leveetest.Get(t, n.URL("/room")); h.Get("Levee-Queue") != fmt.Sprint(i+1) {
			t.Fatalf("visitor %d: queue place %q, want %d", i+1, h.Get("Levee-Queue"), i+1)
		}
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := leveetest.Client().Get(n.URL("/slow"))
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	t.Cleanup(wg.Wait)
	t.Cleanup(free) // runs before wg.Wait: cleanups run last first
	var api struct {
		Admission map[string]struct {
			Limit    int64 `json:"limit"`
			Inflight int64 `json:"inflight"`
			Queued   int64 `json:"queued"`
		} `json:"admission"`
		Rooms map[string]struct {
			Active int     `json:"active"`
			Queued int     `json:"queued"`
			Wait   float64 `json:"estimated_wait_seconds"`
		} `json:"waiting_rooms"`
	}
	waitUntil(t, 10*time.Second, "three requests in flight at the pool", func() bool {
		apiJSON(t, n.AdminURL("/api/v1/shield"), &api)
		return api.Admission["web"].Inflight == 3
	})
	room, ok := api.Rooms["s/room"]
	if adm := api.Admission["web"]; !ok || room.Queued != 3 || room.Active != 0 || room.Wait != 180 || adm.Limit != 8 || adm.Queued != 0 {
		t.Fatalf("the API after the known traffic: %+v", api)
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/shield.html")))
	waitJS(t, ctx, 15*time.Second, cell("shield-rooms", "s/room", 1)+` === "0" && `+
		cell("shield-rooms", "s/room", 2)+` === "3" && `+cell("shield-rooms", "s/room", 3)+` === "180 s" && `+
		cell("shield-admission", "web", 1)+` === "8" && `+cell("shield-admission", "web", 2)+` === "3" && `+
		cell("shield-admission", "web", 3)+` === "0"`)
	screenshot(t, ctx, "shield-rooms-admission")
}
