package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// paced sends requests to url at rate per second over d from workers
// goroutines, and returns each latency and the count of each status.
func paced(client *http.Client, url string, rate, workers int, d time.Duration) ([]time.Duration, map[int]int) {
	var mu sync.Mutex
	var lat []time.Duration
	codes := map[int]int{}
	interval := time.Duration(workers) * time.Second / time.Duration(rate)
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := time.Now().Add(time.Duration(w) * interval / time.Duration(workers))
			for next.Before(end) {
				time.Sleep(time.Until(next))
				next = next.Add(interval)
				start := time.Now()
				res, err := client.Get(url)
				code := 0
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					code = res.StatusCode
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, codes
}

func p99(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)*99/100]
}

// 1,000 requests/s of API traffic (one runaway loopback client) against
// the admin listener, beside a steady 200 requests/s to the edge: the
// edge serves every request, and the test reports both p99 figures. The
// machine running the tests is shared, so the figures are reported, not
// asserted.
func TestAdminFloodBesideEdgeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	o := leveetest.NewOrigin(t, leveetest.Text("hello"))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: %q}]}]}]
`, o.URL))
	edge := leveetest.Client()
	const d = 3 * time.Second
	paced(edge, n.URL("/"), 200, 4, 500*time.Millisecond) // warm connections
	base, baseCodes := paced(edge, n.URL("/"), 200, 4, d)

	var flood sync.WaitGroup
	var apiCodes map[int]int
	var apiSent atomic.Int64
	flood.Add(1)
	go func() {
		defer flood.Done()
		lat, codes := paced(leveetest.Client(), n.AdminURL("/api/v1/overview"), 1000, 16, d)
		apiSent.Store(int64(len(lat)))
		apiCodes = codes
	}()
	loaded, loadedCodes := paced(edge, n.URL("/"), 200, 4, d)
	flood.Wait()

	if baseCodes[200] != len(base) || loadedCodes[200] != len(loaded) {
		t.Fatalf("the edge failed requests: %v without, %v with the API flood", baseCodes, loadedCodes)
	}
	if apiCodes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("the runaway API client was never limited: %v", apiCodes)
	}
	b, l := p99(base), p99(loaded)
	t.Logf("edge p99 %v alone, %v beside %d API requests in %v (API answers %v); change %+.1f%%",
		b, l, apiSent.Load(), d, apiCodes, 100*(float64(l)-float64(b))/float64(b))
}
