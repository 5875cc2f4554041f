package cache_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

// node starts a node with one caching route to origin; extra is YAML
// added under the route's cache: block, top under the top-level cache:.
func node(t testing.TB, origin string, routeCache, top string) *leveetest.Node {
	t.Helper()
	if routeCache == "" {
		routeCache = "{}"
	}
	if top == "" {
		top = "{}"
	}
	y := fmt.Sprintf(`
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
        cache: %s
`, top, origin, routeCache)
	return leveetest.Start(t, y)
}

// get sends a request with extra headers ("Name: value") and returns the
// response with its body read.
func get(t testing.TB, method, url string, hdrs ...string) (*http.Response, string) {
	t.Helper()
	res, b, _ := fetch(t, method, url, hdrs...)
	return res, string(b)
}

// fetch sends a request with extra headers ("Name: value"; Host sets the
// request's host) and returns the response, its body and the error that
// ended reading it (a cut body).
func fetch(t testing.TB, method, url string, hdrs ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdrs {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

func wantStatus(t testing.TB, res *http.Response, code int, cs string) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status %d, want %d (Cache-Status %q)", res.StatusCode, code, res.Header.Get("Cache-Status"))
	}
	if got := res.Header.Get("Cache-Status"); !strings.Contains(got, cs) {
		t.Fatalf("Cache-Status %q, want it to contain %q", got, cs)
	}
}

// metric sums every series of a metric family in the node's registry.
func metric(n *leveetest.Node, name string) float64 {
	mfs, err := n.Metrics().Registry.Gather()
	if err != nil {
		return -1
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// metricLabel sums the series of a metric whose tier label is tier.
func metricLabel(n *leveetest.Node, name, tier string) float64 {
	mfs, _ := n.Metrics().Registry.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tier" && l.GetValue() == tier {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}

func gauge(n *leveetest.Node, name, tier string) float64 { return metricLabel(n, name, tier) }
