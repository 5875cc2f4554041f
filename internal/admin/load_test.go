package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
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

// floodSeconds is how long each phase of TestAdminFloodBesideEdgeLoad
// runs: 3 s by default, LEVEE_ADMIN_FLOOD_SECONDS (at most 60) for a
// quiet rerun on an idle machine.
func floodSeconds(t *testing.T) time.Duration {
	v := os.Getenv("LEVEE_ADMIN_FLOOD_SECONDS")
	if v == "" {
		return 3 * time.Second
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 60 {
		t.Fatalf("LEVEE_ADMIN_FLOOD_SECONDS=%q: want 1 to 60", v)
	}
	return time.Duration(n) * time.Second
}

// 1,000 requests/s of API traffic (one runaway loopback client, in its own
// process, on the heaviest reads: /metrics and the overview) against the
// admin listener, beside a steady 200 requests/s to the edge: the edge
// serves every request, and the test reports the edge's p99 alone, beside
// the flood, and alone again. What is asserted is what holds by
// construction (TestMetricsRendersBoundedUnderAPIFlood,
// TestAPIFloodRejectionsAreCounted); the p99 figures depend on the
// machine and are reported, not asserted. Rerun quietly with
//
//	LEVEE_ADMIN_FLOOD_SECONDS=20 go test ./internal/admin -run '^TestAdminFloodBesideEdgeLoad$' -v
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
	d := floodSeconds(t)
	paced(edge, n.URL("/"), 200, 4, 500*time.Millisecond) // warm connections
	base, baseCodes := paced(edge, n.URL("/"), 200, 4, d)

	// The flood comes from another process, as a runaway dashboard or
	// script would, so its own cost is not counted against the node.
	ctx, cancel := context.WithTimeout(context.Background(), d+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAdminFloodHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "LEVEE_ADMIN_FLOOD_URL="+n.AdminURL("/api/v1/overview")+" "+n.AdminURL("/metrics"),
		"LEVEE_ADMIN_FLOOD_FOR="+d.String())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	loaded, loadedCodes := paced(edge, n.URL("/"), 200, 4, d)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("flood process: %v\n%s", err, out.String())
	}
	after, afterCodes := paced(edge, n.URL("/"), 200, 4, d)
	var apiSent int
	var apiCodes string
	for _, line := range strings.Split(out.String(), "\n") {
		if _, rest, ok := strings.Cut(line, "FLOOD "); ok {
			fmt.Sscanf(rest, "%d", &apiSent)
			apiCodes = rest
		}
	}

	if baseCodes[200] != len(base) || loadedCodes[200] != len(loaded) || afterCodes[200] != len(after) {
		t.Fatalf("the edge failed requests: %v without, %v with the API flood, %v after", baseCodes, loadedCodes, afterCodes)
	}
	if apiSent < int(d.Seconds())*600 || !strings.Contains(apiCodes, "429:") {
		t.Fatalf("the flood: %q", apiCodes)
	}
	renders := metricSum(t, n.AdminURL("/metrics"), "levee_admin_renders_total")
	b, l, a := p99(base), p99(loaded), p99(after)
	t.Logf("edge p99 %v alone, %v beside the flood, %v alone again (%v per phase; API sent, answers: %s; %v metrics renders in all); change %+.1f%% (noisy on a shared machine)",
		b, l, a, d, apiCodes, renders, 100*(float64(l)-float64(b))/float64(b))
}

// TestAdminFloodHelper is the flood process of TestAdminFloodBesideEdgeLoad.
func TestAdminFloodHelper(t *testing.T) {
	urls := strings.Fields(os.Getenv("LEVEE_ADMIN_FLOOD_URL"))
	if len(urls) == 0 {
		t.Skip("run by TestAdminFloodBesideEdgeLoad")
	}
	d, err := time.ParseDuration(os.Getenv("LEVEE_ADMIN_FLOOD_FOR"))
	if err != nil || d > 60*time.Second {
		t.Fatalf("flood duration %q", os.Getenv("LEVEE_ADMIN_FLOOD_FOR"))
	}
	// Half the rate on each URL, at once: 1,000 requests a second in all.
	var mu sync.Mutex
	var sent int
	codes := map[int]int{}
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, c := paced(leveetest.Client(), u, 1000/len(urls), 8, d)
			mu.Lock()
			defer mu.Unlock()
			sent += len(lat)
			for k, v := range c {
				codes[k] += v
			}
		}()
	}
	wg.Wait()
	fmt.Printf("FLOOD %d %v\n", sent, codes)
}
