package bots_test

import (
	"crypto/sha256"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"levee/internal/bots"
	"levee/internal/leveetest"
)

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

// get sends a request as client (through X-Forwarded-For from a trusted
// loopback proxy) and returns status, body and headers. No redirects.
func get(t *testing.T, u, client, accept, cookie string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept", accept)
	req.Header.Set("Accept-Language", "en")
	req.Header.Set("X-Forwarded-For", client)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var tokenRE = regexp.MustCompile(`data-token="([^"]+)" data-difficulty="(\d+)"`)

func TestChallengeOverHTTP(t *testing.T) {
	var reached atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "origin:"+r.Header.Get(bots.DefaultScoreHeader))
	}))
	defer origin.Close()
	n := leveetest.Start(t, fmt.Sprintf(`listeners:
  - listen: 127.0.0.1:0
trusted_proxies: [127.0.0.1]
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        bots: {challenge_below: 100, difficulty: 8, exempt_paths: [/api/]}
`, origin.URL))

	// A client that does not take HTML gets a short machine-readable 429.
	code, body, h := get(t, n.URL("/page"), "198.51.100.7", "*/*", "")
	if code != http.StatusTooManyRequests || !strings.Contains(body, `"challenge_required"`) || h.Get("Content-Type") != "application/json" {
		t.Fatalf("non-HTML client: %d %s %q", code, h.Get("Content-Type"), body)
	}
	// A browser gets the page: no inline script, a strict CSP.
	code, body, h = get(t, n.URL("/page?q=1"), "198.51.100.7", "text/html", "")
	m := tokenRE.FindStringSubmatch(body)
	if code != http.StatusForbidden || m == nil {
		t.Fatalf("browser: %d %q", code, body)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || regexp.MustCompile(`<script>`).MatchString(body) {
		t.Fatalf("page has inline script or no strict CSP: %q", h.Get("Content-Security-Policy"))
	}
	if reached.Load() != 0 {
		t.Fatalf("challenged clients reached the origin %d times", reached.Load())
	}
	// Exempt paths are not challenged.
	if code, _, _ := get(t, n.URL("/api/x"), "198.51.100.7", "*/*", ""); code != 200 {
		t.Fatalf("exempt path: %d", code)
	}

	tok := html.UnescapeString(m[1])
	d, _ := strconv.Atoi(m[2])
	var counter string
	for i := 0; i < 1<<22; i++ {
		c := strconv.Itoa(i)
		if bots.LeadingZeroBits(sha256.Sum256([]byte(tok+":"+c))) >= d {
			counter = c
			break
		}
	}
	verify := n.URL("/.levee/challenge/verify?t=" + url.QueryEscape(tok) + "&n=" + counter + "&r=" + url.QueryEscape("/page?q=1"))
	code, _, h = get(t, verify, "198.51.100.7", "text/html", "")
	if code != http.StatusSeeOther || h.Get("Location") != "/page?q=1" {
		t.Fatalf("verify: %d %q", code, h.Get("Location"))
	}
	cookie := strings.SplitN(h.Get("Set-Cookie"), ";", 2)[0]
	if !strings.HasPrefix(cookie, bots.DefaultCookie+"=") {
		t.Fatalf("no pass cookie: %q", h.Get("Set-Cookie"))
	}
	// The pass lets the browser through, from anywhere in its /24.
	code, body, _ = get(t, n.URL("/page?q=1"), "198.51.100.99", "text/html", cookie)
	if code != 200 || !strings.HasPrefix(body, "origin:") {
		t.Fatalf("with a pass: %d %q", code, body)
	}
	// The solved challenge cannot be used twice.
	if code, _, _ := get(t, verify, "198.51.100.7", "text/html", ""); code != http.StatusForbidden {
		t.Fatalf("replayed answer: %d, want 403", code)
	}
	// The cookie carried to another /24 is refused.
	if code, body, _ := get(t, n.URL("/page"), "198.51.101.7", "text/html", cookie); code != http.StatusForbidden || !tokenRE.MatchString(body) {
		t.Fatalf("pass from another /24: %d", code)
	}
	// A redirect target off the site is not followed.
	tok2 := tokenRE.FindStringSubmatch(func() string { _, b, _ := get(t, n.URL("/"), "198.51.100.7", "text/html", ""); return b }())[1]
	tok2 = html.UnescapeString(tok2)
	for i := 0; i < 1<<22; i++ {
		c := strconv.Itoa(i)
		if bots.LeadingZeroBits(sha256.Sum256([]byte(tok2+":"+c))) >= d {
			counter = c
			break
		}
	}
	_, _, h = get(t, n.URL("/.levee/challenge/verify?t="+url.QueryEscape(tok2)+"&n="+counter+"&r="+url.QueryEscape("//evil.example/")), "198.51.100.7", "text/html", "")
	if h.Get("Location") != "/" {
		t.Fatalf("open redirect: %q", h.Get("Location"))
	}
	if !strings.Contains(n.Access.String(), `"bots":"`) {
		t.Fatal("no bots decision in the access log")
	}
}
