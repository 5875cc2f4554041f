package app_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"levee/internal/leveetest"
)

// The waiting room page in a real browser: with the room's one slot held by
// another client, chromium gets the queue page (position 1, the room cookie)
// and the origin sees nothing of it, not even over its self-refreshes; once
// the holder's session lapses, the page lets itself in, without any reload
// from the test, and shows the origin's content.
func TestBrowserWaitingRoom(t *testing.T) {
	s := browserShop(t, `
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites:
  - name: s
    hosts: ["*"]
    routes: [{path: /, origins: [{url: %[1]q}]}]
shield:
  waiting_rooms: [{site: s, route: /, capacity: 1, admit_per_minute: 600, refresh: 1s, session: 2s}]
`)
	ctx, n, o, fromBrowser := s.ctx, s.n, s.o, s.fromBrowser

	// The holder takes the one slot. A fresh room admits nobody for two
	// refreshes (its restart hold), so it polls the queue until admitted,
	// then keeps its session alive until told to stop.
	jar, _ := cookiejar.New(nil)
	holder := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	visit := func() (string, error) {
		res, err := holder.Get(n.URL("/"))
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(res.Body)
		return b.String(), nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := visit()
		if err != nil {
			t.Fatal(err)
		}
		if body == originPage {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder was not admitted within 10s: %q", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				visit()
			}
		}
	}()
	release := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer release()

	// The browser arrives while the slot is held: the queue page.
	leveetest.BrowserRun(t, ctx, 10*time.Second, chromedp.Navigate(n.URL("/")))
	// The queue page refreshes itself, so the text and the emphasised
	// position are read in one evaluation: two queries could straddle a
	// reload and lose their execution context.
	page := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Evaluate[[]string](
		`[document.body ? document.body.innerText : "", (document.querySelector("b") || {}).textContent || ""]`))
	text, pos := page[0], page[1]
	if !strings.Contains(text, "You are in line") || !strings.Contains(text, "Your place in line: 1") ||
		!strings.Contains(text, "Estimated wait: 1s") {
		t.Fatalf("queue page text: %q", text)
	}
	if pos != "1" {
		t.Fatalf("position shown: %q, want 1", pos)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{n.URL("/")}})
	if err != nil {
		t.Fatal(err)
	}
	var room *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "levee_wr" {
			room = c
		}
	}
	if room == nil || room.Value == "" || !room.HTTPOnly || room.Path != "/" {
		t.Fatalf("the browser has no proper room cookie: %+v", cookies.Cookies)
	}
	shot := leveetest.BrowserRun(t, ctx, 10*time.Second, chromedp.CaptureScreenshot())
	file := filepath.Join(t.TempDir(), "queue.png")
	if err := os.WriteFile(file, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, file)

	// Still held for a few of the page's own refreshes: it stays queued and
	// keeps its place, and the origin hears nothing from the browser.
	time.Sleep(2500 * time.Millisecond)
	if text := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Text(chromedp.CSS("body"))); !strings.Contains(text, "Your place in line: 1") {
		t.Fatalf("queue page after refreshes: %q", text)
	}
	if got := fromBrowser.Load(); got != 0 {
		t.Fatalf("the origin saw %d requests from the queued browser", got)
	}
	if got := o.Hits(); got == 0 {
		t.Fatal("the holder's requests never reached the origin") // the counter works
	}

	// The holder leaves; its session (2s) lapses and the page's next
	// refresh admits the browser. Only read the DOM from here on.
	release()
	loaded := time.Now()
	var last string
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := chromedp.Run(c, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		cancel()
		if err == nil {
			last = s
		}
		if strings.Contains(last, "Welcome to the shop") {
			break
		}
		if time.Since(loaded) > 12*time.Second {
			t.Fatalf("the page did not let itself in within 12s; it shows %q", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fromBrowser.Load() == 0 {
		t.Fatal("the page shows the origin's content but the origin saw no request from the browser")
	}
	if loc := leveetest.BrowserRun(t, ctx, 5*time.Second, chromedp.Location()); loc != n.URL("/") {
		t.Fatalf("the page moved to %q", loc)
	}
	t.Logf("admitted %v after the holder left", time.Since(loaded).Round(100*time.Millisecond))
}

// checkPNG fails unless file is a non-empty, decodable PNG image.
func checkPNG(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG (%d bytes): %v", file, len(b), err)
	}
	if r := img.Bounds(); r.Dx() == 0 || r.Dy() == 0 {
		t.Fatalf("screenshot %s is empty: %v", file, r)
	}
}
