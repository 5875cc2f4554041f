package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"levee/internal/admin"
	"levee/internal/leveetest"
)

// holdsWithin checks cond every 100 ms until it holds, for at most d, and
// reports whether it did: the one wait of these tests, for a page or the
// node to catch up.
func holdsWithin(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// waitUntil fails the test unless cond holds within d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !holdsWithin(d, cond) {
		t.Fatalf("not within %v: %s", d, what)
	}
}

// waitJS fails the test, with the page's text, unless expr is true in the
// page within d.
func waitJS(t *testing.T, ctx context.Context, d time.Duration, expr string) {
	t.Helper()
	var err error
	ok := holdsWithin(d, func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var v bool
		v, err = chromedp.Run(c, chromedp.Evaluate[bool](expr))
		return err == nil && v
	})
	if !ok {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("not true within %v: %s (err %v)\npage text:\n%s", d, expr, err, text)
	}
}

// when set, else in the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := leveetest.BrowserRun(t, ctx, 10*time.Second, chromedp.CaptureScreenshot())
	dir := os.Getenv("LEVEE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot %s is only %d bytes", name, len(png))
	}
	t.Logf("screenshot: %s", path)
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

func textOf(id string) string {
	return `(document.getElementById(` + jsString(id) + `) || {}).textContent`
}

// The overview shows the figures of /metrics: after 9 requests to the
// edge, the page says 9 requests and 9 2xx, as /metrics does; its answer
// carries the strict CSP.
func TestBrowserOverviewMatchesMetrics(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, leveetest.Text("hello"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, o.URL))
	const N = 9
	for range N {
		leveetest.Get(t, n.URL("/"))
	}
	res := leveetest.BrowserRun(t, ctx, 10*time.Second, chromedp.NavigateResponse(n.AdminURL("/ui/")))
	if csp, _ := res.Headers["Content-Security-Policy"].(string); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	waitJS(t, ctx, 10*time.Second, textOf("requests-total")+` === "9" && `+textOf("class-2xx")+` === "9"`)
	if m := metricSum(t, n.AdminURL("/metrics"), "levee_http_requests_total"); m != N {
		t.Fatalf("/metrics says %v requests, the page %d", m, N)
	}
	waitJS(t, ctx, 5*time.Second, textOf("poll-status")+`.startsWith("live")`)
	screenshot(t, ctx, "overview")
}

// A purge from the form makes the next request a miss.
func TestBrowserPurgeFormMakesNextRequestAMiss(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "page")
	}))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}], cache: {}}]}]
`, o.URL))
	cacheStatus := func() string {
		_, _, h := leveetest.Get(t, n.URL("/page"))
		return h.Get("Cache-Status")
	}
	cacheStatus()
	if cs := cacheStatus(); !strings.Contains(cs, "hit") {
		t.Fatalf("second request not a hit: %q", cs)
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.Navigate(n.AdminURL("/ui/cache.html")),
		chromedp.WaitVisible(chromedp.CSS("#purge-form")),
		chromedp.SetValue(chromedp.CSS("#purge-value"), n.URL("/page")),
		chromedp.Click(chromedp.CSS("#purge-submit")))
	waitJS(t, ctx, 10*time.Second, textOf("purge-result")+` === "purged 1 objects"`)
	screenshot(t, ctx, "purge")
	if cs := cacheStatus(); strings.Contains(cs, "hit") || !strings.Contains(cs, "fwd=miss") {
		t.Fatalf("request after the purge: Cache-Status %q, want a miss", cs)
	}
}

// Flipping under-attack in the UI tightens the site's limits: clients
// that were let through now get 429; killing the rate limits from the UI
// lets them through again.
func TestBrowserUnderAttackSwitchChangesWhatClientsGet(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, leveetest.Text("hello"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
shield:
  rules: [{name: per-ip, rate: 60/m, burst: 10, key: [ip]}]
`, o.URL))
	statuses := func(k int) (out []int) {
		for range k {
			st, _, _ := leveetest.Get(t, n.URL("/"))
			out = append(out, st)
		}
		return out
	}
	for _, st := range statuses(3) {
		if st != 200 {
			t.Fatalf("before the switch: %d", st)
		}
	}
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.Navigate(n.AdminURL("/ui/shield.html")))
	waitJS(t, ctx, 10*time.Second, `!!document.querySelector('#attack-site option[value="s"]')`)
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#attack-on")))
	waitJS(t, ctx, 10*time.Second, textOf("attack-state")+` === "s"`)
	screenshot(t, ctx, "shield")
	limited := 0
	for _, st := range statuses(3) {
		if st == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("under attack, no request was limited")
	}
	// The rate-limit kill switch lets them through again.
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.SetValue(chromedp.CSS("#kill-phase"), "ratelimit"),
		chromedp.Click(chromedp.CSS("#kill-on")))
	waitJS(t, ctx, 10*time.Second, textOf("kill-state")+` === "ratelimit"`)
	screenshot(t, ctx, "shield-killed")
	for _, st := range statuses(3) {
		if st != 200 {
			t.Fatalf("with the rate limits killed: %d", st)
		}
	}
}

// A broken config applied in the UI shows its errors with their lines,
// and the running config keeps serving, unchanged.
func TestBrowserBrokenConfigShowsErrorsWithLines(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, leveetest.Text("v1"))
	good := fmt.Sprintf(`admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, o.URL)
	n := leveetest.Start(t, good)
	gen := n.Generation()
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/config.html")))
	waitJS(t, ctx, 10*time.Second, `document.getElementById("config-text").value.includes("listeners:")`)
	broken := strings.Replace(good, "log: {access: false}", "log: {access: false}\ncolour: blue", 1)
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.SetValue(chromedp.CSS("#config-text"), broken),
		chromedp.Click(chromedp.CSS("#config-apply")))
	waitJS(t, ctx, 10*time.Second, `document.querySelectorAll("#config-errors li").length > 0`)
	items := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Evaluate[string](
		`[...document.querySelectorAll("#config-errors li")].map(li => li.textContent).join("\n")`))
	if !strings.Contains(items, `line 4: colour: unknown key`) {
		t.Fatalf("errors shown:\n%s", items)
	}
	screenshot(t, ctx, "config-errors")
	if n.Generation() != gen {
		t.Fatalf("generation moved from %d to %d", gen, n.Generation())
	}
	if st, body, _ := leveetest.Get(t, n.AdminURL("/config")); st != 200 || body != good {
		t.Fatalf("the running config changed:\n%s", body)
	}
	if st, body, _ := leveetest.Get(t, n.URL("/")); st != 200 || body != "v1" {
		t.Fatalf("the edge after the rejection: %d %q", st, body)
	}
}

// On a node with tokens, the UI asks for one, keeps it in an HttpOnly,
// SameSite=Strict cookie, and then shows the overview.
func TestBrowserLoginKeepsTokenInStrictHttpOnlyCookie(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	o := leveetest.NewOrigin(t, leveetest.Text("hello"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, o.URL))
	ts, err := admin.OpenTokens(n.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	secret := mustToken(t, ts, "browser", "read")
	// The node rereads the token file at most once a second.
	waitUntil(t, 5*time.Second, "the API closed by the first token", func() bool {
		st, _, _ := leveetest.Get(t, n.AdminURL("/api/v1/status"))
		return st == 401
	})
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(n.AdminURL("/ui/")))
	waitJS(t, ctx, 10*time.Second, `location.pathname === "/ui/login.html" && !!document.getElementById("login-form")`)
	screenshot(t, ctx, "login")
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.SetValue(chromedp.CSS("#login-token"), "levee_000000000000_wrong"),
		chromedp.Click(chromedp.CSS("#login-submit")))
	waitJS(t, ctx, 10*time.Second, textOf("login-error")+`.includes("not valid")`)
	leveetest.BrowserDo(t, ctx, 10*time.Second,
		chromedp.SetValue(chromedp.CSS("#login-token"), secret),
		chromedp.Click(chromedp.CSS("#login-submit")))
	waitJS(t, ctx, 10*time.Second, `location.pathname === "/ui/" && `+textOf("poll-status")+`.startsWith("live")`)
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{n.AdminURL("/")}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "levee_session" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Value != secret {
		t.Fatalf("session cookie %+v", session)
	}
	if seen := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Evaluate[bool](`document.cookie.includes("levee_session")`)); seen {
		t.Fatal("the page's script can read the session cookie")
	}
}

// With the API answering 500, an open overview page makes at most one
// request per 10 s: each gap between its API requests is 10 s or more.
func TestBrowserBacksOffWhenTheAPIFails(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	s, err := admin.New(admin.Options{Node: newFakeNode(), Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var times []time.Time
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			http.Error(w, `{"error": {"code": "error", "message": "broken on purpose"}}`, http.StatusInternalServerError)
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer hs.Close()
	leveetest.BrowserDo(t, ctx, 10*time.Second, chromedp.Navigate(hs.URL+"/ui/"))
	waitJS(t, ctx, 5*time.Second, textOf("poll-status")+`.includes("retrying")`)
	screenshot(t, ctx, "overview-api-down")
	// Long enough for two backed-off retries at the shortest delays.
	time.Sleep(24 * time.Second)
	leveetest.BrowserDo(t, ctx, 5*time.Second, chromedp.Navigate("about:blank"))
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 2 {
		t.Fatalf("only %d API requests in 24 s: the page stopped retrying", len(times))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 10*time.Second {
			t.Fatalf("API requests %d and %d were %v apart, want at least 10 s (%d requests)", i-1, i, gap, len(times))
		}
	}
	t.Logf("%d API requests in 24 s while the API failed", len(times))
}
