package cluster_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"levee/internal/leveetest"
)

func tierYAML(redisURL, name, addr, origin string) string {
	return fmt.Sprintf(`listeners: [{listen: %q}]
log: {access: false}
cluster: {redis: %q, node: %s, advertise: "http://%s", heartbeat: 100ms, member_ttl: 600ms, timeout: 100ms}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, addr, redisURL, name, addr, origin)
}

// The acceptance test of the tiered cache: three nodes, 100 objects each
// requested on every node: the origin sees 100 requests, one per object.
// With an upper tier gone, its objects come from the origin again and no
// request fails.
func TestTieredCacheOneOriginFetchPerObject(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := cachedOrigin(t)
	var nodes []*leveetest.Node
	for i := 1; i <= 3; i++ {
		addr := leveetest.FreeAddrOn(t, fmt.Sprintf("127.0.0.%d", i))
		nodes = append(nodes, leveetest.Start(t, tierYAML(r.URL(), fmt.Sprintf("n%d", i), addr, o.URL)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(clusterStatus(t, n).Members) == 3 })
	}
	for i := range 100 {
		for _, n := range nodes {
			code, body := getHost(t, n.URL(fmt.Sprintf("/t%d", i)))
			if code != http.StatusOK || body != fmt.Sprintf("object /t%d", i) {
				t.Fatalf("GET /t%d: %d %q", i, code, body)
			}
		}
	}
	if got := o.Hits(); got != 100 {
		t.Fatalf("origin saw %d requests for 100 objects on 3 nodes, want 100", got)
	}
	// n3 gone: the others' fills for objects it owned go to the origin.
	_ = nodes[2].Shutdown()
	before := o.Hits()
	for i := range 30 {
		code, _ := getHost(t, nodes[0].URL(fmt.Sprintf("/u%d", i)))
		if code != http.StatusOK {
			t.Fatalf("with an upper tier gone: GET /u%d: %d", i, code)
		}
	}
	if got := o.Hits() - before; got != 30 {
		t.Fatalf("origin saw %d requests for 30 new objects, want 30", got)
	}
}

// getHost is a GET with the site's host name, the same on every node, as
// clients behind one DNS name send it.
func getHost(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = "shop.example"
	res, err := leveetest.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
