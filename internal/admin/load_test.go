package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
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

// 1,000 requests/s of API traffic (one runaway loopback client, in its own
// process) against the admin listener, beside a steady 200 requests/s to
// the edge: the
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

	// The flood comes from another process, as a runaway dashboard or
	// script would, so its own cost is not counted against the node.
	ctx, cancel := context.WithTimeout(context.Background(), d+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAdminFloodHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "LEVEE_ADMIN_FLOOD_URL="+n.AdminURL("/api/v1/overview"), "LEVEE_ADMIN_FLOOD_FOR="+d.String())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	loaded, loadedCodes := paced(edge, n.URL("/"), 200, 4, d)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("flood process: %v\n%s", err, out.String())
	}
	var apiSent int
	var apiCodes string
	for _, line := range strings.Split(out.String(), "\n") {
		if _, rest, ok := strings.Cut(line, "FLOOD "); ok {
			fmt.Sscanf(rest, "%d", &apiSent)
			apiCodes = rest
		}
	}

	if baseCodes[200] != len(base) || loadedCodes[200] != len(loaded) {
		t.Fatalf("the edge failed requests: %v without, %v with the API flood", baseCodes, loadedCodes)
	}
	if apiSent < 2000 || !strings.Contains(apiCodes, "429:") {
		t.Fatalf("the flood: %q", apiCodes)
	}
	b, l := p99(base), p99(loaded)
	t.Logf("edge p99 %v alone, %v beside the flood (sent, answers: %s); change %+.1f%%",
		b, l, apiCodes, 100*(float64(l)-float64(b))/float64(b))
}

// TestAdminFloodHelper is the flood process of TestAdminFloodBesideEdgeLoad.
func TestAdminFloodHelper(t *testing.T) {
	url := os.Getenv("LEVEE_ADMIN_FLOOD_URL")
	if url == "" {
		t.Skip("run by TestAdminFloodBesideEdgeLoad")
	}
	d, err := time.ParseDuration(os.Getenv("LEVEE_ADMIN_FLOOD_FOR"))
	if err != nil || d > 10*time.Second {
		t.Fatalf("flood duration %q", os.Getenv("LEVEE_ADMIN_FLOOD_FOR"))
	}
	lat, codes := paced(leveetest.Client(), url, 1000, 16, d)
	fmt.Printf("FLOOD %d %v\n", len(lat), codes)
}
