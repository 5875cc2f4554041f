package health_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// origin is a loopback origin that can be killed (its port refuses
// connections) and revived on the same port, like a restarted process.
type origin struct {
	t    *testing.T
	addr string
	h    http.Handler
	hits atomic.Int64
	mu   sync.Mutex
	srv  *http.Server
}

func newOrigin(t *testing.T, h http.Handler) *origin {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{t: t, addr: ln.Addr().String(), h: h}
	o.serve(ln)
	t.Cleanup(o.kill)
	return o
}

func (o *origin) URL() string { return "http://" + o.addr }

func (o *origin) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hz" {
			o.hits.Add(1)
		}
		o.h.ServeHTTP(w, r)
	})}
	o.mu.Lock()
	o.srv = srv
	o.mu.Unlock()
	go srv.Serve(ln)
}

func (o *origin) kill() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.srv != nil {
		o.srv.Close()
		o.srv = nil
	}
}

func (o *origin) revive() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", o.addr); err == nil {
			o.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	o.t.Fatalf("cannot listen on %s again: %v", o.addr, err)
}

func text(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
}

func status(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
}

// result is what a load run saw.
type result struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	bodies     map[string]int
}

func (r *result) fail(s string) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.errs) < 5 {
		r.errs = append(r.errs, s)
	}
	r.mu.Unlock()
}

// load runs workers sending GET and HEAD alternately to url until stop is
// closed or each worker has sent max requests. Bounded in count and time.
func load(url string, workers, max int, stop <-chan struct{}) *result {
	res := &result{bodies: map[string]int{}}
	c := leveetest.Client()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range max {
				select {
				case <-stop:
					return
				default:
				}
				method := "GET"
				if (i+w)%2 == 1 {
					method = "HEAD"
				}
				req, _ := http.NewRequest(method, url, nil)
				rs, err := c.Do(req)
				if err != nil {
					res.fail(err.Error())
					continue
				}
				b, _ := io.ReadAll(rs.Body)
				rs.Body.Close()
				if rs.StatusCode != 200 {
					res.fail(fmt.Sprintf("%s: %d %s", method, rs.StatusCode, strings.TrimSpace(string(b))))
					continue
				}
				res.ok.Add(1)
				if method == "GET" {
					res.mu.Lock()
					res.bodies[string(b)]++
					res.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// get sends n sequential GETs and counts the bodies of 200 answers; any
// other answer fails the test.
func get(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	c := leveetest.Client()
	for range n {
		rs, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rs.Body)
		rs.Body.Close()
		if rs.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", url, rs.StatusCode, b)
		}
		out[string(b)]++
	}
	return out
}

// eventually polls cond every 10ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}
