package admin_test

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/admin"
)

// flood sends total GETs to the urls in turn from workers goroutines, as
// fast as they are answered, and counts the statuses.
func flood(t *testing.T, urls []string, token string, total, workers int) (codes map[int]int, elapsed time.Duration) {
	t.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	codes = map[int]int{}
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) || time.Since(start) > 20*time.Second {
					return
				}
				req, _ := http.NewRequest("GET", urls[int(i)%len(urls)], nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				code := 0
				if res, err := client.Do(req); err == nil {
					res.Body.Close()
					code = res.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return codes, time.Since(start)
}

// 1,000 reads of the metrics-backed routes (/metrics, the overview, the
// cache, origins and DNS pages), let through by generous limits, cost at
// most the renders the budget allows: 20 at once, then 10 a second; every
// other read shares the last snapshot. The bound holds by construction,
// whatever the speed of the machine.
func TestMetricsRendersBoundedUnderAPIFlood(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{MaxInflight: 64, PerClientInflight: 64, PerClientRate: 1e6, PerClientBurst: 1e6,
		MaxRate: 1e6, MaxBurst: 1e6})
	urls := []string{s.URL + "/metrics", s.URL + "/api/v1/overview", s.URL + "/api/v1/cache", s.URL + "/api/v1/origins", s.URL + "/api/v1/dns"}
	const total = 1000
	codes, elapsed := flood(t, urls, "", total, 16)
	if codes[200] != total {
		t.Fatalf("answers: %v", codes)
	}
	renders := counterSum(t, s.node.reg, "levee_admin_renders_total", "kind", "gather")
	shared := counterSum(t, s.node.reg, "levee_admin_renders_shared_total", "kind", "gather")
	allowed := 20 + 10*math.Ceil(elapsed.Seconds())
	t.Logf("%d reads in %v: %v fresh renders (allowed %v), %v shared", total, elapsed, renders, allowed, shared)
	if renders < 1 || renders > allowed {
		t.Fatalf("%v fresh renders for %d reads in %v; the budget allows %v", renders, total, elapsed, allowed)
	}
	// The cache page reads the snapshot twice: every read is accounted.
	if renders+shared < total {
		t.Fatalf("%v renders + %v shared snapshots for %d reads", renders, shared, total)
	}
	if text := counterSum(t, s.node.reg, "levee_admin_renders_total", "kind", "text"); text > renders {
		t.Fatalf("%v text renders for %v gathers", text, renders)
	}
}

// The same flood from one client under the default limits: most of it is
// refused at once (429 over the client's rate, 503 over the listener's
// concurrency), and every refusal is counted in
// levee_admin_rejected_total.
func TestAPIFloodRejectionsAreCounted(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	tok := mustToken(t, s.Tokens(), "runaway", "read")
	const total = 1000
	codes, elapsed := flood(t, []string{s.URL + "/api/v1/overview", s.URL + "/metrics"}, tok, total, 16)
	refused := codes[429] + codes[503]
	if codes[200]+refused != total || refused < total/2 {
		t.Fatalf("answers: %v", codes)
	}
	var counted float64
	for _, reason := range []string{"client_rate", "client_inflight", "inflight", "rate", "clients"} {
		counted += counterSum(t, s.node.reg, "levee_admin_rejected_total", "reason", reason)
	}
	if counted != float64(refused) {
		t.Fatalf("%d refusals answered, %v counted (%v)", refused, counted, codes)
	}
	// Only the admitted ones could cost a render, and few did.
	if renders := counterSum(t, s.node.reg, "levee_admin_renders_total", "kind", "gather"); renders > float64(codes[200]) || renders > 20+10*math.Ceil(elapsed.Seconds()) {
		t.Fatalf("%v renders for %d admitted reads", renders, codes[200])
	}
}

// Many clients together are bounded by the listener's own rate: of 1,000
// requests from 50 tokens, each well under its own rate, at most the
// listener's burst plus its rate for the time taken are let through; the
// rest are refused with 503 and counted under reason "rate".
func TestListenerRateBoundsManyClients(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{MaxInflight: 64, PerClientInflight: 64, MaxRate: 50, MaxBurst: 50})
	var toks []string
	for i := range 50 {
		toks = append(toks, mustToken(t, s.Tokens(), fmt.Sprint("client", i), "read"))
	}
	var next atomic.Int64
	var ok, busy atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < 1000 && time.Since(start) < 20*time.Second; i = next.Add(1) - 1 {
				switch st, _, _ := call(t, "GET", s.URL+"/api/v1/status", toks[i%50], ""); st {
				case 200:
					ok.Add(1)
				case 503:
					busy.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	allowed := 50 + 50*math.Ceil(elapsed.Seconds())
	if float64(ok.Load()) > allowed || ok.Load()+busy.Load() != 1000 {
		t.Fatalf("%d let through, %d refused in %v; the listener allows %v", ok.Load(), busy.Load(), elapsed, allowed)
	}
	if counted := counterSum(t, s.node.reg, "levee_admin_rejected_total", "reason", "rate"); counted != float64(busy.Load()) {
		t.Fatalf("%d refused, %v counted", busy.Load(), counted)
	}
}
