package cache_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/atomicfile"
	"levee/internal/leveetest"
)

// flaky is an origin on a fixed loopback port that can answer normally,
// answer 500, hang past the node's timeout, or refuse connections.
type flaky struct {
	t    testing.TB
	addr string
	mode atomic.Value // "ok", "500", "hang", "down"
	hits atomic.Int64
	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	hang chan struct{}
}

func newFlaky(t testing.TB, h http.HandlerFunc) *flaky {
	f := &flaky{t: t, hang: make(chan struct{})}
	f.mode.Store("ok")
	f.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		switch f.mode.Load() {
		case "500":
			w.WriteHeader(500)
			return
		case "hang":
			select {
			case <-f.hang:
			case <-time.After(5 * time.Second):
			}
			return
		}
		h(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.serve(ln)
	t.Cleanup(func() {
		close(f.hang)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *flaky) serve(ln net.Listener) {
	f.ln = ln
	go f.srv.Serve(ln)
}

// down closes the listener (connections are refused); up reopens it.
func (f *flaky) down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ln.Close()
	f.srv.SetKeepAlivesEnabled(false)
	f.mode.Store("down")
}

func (f *flaky) up() {
	f.mu.Lock()
	defer f.mu.Unlock()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv.SetKeepAlivesEnabled(true)
	f.mode.Store("ok")
	f.serve(ln)
}

func timeoutNode(t testing.TB, origin, top string) *leveetest.Node {
	if top == "" {
		top = "{}"
	}
	return leveetest.Start(t, fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
cache: %s
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        timeouts: {dial: 300ms, response_header: 300ms}
        cache: {}
`, top, "http://"+origin))
}

// Acceptance: with a warm cache, an origin refusing connections, answering
// 500 or timing out yields no 5xx for cached URLs during the grace period,
// each answer marked stale; when it comes back, one fetch per object.
func TestAlwaysOnline(t *testing.T) {
	var version atomic.Int64
	version.Store(1)
	o := newFlaky(t, func(w http.ResponseWriter, r *http.Request) {
		if version.Load() == 1 {
			// Stale on arrival: freshness 1s, already 5s old.
			w.Header().Set("Cache-Control", "max-age=1")
			w.Header().Set("Age", "5")
		} else {
			w.Header().Set("Cache-Control", "max-age=600")
		}
		fmt.Fprintf(w, "v%d %s", version.Load(), r.URL.Path)
	})
	n := timeoutNode(t, o.addr, "")
	paths := []string{"/a", "/b", "/c"}
	for _, p := range paths {
		res, _ := get(t, "GET", n.URL(p))
		wantStatus(t, res, 200, "stored")
	}
	for _, mode := range []string{"500", "hang", "down"} {
		if mode == "down" {
			o.down()
		} else {
			o.mode.Store(mode)
		}
		var wg sync.WaitGroup
		var bad atomic.Int64
		var firstBad atomic.Value
		for i := 0; i < 4; i++ {
			for _, p := range paths {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, body := get(t, "GET", n.URL(p))
					cs := res.Header.Get("Cache-Status")
					if res.StatusCode != 200 || !strings.Contains(cs, "stale") || body != "v1 "+p {
						bad.Add(1)
						firstBad.Store(fmt.Sprintf("%s %s: %d %q %q", mode, p, res.StatusCode, cs, body))
					}
				}()
			}
			wg.Wait()
		}
		if bad.Load() > 0 {
			t.Fatalf("%d bad answers while origin is %s, e.g. %v", bad.Load(), mode, firstBad.Load())
		}
	}
	o.up()
	version.Store(2)
	before := o.hits.Load()
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		for _, p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, body := get(t, "GET", n.URL(p))
				if res.StatusCode != 200 || (body != "v2 "+p && body != "v1 "+p) {
					t.Errorf("after recovery %s: %d %q", p, res.StatusCode, body)
				}
			}()
		}
	}
	wg.Wait()
	if got := o.hits.Load() - before; got != int64(len(paths)) {
		t.Fatalf("origin fetches after recovery: %d, want exactly %d (one per object)", got, len(paths))
	}
	for _, p := range paths {
		res, body := get(t, "GET", n.URL(p))
		wantStatus(t, res, 200, "hit")
		if body != "v2 "+p {
			t.Fatalf("body %q", body)
		}
	}
}

// Without a stored object, an origin failure is still a 5xx, marked.
func TestOriginErrorWithoutStale(t *testing.T) {
	o := newFlaky(t, func(w http.ResponseWriter, r *http.Request) {})
	n := timeoutNode(t, o.addr, "")
	o.down()
	res, _ := get(t, "GET", n.URL("/cold"))
	wantStatus(t, res, 502, "origin-dial")
}

// must-revalidate objects are never served stale by the grace.
func TestGraceRespectsMustRevalidate(t *testing.T) {
	o := newFlaky(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1, must-revalidate")
		w.Header().Set("Age", "5")
		w.Write([]byte("x"))
	})
	n := timeoutNode(t, o.addr, "")
	get(t, "GET", n.URL("/m"))
	o.mode.Store("500")
	res, _ := get(t, "GET", n.URL("/m"))
	if res.StatusCode != 500 {
		t.Fatalf("status %d, want the origin's 500", res.StatusCode)
	}
}

// stale-if-error from the origin works even with the grace turned off.
func TestStaleIfErrorDirective(t *testing.T) {
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" || r.Header.Get("X-Fail") != "" {
			w.WriteHeader(503)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-if-error=600")
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Age", "5")
		w.Write([]byte("x"))
	}))
	n := node(t, o.URL, "{grace: 0s}", "")
	get(t, "GET", n.URL("/s"))
	res, body := get(t, "GET", n.URL("/s"))
	wantStatus(t, res, 200, "stale-if-error")
	if body != "x" {
		t.Fatalf("body %q", body)
	}
}

// Acceptance: 1,000 concurrent requests for one cold object make exactly
// one origin request, and all 1,000 get the full body.
func TestCoalescing1000(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	release := make(chan struct{})
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body[:1000])
		w.(http.Flusher).Flush()
		<-release // the rest comes once every request is waiting
		io.WriteString(w, body[1000:])
	}))
	n := node(t, o.URL, "", "{lock_timeout: 30s}")
	const N = 1000
	cl := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: N, MaxConnsPerHost: N}}
	var wg sync.WaitGroup
	var ok, started atomic.Int64
	for i := 0; i < N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			res, err := cl.Get(n.URL("/big"))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && string(b) == body {
				ok.Add(1)
			}
		}()
	}
	// Let the requests arrive and queue on the fill before it completes.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st := metric(n, "levee_cache_coalesced_total")
		if st >= N-1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if o.Hits() != 1 || ok.Load() != N {
		t.Fatalf("origin hits %d (want 1), full bodies %d of %d", o.Hits(), ok.Load(), N)
	}
}

// Uncacheable responses are remembered (hit-for-miss), so their requests
// reach the origin in parallel instead of one after another.
func TestHitForMissNotSerialised(t *testing.T) {
	var cur, peak atomic.Int64
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("dyn"))
	}))
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/dyn"))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := get(t, "GET", n.URL("/dyn"))
			wantStatus(t, res, 200, "hit-for-miss")
		}()
	}
	wg.Wait()
	if peak.Load() < 2 || o.Hits() != 9 {
		t.Fatalf("peak origin concurrency %d, hits %d: uncacheable requests were serialised", peak.Load(), o.Hits())
	}
}

func diskNode(t testing.TB, origin, dir string) *leveetest.Node {
	return node(t, origin, "", fmt.Sprintf("{disk: {path: %q, max_size: 10MiB}}", dir))
}

// Acceptance: a node restarted with a warm disk tier serves those objects
// without any origin request, stale ones included when the origin is down.
func TestRestartWarmDisk(t *testing.T) {
	dir := t.TempDir()
	o := newFlaky(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stale" {
			w.Header().Set("Cache-Control", "max-age=1")
			w.Header().Set("Age", "5")
		} else {
			w.Header().Set("Cache-Control", "max-age=600")
			w.Header().Set("Vary", "Accept-Encoding")
		}
		w.Write([]byte("disk " + r.URL.Path))
	})
	n1 := diskNode(t, "http://"+o.addr, dir)
	for _, p := range []string{"/a", "/b", "/stale"} {
		get(t, "GET", n1.URL(p))
	}
	if err := n1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	hits := o.hits.Load()
	o.down()
	// A write cut by a crash leaves a temporary; the restart deletes it.
	crashed := filepath.Join(dir, "ab", atomicfile.TempPrefix+"abcdef0123456789-1")
	if err := os.MkdirAll(filepath.Dir(crashed), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crashed, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	n2 := diskNode(t, "http://"+o.addr, dir)
	if _, err := os.Stat(crashed); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary left by a crash still there: %v", err)
	}
	for _, p := range []string{"/a", "/b"} {
		res, body := get(t, "GET", n2.URL(p))
		wantStatus(t, res, 200, "hit")
		if body != "disk "+p {
			t.Fatalf("body %q", body)
		}
	}
	res, body := get(t, "GET", n2.URL("/stale"))
	wantStatus(t, res, 200, "stale")
	if body != "disk /stale" || o.hits.Load() != hits {
		t.Fatalf("body %q, origin hits %d -> %d", body, hits, o.hits.Load())
	}
}

// Acceptance: a corrupted or truncated disk entry is never served.
func TestCorruptDiskEntryNeverServed(t *testing.T) {
	for _, damage := range []string{"flip", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600")
				w.Write([]byte(strings.Repeat("good", 100)))
			}))
			n1 := diskNode(t, o.URL, dir)
			get(t, "GET", n1.URL("/c"))
			n1.Shutdown()
			var files []string
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					files = append(files, p)
				}
				return nil
			})
			if len(files) != 1 {
				t.Fatalf("files %v", files)
			}
			b, _ := os.ReadFile(files[0])
			if damage == "flip" {
				b[len(b)-10] ^= 0xff
			} else {
				b = b[:len(b)-10]
			}
			os.WriteFile(files[0], b, 0o600)
			n2 := diskNode(t, o.URL, dir)
			res, body := get(t, "GET", n2.URL("/c"))
			wantStatus(t, res, 200, "fwd=miss")
			if body != strings.Repeat("good", 100) || o.Hits() != 2 {
				t.Fatalf("served %q, hits %d", body[:8], o.Hits())
			}
			if v := metric(n2, "levee_cache_disk_corrupt_total"); v != 1 {
				t.Fatalf("corrupt counter %v", v)
			}
		})
	}
}

// stale-while-revalidate refreshes in the background exactly once, and the
// refreshed object is then served fresh.
func TestStaleWhileRevalidateRefreshesOnce(t *testing.T) {
	var version atomic.Int64
	release := make(chan struct{})
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := version.Add(1)
		if v == 1 {
			w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=600")
			w.Header().Set("Age", "5")
		} else {
			<-release // hold the refresh while stale answers go out
			w.Header().Set("Cache-Control", "max-age=600")
		}
		fmt.Fprintf(w, "v%d", v)
	}))
	n := node(t, o.URL, "", "")
	get(t, "GET", n.URL("/w"))
	for i := 0; i < 5; i++ {
		res, body := get(t, "GET", n.URL("/w"))
		wantStatus(t, res, 200, "stale-while-revalidate")
		if body != "v1" {
			t.Fatalf("body %q", body)
		}
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := get(t, "GET", n.URL("/w"))
		if body == "v2" {
			wantStatus(t, res, 200, "hit")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background refresh never stored v2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if o.Hits() != 2 {
		t.Fatalf("origin hits %d, want 2 (fill + one refresh)", o.Hits())
	}
}

// Followers get the body as it streams in, before the fill completes.
func TestFollowersStream(t *testing.T) {
	release := make(chan struct{})
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Length", "2000")
		io.WriteString(w, strings.Repeat("a", 1000))
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, strings.Repeat("b", 1000))
	}))
	n := node(t, o.URL, "", "")
	type result struct {
		first []byte
		rest  string
	}
	start := func() chan result {
		ch := make(chan result, 1)
		go func() {
			res, err := leveetest.Client().Get(n.URL("/s"))
			if err != nil {
				ch <- result{}
				return
			}
			defer res.Body.Close()
			first := make([]byte, 1000)
			io.ReadFull(res.Body, first)
			ch <- result{first: first}
			rest, _ := io.ReadAll(res.Body)
			ch <- result{rest: string(rest)}
		}()
		return ch
	}
	leader := start()
	for i := 0; o.Hits() == 0 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	follower := start()
	select {
	case r := <-follower:
		if string(r.first) != strings.Repeat("a", 1000) {
			t.Fatalf("follower's first bytes %q", r.first[:10])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower got nothing while the fill was in progress")
	}
	close(release)
	if r := <-follower; r.rest != strings.Repeat("b", 1000) {
		t.Fatalf("follower's rest: %d bytes", len(r.rest))
	}
	if r := <-leader; string(r.first) != strings.Repeat("a", 1000) {
		t.Fatal("leader's body")
	}
	<-leader
	if o.Hits() != 1 {
		t.Fatalf("origin hits %d", o.Hits())
	}
}

// Objects too large for the memory tier are served from their disk file
// (sendfile), ranges included, and a 304 revalidation is written back.
func TestLargeObjectFromDisk(t *testing.T) {
	body := strings.Repeat("0123456789", 150_000) // 1.5 MB, over the memory tier's per-object cap
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"big"`)
		if r.Header.Get("If-None-Match") == `"big"` {
			w.Header().Set("Cache-Control", "max-age=600")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Age", "5")
		io.WriteString(w, body)
	}))
	dir := t.TempDir()
	n := node(t, o.URL, "", fmt.Sprintf("{memory: 1MiB, disk: {path: %q, max_size: 100MiB}}", dir))
	res, b := get(t, "GET", n.URL("/big"))
	wantStatus(t, res, 200, "stored")
	waitFor(t, func() bool { return metric(n, "levee_cache_objects") >= 1 })
	res, b = get(t, "GET", n.URL("/big"))
	wantStatus(t, res, 200, "fwd-status=304")
	if b != body {
		t.Fatalf("revalidated body: %d bytes", len(b))
	}
	waitFor(t, func() bool {
		res, _ := get(t, "GET", n.URL("/big"), "Range: bytes=10-19")
		return res.Header.Get("Cache-Status") == "levee; hit"
	})
	res, b = get(t, "GET", n.URL("/big"), "Range: bytes=10-19")
	if res.StatusCode != 206 || b != "0123456789" || o.Hits() != 2 {
		t.Fatalf("range from disk: %d %q, hits %d", res.StatusCode, b, o.Hits())
	}
}

// waitFor polls cond for up to 5s: for the disk writer, which is async.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met in 5s")
}

// Both tiers stay within their byte bounds, evicting (and counting) as
// objects arrive.
func TestTiersBounded(t *testing.T) {
	body := strings.Repeat("z", 8<<10)
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		io.WriteString(w, body)
	}))
	dir := t.TempDir()
	n := node(t, o.URL, "", fmt.Sprintf("{memory: 1MiB, disk: {path: %q, max_size: 64KiB}}", dir))
	for i := 0; i < 300; i++ {
		res, _ := get(t, "GET", n.URL(fmt.Sprintf("/o%d", i)))
		if res.StatusCode != 200 {
			t.Fatal(res.StatusCode)
		}
	}
	n.Shutdown() // drains the disk writer
	var onDisk int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				onDisk += fi.Size()
			}
		}
		return nil
	})
	if onDisk > 64<<10 || onDisk == 0 {
		t.Fatalf("disk tier holds %d bytes, bound 64KiB", onDisk)
	}
	waitFor(t, func() bool { return gauge(n, "levee_cache_bytes", "memory") <= 1<<20 })
	if metricLabel(n, "levee_cache_evictions_total", "disk") == 0 || metricLabel(n, "levee_cache_evictions_total", "memory") == 0 {
		t.Fatal("no evictions counted")
	}
}
