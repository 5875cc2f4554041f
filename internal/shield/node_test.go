package shield_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// smallOrigin is an origin with a fixed latency that serves at most
// maxInflight requests at once; the rest wait (as a small app server's
// worker pool would). It records the most requests it held at once.
type smallOrigin struct {
	*leveetest.Origin
	held, maxHeld atomic.Int64
}

func newSmallOrigin(t *testing.T, latency time.Duration, maxInflight int) *smallOrigin {
	o := &smallOrigin{}
	sem := make(chan struct{}, maxInflight)
	o.Origin = leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := o.held.Add(1)
		defer o.held.Add(-1)
		for {
			m := o.maxHeld.Load()
			if h <= m || o.maxHeld.CompareAndSwap(m, h) {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-sem }()
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", fmt.Sprint(64<<20))
			buf := make([]byte, 64<<10)
			for i := 0; i < 1024; i++ {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
			return
		}
		if r.Method == "POST" {
			io.Copy(io.Discard, r.Body)
		}
		time.Sleep(latency)
		io.WriteString(w, "ok")
	}))
	return o
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address src (127.0.0.2 and up play other machines).
func clientFrom(src string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

func get(c *http.Client, url string, hdr ...string) (int, http.Header, string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b), nil
}

func nodeYAML(origin, shield string) string {
	return fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0", h2c: true}]
log: {access: false}
sites:
  - name: s
    hosts: ["*"]
    routes: [{path: /, origins: [{url: %q}]}]
%s`, origin, shield)
}

func TestNodeRateLimitKillSwitch(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	n := leveetest.Start(t, nodeYAML(o.URL, `
shield:
  rules: [{name: per-ip, key: [ip], rate: 5/s, burst: 5}]
`))
	c := clientFrom("127.0.0.1", 4)
	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		code, h, _, err := get(c, n.URL("/dyn"))
		if err != nil {
			t.Fatal(err)
		}
		codes[code]++
		if code == 429 && h.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if codes[429] < 10 || codes[200] < 5 {
		t.Fatalf("statuses %v: want the burst of 5 through and most of the rest limited", codes)
	}
	res, err := http.Post(n.AdminURL("/shield/kill?phase=all&on=true"), "", nil)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("kill switch: %v %v", res, err)
	}
	for i := 0; i < 20; i++ {
		if code, _, _, _ := get(c, n.URL("/dyn")); code != 200 {
			t.Fatalf("with the shield killed: %d", code)
		}
	}
	_, _, body, _ := get(c, n.AdminURL("/metrics"))
	if !strings.Contains(body, `levee_shield_decisions_total{phase="ratelimit",result="limited"}`) {
		t.Fatal("no rate-limit metric")
	}
}

// An oversized or malformed deny-list file is rejected and the old list
// stays in force.
func TestDenyListFileRejectedKeepsOld(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	dir := t.TempDir()
	deny := filepath.Join(dir, "deny.txt")
	os.WriteFile(deny, []byte("127.0.0.2\n"), 0o600)
	cfg := nodeYAML(o.URL, fmt.Sprintf(`
shield:
  lists: {deny_file: %q, max_entries: 5, max_bytes: 200}
`, deny))
	n := leveetest.Start(t, cfg)
	denied := func() bool {
		code, _, _, err := get(clientFrom("127.0.0.2", 1), n.URL("/"))
		return err != nil || code == 403
	}
	if !denied() {
		t.Fatal("127.0.0.2 is on the deny list but was served")
	}
	if code, _, _, err := get(clientFrom("127.0.0.3", 1), n.URL("/")); err != nil || code != 200 {
		t.Fatalf("127.0.0.3: %d %v", code, err)
	}
	for name, body := range map[string]string{
		"malformed": "127.0.0.9\nnot an address\n",
		"too many":  "127.0.0.9\n127.0.0.10\n127.0.0.11\n127.0.0.12\n127.0.0.13\n127.0.0.14\n",
		"too big":   strings.Repeat("# padding\n", 30) + "127.0.0.9\n",
	} {
		os.WriteFile(deny, []byte(body), 0o600)
		if code, msg := n.PostConfig(cfg); code == 200 {
			t.Fatalf("%s deny file accepted: %s", name, msg)
		}
		if !denied() {
			t.Fatalf("after the %s file was rejected the old list is no longer in force", name)
		}
	}
	os.WriteFile(deny, []byte("127.0.0.9\n"), 0o600)
	if code, msg := n.PostConfig(cfg); code != 200 {
		t.Fatalf("a good file was rejected: %s", msg)
	}
	if denied() {
		t.Fatal("the new list is not in force")
	}
}

func TestConnectionLimitPerIP(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	n := leveetest.Start(t, nodeYAML(o.URL, `
shield:
  connections: {max_per_ip: 4}
`))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		c, err := d.Dial("tcp", n.Addr(""))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Let the node accept the four before the fifth.
	time.Sleep(100 * time.Millisecond)
	c, err := d.Dial("tcp", n.Addr(""))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil && !isReset(err) {
		t.Fatalf("fifth connection from one IP was served: %q %v", b, err)
	}
	if code, _, _, err := get(clientFrom("127.0.0.3", 1), n.URL("/")); err != nil || code != 200 {
		t.Fatalf("another IP: %d %v", code, err)
	}
	held[0].Close()
	time.Sleep(100 * time.Millisecond)
	if code, _, _, err := get(clientFrom("127.0.0.2", 1), n.URL("/")); err != nil || code != 200 {
		t.Fatalf("a freed slot is not reusable: %d %v", code, err)
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "reset") }

// percentile returns the p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// legit sends n requests, a new one every interval (at most 4 at once),
// with Go's own User-Agent, and returns the successes and latencies.
func legit(c *http.Client, url string, n int, every time.Duration) (ok int, lat []time.Duration) {
	return paced(c, url, "", n, every)
}

// With 4 attackers saturating /dyn and a small origin (5 ms, 8 in flight),
// a legitimate client at a modest rate keeps at least 99.9% success.
func TestFloodLegitClient(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	o := newSmallOrigin(t, 5*time.Millisecond, 8)
	n := leveetest.Start(t, nodeYAML(o.URL, `
shield:
  rules: [{name: per-ip, key: [ip], rate: 100/s, burst: 200}]
  connections: {max_per_ip: 64}
  tarpit: 500ms
`))
	url := n.URL("/dyn")
	attackers := 8 // loops per attacking address
	if raceOn {
		attackers = 2
	}
	lc := clientFrom("127.0.0.9", 4)
	// The legitimate client sends 80 req/s, under the per-IP limit.
	_, base := legit(lc, url, 100, 12500*time.Microsecond)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var attack, limited atomic.Int64
	for a := 2; a <= 5; a++ {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", a), 8)
		for i := 0; i < attackers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 100_000 && ctx.Err() == nil; j++ {
					code, _, _, _ := get(c, url)
					attack.Add(1)
					if code == 429 {
						limited.Add(1)
					}
				}
			}()
		}
	}
	time.Sleep(time.Second) // past the attackers' initial bursts
	ok, lat := legit(lc, url, 1000, 12500*time.Microsecond)
	cancel()
	wg.Wait()
	rate := float64(ok) / 1000
	t.Logf("p50/p90/p99 unloaded %v/%v/%v, under attack %v/%v/%v", percentile(base, .5), percentile(base, .9), percentile(base, .99),
		percentile(lat, .5), percentile(lat, .9), percentile(lat, .99))
	t.Logf("legit success %.1f%%, p99 unloaded %v, under attack %v; attackers sent %d, %d limited; origin held at most %d",
		100*rate, percentile(base, .99), percentile(lat, .99), attack.Load(), limited.Load(), o.maxHeld.Load())
	if rate < 0.999 {
		t.Fatalf("legitimate success %.2f%%, want at least 99.9%%", 100*rate)
	}
	if limited.Load() == 0 {
		t.Fatal("the attackers were never limited")
	}
	// With admission on by default, the attackers' bursts wait in levee by
	// turns instead of at the origin in front of the legitimate client.
	if p, b := percentile(lat, .5), percentile(base, .5); p > 3*b+5*time.Millisecond {
		t.Errorf("legit p50 under attack %v, over 3x unloaded (%v) + 5ms: it queued behind the attackers' bursts", p, b)
	}
}

// At 3x origin capacity the admission limit sheds the excess at once with
// 503 + Retry-After, keeps goodput near the origin's maximum and keeps
// the origin's queue short. Bounds are generous: this machine is shared.
// The load comes from one client over 64 connections, a closed loop the
// default wait bound (1s) would absorb by queueing it: the test states the
// short wait an operator of this small origin would choose, so what cannot
// be admitted within it is shed on arrival (by the estimated wait).
func TestAdmissionSheds(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const latency, inflight = 20 * time.Millisecond, 4 // 200 req/s
	o := newSmallOrigin(t, latency, inflight)
	n := leveetest.Start(t, nodeYAML(o.URL, `
shield:
  admission: {initial_limit: 8, min_limit: 2, max_wait: 250ms, keep: {paths: [/healthz]}}
`))
	url := n.URL("/dyn")
	c := clientFrom("127.0.0.1", 64)
	_, base := legit(c, url, 50, 25*time.Millisecond)
	var mu sync.Mutex
	var okLat, shedLat []time.Duration
	badShed := 0
	var wg sync.WaitGroup
	const dur = 4 * time.Second
	tick := time.NewTicker(time.Second / 600) // 3x the origin's 200/s
	start := time.Now()
	for time.Since(start) < dur {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			code, h, _, err := get(c, url)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && code == 200:
				okLat = append(okLat, d)
			case err == nil && code == 503:
				shedLat = append(shedLat, d)
				if h.Get("Retry-After") == "" {
					badShed++
				}
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	goodput := float64(len(okLat)) / dur.Seconds()
	maxRate := float64(inflight) / latency.Seconds()
	t.Logf("goodput %.0f/s of the origin's %.0f/s (%.0f%%); %d shed, shed p99 %v; admitted p99 %v vs unloaded p99 %v; origin held at most %d",
		goodput, maxRate, 100*goodput/maxRate, len(shedLat), percentile(shedLat, .99), percentile(okLat, .99), percentile(base, .99), o.maxHeld.Load())
	if len(shedLat) == 0 || badShed > 0 {
		t.Fatalf("%d shed, %d of them without Retry-After", len(shedLat), badShed)
	}
	if goodput < 0.6*maxRate {
		t.Errorf("goodput %.0f/s, under 60%% of the origin's %.0f/s", goodput, maxRate)
	}
	if p := percentile(shedLat, .5); p > 100*time.Millisecond {
		t.Errorf("median shed answer took %v: shedding must be fast", p)
	}
	if code, _, _, err := get(c, n.URL("/healthz")); err != nil || code != 200 {
		t.Errorf("keep path: %d %v", code, err)
	}
}

// The admin API refuses names the config does not have: a typo in a site or
// room name is a 404 that lists the real ones, never a 204 that switches
// nothing and then shows the typo in GET /shield.
func TestAdminUnknownNamesAre404(t *testing.T) {
	o := newSmallOrigin(t, 0, 100)
	n := leveetest.Start(t, nodeYAML(o.URL, ""))
	post := func(path string) (int, string) {
		res, err := http.Post(n.AdminURL(path), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post("/shield/under-attack?site=nosuch&on=true"); code != 404 || !strings.Contains(body, `no site named "nosuch"; sites: s`) {
		t.Errorf("unknown site: %d %q", code, body)
	}
	if code, body := post("/shield/waiting-room?room=nosuch/&mode=queue"); code != 404 || !strings.Contains(body, `no waiting room named "nosuch/"`) {
		t.Errorf("unknown room: %d %q", code, body)
	}
	if _, _, body, _ := get(http.DefaultClient, n.AdminURL("/shield")); strings.Contains(body, "nosuch") {
		t.Errorf("GET /shield lists an unknown name: %s", body)
	}
	if code, body := post("/shield/under-attack?site=s&on=true"); code != 204 {
		t.Errorf("known site: %d %q", code, body)
	}
}
