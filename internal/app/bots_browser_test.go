package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"levee/internal/leveetest"
)

// waitForText polls the page's text until it holds want, for at most d.
func waitForText(t *testing.T, ctx context.Context, want string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for i := 0; time.Since(start) < d && i < 1000; i++ {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := chromedp.Run(c, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		cancel()
		if err == nil {
			last = s
		}
		if strings.Contains(last, want) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page did not show %q within %v; it shows %q", want, d, last)
	return 0
}

// The proof-of-work challenge in a real browser: chromium gets the
// interstitial, solves it in a Web Worker and reaches the origin; a
// client that takes no HTML gets a 429; the browser's pass cookie replayed
// from another /24, or after it expired, is refused. The solve time at
// each difficulty is logged (README of internal/bots quotes it).
func TestBrowserChallenge(t *testing.T) {
	s := browserShop(t, `
listeners: [{listen: "127.0.0.1:0"}]
trusted_proxies: [127.0.0.1]
bots: {pass_ttl: 2s}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - {path: /d8/, origins: [{url: %[1]q}], bots: {challenge_below: 100, difficulty: 8}}
      - {path: /d12/, origins: [{url: %[1]q}], bots: {challenge_below: 100, difficulty: 12}}
      - {path: /d16/, origins: [{url: %[1]q}], bots: {challenge_below: 100, difficulty: 16}}
      - {path: /, origins: [{url: %[1]q}], bots: {challenge_below: 100, difficulty: 12}}
`)
	ctx, n, fromBrowser := s.ctx, s.n, s.fromBrowser

	// curl: the machine-readable refusal, never a page it cannot solve.
	res, err := http.Get(n.URL("/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "challenge_required") {
		t.Fatalf("curl-like client: %d %q", res.StatusCode, body)
	}

	for _, d := range []string{"d8", "d12", "d16"} {
		if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		leveetest.BrowserRun(t, ctx, 10*time.Second, chromedp.Navigate(n.URL("/"+d+"/")))
		waitForText(t, ctx, "Welcome to the shop", 60*time.Second)
		t.Logf("chromium solved difficulty %s and reached the origin in %v", d[1:], time.Since(start).Round(time.Millisecond))
	}
	if fromBrowser.Load() == 0 {
		t.Fatal("the origin saw no request from the browser")
	}
	if loc := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Location()); loc != n.URL("/d16/") {
		t.Fatalf("the browser ended on %q", loc)
	}

	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{n.URL("/")}})
	if err != nil {
		t.Fatal(err)
	}
	var pass *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "levee_pass" {
			pass = c
		}
	}
	if pass == nil || !pass.HTTPOnly {
		t.Fatalf("the browser has no pass cookie: %+v", cookies.Cookies)
	}
	ua := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Evaluate[string](`navigator.userAgent`))
	replay := func(xff string) int {
		req, _ := http.NewRequest("GET", n.URL("/"), nil)
		req.Header.Set("User-Agent", ua)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Cookie", "levee_pass="+pass.Value)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := replay(""); code != http.StatusOK {
		t.Fatalf("the pass from the browser's own address: %d", code)
	}
	if code := replay("198.51.100.7"); code != http.StatusForbidden {
		t.Fatalf("the pass replayed from another /24: %d, want 403 (a new challenge)", code)
	}
	for i := 0; i < 40 && replay("") == http.StatusOK; i++ {
		time.Sleep(100 * time.Millisecond) // the pass lives 2s
	}
	if code := replay(""); code != http.StatusForbidden {
		t.Fatalf("the pass after expiry: %d, want 403", code)
	}
}
