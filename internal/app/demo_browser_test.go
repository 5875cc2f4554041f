package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"levee/internal/demo"
	"levee/internal/leveetest"
)

// `levee demo` in a real browser: the demo origin's page, through an edge
// on the embedded demo config, renders with its title and heading, and the
// edge's response carried an X-Request-Id.
func TestBrowserDemoPage(t *testing.T) {
	ctx := leveetest.StartBrowser(t)
	origin, stop, err := demo.ListenOrigin("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	n := leveetest.Start(t, string(demo.Render(origin, "127.0.0.1:0", "127.0.0.1:0")))

	res := leveetest.BrowserRun(t, ctx, 10*time.Second, chromedp.NavigateResponse(n.URL("/")))
	if res.Status != 200 {
		t.Fatalf("status %d", res.Status)
	}
	var id string
	for k, v := range res.Headers {
		if strings.EqualFold(k, "X-Request-Id") {
			id, _ = v.(string)
		}
	}
	if strings.TrimSpace(id) == "" {
		t.Fatalf("no X-Request-Id in the response headers %v", res.Headers)
	}
	if title := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Title()); title != "levee demo" {
		t.Fatalf("title %q", title)
	}
	if h1 := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Text(chromedp.CSS("h1"))); h1 != "Hello from the demo origin" {
		t.Fatalf("heading %q", h1)
	}
	// The origin saw the request through the edge (it prints the Via the
	// edge added), not directly.
	if p := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Text(chromedp.CSS("p"))); !strings.HasPrefix(p, "Served via ") || strings.HasPrefix(p, "Served via  at") {
		t.Fatalf("paragraph %q: the request did not come through the edge", p)
	}
}
