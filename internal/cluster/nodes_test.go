package cluster_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// nodeYAML is a caching node in a cluster on 127.0.0.<ip>.
func nodeYAML(redisURL, name string, ip int, origin string) string {
	return fmt.Sprintf(`listeners: [{listen: "127.0.0.%d:0"}]
log: {access: false}
cluster: {redis: %q, node: %s, heartbeat: 100ms, member_ttl: 600ms, timeout: 100ms}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
        cache: {}
`, ip, redisURL, name, origin)
}

func cachedOrigin(t *testing.T) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, "object %s", r.URL.Path)
	}))
}

func startCluster(t *testing.T, r *leveetest.Redis, origin string) []*leveetest.Node {
	var nodes []*leveetest.Node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, leveetest.Start(t, nodeYAML(r.URL(), fmt.Sprintf("n%d", i), i, origin)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "3 members in /cluster", func() bool { return len(clusterStatus(t, n).Members) == 3 })
	}
	return nodes
}

type statusJSON struct {
	Store   string `json:"store"`
	Members []struct {
		Name string `json:"name"`
	} `json:"members"`
}

func clusterStatus(t testing.TB, n *leveetest.Node) statusJSON {
	var s statusJSON
	res := adminGet(t, n, "/cluster")
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(&s)
	return s
}

func cacheStatus(t *testing.T, url string) string {
	t.Helper()
	code, _, h := leveetest.Get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	return h.Get("Cache-Status")
}

// adminClient is shared by the admin calls of these tests: the admin
// listener bounds its open connections, and a client per call would leave
// one idle connection behind each time.
var adminClient = leveetest.Client()

// adminGet is GET path on n's admin API, as a client that honours the
// admin's per-client rate (20/s): a 429 is retried after a short wait, so
// a read right after a polling loop is not an empty answer.
func adminGet(t testing.TB, n *leveetest.Node, path string) *http.Response {
	t.Helper()
	for try := 0; ; try++ {
		res, err := adminClient.Get(n.AdminURL(path))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusTooManyRequests || try >= 40 {
			return res
		}
		res.Body.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// purgeOn purges through n's admin API, as a client that honours the
// admin's per-client rate would: a 429 is retried after a short wait.
func purgeOn(t *testing.T, n *leveetest.Node, body string) {
	t.Helper()
	for try := 0; ; try++ {
		res, err := adminClient.Post(n.AdminURL("/purge"), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests && try < 40 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("purge: %s", res.Status)
		}
		return
	}
}

const hit = "levee; hit"

// The acceptance test of purges everywhere: a purge on node 1 makes nodes
// 2 and 3 miss within 1 s, p99 over 100 purges. /status shows the members.
func TestPurgeAcrossThreeNodesP99(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := cachedOrigin(t)
	nodes := startCluster(t, r, o.URL)
	var lat []time.Duration
	for i := range 100 {
		path := fmt.Sprintf("/obj%d", i)
		for _, n := range nodes[1:] {
			cacheStatus(t, n.URL(path))
			if cs := cacheStatus(t, n.URL(path)); cs != hit {
				t.Fatalf("warm-up: %q", cs)
			}
		}
		start := time.Now()
		purgeOn(t, nodes[0], fmt.Sprintf(`{"url": %q}`, path))
		for _, n := range nodes[1:] {
			for k := 0; cacheStatus(t, n.URL(path)) == hit; k++ {
				if k > 2000 {
					t.Fatalf("purge %d never reached %s", i, n.URL(""))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[98]
	t.Logf("purge propagation over 100 purges: p50 %s p99 %s max %s", lat[49], p99, lat[99])
	if p99 > time.Second {
		t.Fatalf("p99 %s, want under 1s", p99)
	}
	_, body, _ := leveetest.Get(t, nodes[2].AdminURL("/status"))
	var st struct {
		Extra struct {
			Cluster struct {
				Node    string `json:"node"`
				Members []struct {
					Name string `json:"name"`
				} `json:"members"`
			} `json:"cluster"`
		} `json:"extra"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Extra.Cluster.Node != "n3" || len(st.Extra.Cluster.Members) != 3 {
		t.Fatalf("/status lacks the cluster (%v): %s", err, body)
	}
}

// outage is how long the store stays down in the failure tests; the issue
// asks for 60s, set LEVEE_CLUSTER_OUTAGE=60s for that.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("LEVEE_CLUSTER_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return 3 * time.Second
}

// The store killed under load: no 5xx on any node, the nodes say the
// store is down, a purge made meanwhile reaches the others once the store
// is back, and membership converges without a restart.
func TestStoreKilledUnderLoad(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := cachedOrigin(t)
	nodes := startCluster(t, r, o.URL)
	for _, n := range nodes {
		cacheStatus(t, n.URL("/victim"))
	}
	var bad, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := leveetest.Client()
			for i := 0; i < 1_000_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, err := cl.Get(n.URL(fmt.Sprintf("/load%d-%d", w, i%50)))
				total.Add(1)
				if err != nil || res.StatusCode >= 500 {
					bad.Add(1)
				}
				if err == nil {
					res.Body.Close()
				}
				time.Sleep(2 * time.Millisecond) // bounded load
			}
		}()
	}
	r.Stop()
	for _, n := range nodes {
		eventually(t, 5*time.Second, "store reported down", func() bool { return clusterStatus(t, n).Store == "down" })
	}
	purgeOn(t, nodes[0], `{"url": "/victim"}`)
	time.Sleep(outage(t))
	r.Start()
	for _, n := range nodes {
		eventually(t, 10*time.Second, "store back and 3 members", func() bool {
			s := clusterStatus(t, n)
			return s.Store == "up" && len(s.Members) == 3
		})
	}
	for _, n := range nodes[1:] {
		eventually(t, 10*time.Second, "the purge made during the outage", func() bool { return cacheStatus(t, n.URL("/victim")) != hit })
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d failed or 5xx", total.Load(), bad.Load())
	if bad.Load() != 0 || total.Load() == 0 {
		t.Fatalf("%d of %d requests failed or answered 5xx", bad.Load(), total.Load())
	}
}

// limitedYAML is nodeYAML with a cluster-scoped shield rule keyed by a
// header, so the same client key reaches every node.
func limitedYAML(redisURL, name string, ip int, origin string) string {
	return nodeYAML(redisURL, name, ip, origin) + `shield:
  rules:
    - {name: api, rate: 100/s, burst: 20, scope: cluster, key: ["header:X-Client"]}
`
}

// The acceptance test of global limits through the shield: three nodes,
// one client key, 600 requests/s spread over them, a cluster limit of
// 100/s: over 10s the admitted rate is within 5% of it; the rest are 429s,
// never 5xx.
func TestShieldClusterScopeAcrossThreeNodes(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := leveetest.NewOrigin(t, leveetest.Text("ok"))
	var nodes []*leveetest.Node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, leveetest.Start(t, limitedYAML(r.URL(), fmt.Sprintf("n%d", i), i, o.URL)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(clusterStatus(t, n).Members) == 3 })
	}
	const secs = 10
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(secs * time.Second)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := leveetest.Client()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for time.Now().Before(end) {
				<-tick.C
				req, _ := http.NewRequest(http.MethodGet, n.URL("/x"), nil)
				req.Header.Set("X-Client", "one")
				res, err := cl.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				res.Body.Close()
				switch res.StatusCode {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	want := 100.0 * secs
	t.Logf("admitted %d, limited %d, other %d (%.1f%% of R)", ok.Load(), limited.Load(), other.Load(), 100*float64(ok.Load())/want)
	if other.Load() != 0 {
		t.Fatalf("%d requests failed or got neither 200 nor 429", other.Load())
	}
	if got := float64(ok.Load()); got < 0.95*want || got > 1.05*want {
		t.Fatalf("admitted %g, want %g within 5%%", got, want)
	}
}
