package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/leveetest/raworigin"
)

// soakDuration is a minute, the length the issue asks for; -short cuts it.
func soakDuration() time.Duration {
	if testing.Short() {
		return 5 * time.Second
	}
	return 60 * time.Second
}

func soakSite(origin, cache string) string {
	return fmt.Sprintf(`
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites:
  - name: t
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
%s`, origin, cache)
}

// soakResult counts the answers of a load run.
type soakResult struct {
	requests, serverErrors, clientErrors atomic.Int64
	mu                                   sync.Mutex
	firstProblems                        []string
}

func (r *soakResult) problem(s string) {
	r.mu.Lock()
	if len(r.firstProblems) < 5 {
		r.firstProblems = append(r.firstProblems, s)
	}
	r.mu.Unlock()
}

// soakWindow is one cycle of the load: busy, then silent for 0.9 to
// 1.3 s, around the origin's 1 s idle close, so that the pooled origin
// connections all die together or are closed just as a request comes.
const soakWindow = 3 * time.Second

// silentFor returns how long the load keeps quiet from now (0: send).
func silentFor(start time.Time) time.Duration {
	el := time.Since(start)
	idx := el / soakWindow
	silent := 1300*time.Millisecond - time.Duration(idx%5)*100*time.Millisecond
	into := el % soakWindow
	if into < soakWindow-silent {
		return 0
	}
	return soakWindow - into
}

// soak sends steady load to url for d from a few goroutines, 20 to 50
// requests a second while busy (see soakWindow). A quarter of the
// requests are POSTs with a body (the net/http path).
func soak(t *testing.T, url string, d time.Duration) *soakResult {
	t.Helper()
	res := &soakResult{}
	client := leveetest.Client()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 5; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for i := 0; ctx.Err() == nil && i < 100_000; i++ {
				pause := silentFor(start)
				if pause == 0 {
					soakOne(client, url, i, rng.IntN(4) == 0, res)
					pause = time.Duration(60+rng.IntN(100)) * time.Millisecond
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	wg.Wait()
	client.CloseIdleConnections()
	return res
}

func soakOne(client *http.Client, url string, i int, post bool, res *soakResult) {
	var req *http.Request
	if post {
		req, _ = http.NewRequest("POST", fmt.Sprintf("%s/post/%d", url, i), strings.NewReader("form=data"))
	} else {
		req, _ = http.NewRequest("GET", fmt.Sprintf("%s/get/%d", url, i%7), nil)
	}
	res.requests.Add(1)
	r, err := client.Do(req)
	if err != nil {
		res.clientErrors.Add(1)
		res.problem(err.Error())
		return
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	// A stale copy served because the origin failed hides the failure:
	// the load is only clean without them.
	if cs := r.Header.Get("Cache-Status"); strings.Contains(cs, "stale-if-error") {
		res.serverErrors.Add(1)
		res.problem(fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, r.StatusCode, cs))
		return
	}
	if r.StatusCode >= 500 {
		res.serverErrors.Add(1)
		res.problem(fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, r.StatusCode, r.Header.Get("Cache-Status")))
	}
}

func (r *soakResult) check(t *testing.T, originConns int64) {
	t.Helper()
	t.Logf("%d requests, %d origin connections, %d 5xx or stale-if-error, %d client errors", r.requests.Load(), originConns,
		r.serverErrors.Load(), r.clientErrors.Load())
	if r.serverErrors.Load() != 0 || r.clientErrors.Load() != 0 {
		t.Fatalf("%d 5xx or stale-if-error and %d client errors in %d requests; first: %q", r.serverErrors.Load(),
			r.clientErrors.Load(), r.requests.Load(), r.firstProblems)
	}
	if r.requests.Load() < 50 {
		t.Fatalf("only %d requests sent", r.requests.Load())
	}
}

// A minute of steady load through a node to an origin that closes idle
// keep-alive connections after 1 s, as Node.js does after 5 s: no request
// may fail, with the cache (every answer revalidated) or without.
func TestSoakOriginClosingIdleConnections(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, cache string }{
		{"no-cache", ""},
		{"cache", "        cache: {}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := raworigin.Start(t, func(o *raworigin.Origin) { o.IdleClose = time.Second })
			n := leveetest.Start(t, soakSite(o.URL, c.cache))
			res := soak(t, n.URL(""), soakDuration())
			res.check(t, o.Conns.Load())
			if o.Conns.Load() < 4 {
				t.Fatalf("the origin saw %d connections: its idle close was never exercised", o.Conns.Load())
			}
		})
	}
}

// nodeOrigin is a Node.js HTTP server with a 1 s keep-alive timeout.
const nodeOrigin = `
const http = require('http');
let n = 0;
const s = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    n++;
    res.writeHead(200, {'Content-Type': 'text/plain', 'Cache-Control': 'max-age=0, stale-if-error=600',
      'Last-Modified': 'Mon, 02 Jan 2006 15:04:05 GMT'});
    res.end(req.method + ' ' + req.url + ' ' + n);
  });
});
s.keepAliveTimeout = 1000;
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`

// requireProgram skips when name is missing, unless integration tests
// are demanded (LEVEE_REQUIRE_INTEGRATION=1): then it fails.
func requireProgram(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if strings.TrimSpace(os.Getenv("LEVEE_REQUIRE_INTEGRATION")) == "1" {
		t.Fatalf("%s is required (LEVEE_REQUIRE_INTEGRATION=1)", name)
	}
	t.Skipf("%s not installed", name)
	return ""
}

// The same load against a real Node.js origin (keepAliveTimeout 1 s).
func TestSoakNodeOrigin(t *testing.T) {
	t.Parallel()
	node := requireProgram(t, "node")
	script := filepath.Join(t.TempDir(), "origin.js")
	if err := os.WriteFile(script, []byte(nodeOrigin), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
	}()
	var origin string
	select {
	case p := <-port:
		origin = "http://127.0.0.1:" + p
	case <-time.After(10 * time.Second):
		t.Fatal("node origin did not start")
	}
	for _, c := range []struct{ name, cache string }{
		{"no-cache", ""},
		{"cache", "        cache: {}\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := leveetest.Start(t, soakSite(origin, c.cache))
			res := soak(t, n.URL(""), max(soakDuration()/6, 5*time.Second))
			res.check(t, -1)
		})
	}
}
