package cluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/app"
	"levee/internal/cluster"
	"levee/internal/config/schema"
	"levee/internal/leveetest"
)

// rolloutYAML is a node of a cluster whose rollouts bake for bake.
func rolloutYAML(redisURL, name string, ip int, origin string, bake time.Duration) string {
	return fmt.Sprintf(`listeners: [{listen: "127.0.0.%d:0"}]
log: {access: false}
cluster: {redis: %q, node: %s, heartbeat: 50ms, member_ttl: 600ms, timeout: 100ms,
  rollout: {bake: %s, min_requests: 20}}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, ip, redisURL, name, bake, origin)
}

// pushedYAML is the config an operator pushes: one origin for every node;
// listeners, admin and cluster stay each node's own.
func pushedYAML(origin, extra string) string {
	return fmt.Sprintf(`listeners: [{listen: "127.0.0.1:8080"}]
log: {access: false}
%ssites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, extra, origin)
}

func textOrigin(t *testing.T, body string) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, body)
	}))
}

// deadOrigin is an address nothing listens on any more.
func deadOrigin(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func startRolloutCluster(t *testing.T, r *leveetest.Redis, origin string, bake time.Duration) []*leveetest.Node {
	var nodes []*leveetest.Node
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, leveetest.Start(t, rolloutYAML(r.URL(), fmt.Sprintf("n%d", i), i, origin, bake)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(clusterStatus(t, n).Members) == 3 })
	}
	return nodes
}

func pusher(r *leveetest.Redis, bake time.Duration) *cluster.Config {
	c := &cluster.Config{Redis: r.URL()}
	c.SetDefaults()
	c.Rollout.Bake = schema.Duration(bake)
	c.Rollout.MinRequests = 20
	return c
}

type configStatus struct {
	Config struct {
		Applied  int64         `json:"applied"`
		Rejected int64         `json:"rejected"`
		Reason   string        `json:"reason"`
		Plan     *cluster.Plan `json:"rollout"`
	} `json:"config"`
}

func rolloutStatus(t *testing.T, n *leveetest.Node) configStatus {
	t.Helper()
	var s configStatus
	res := adminGet(t, n, "/cluster")
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(&s)
	return s
}

// planState is the rollout state n last read ("" before it read one).
func planState(t *testing.T, n *leveetest.Node) string {
	if p := rolloutStatus(t, n).Config.Plan; p != nil {
		return p.State
	}
	return ""
}

// load sends requests to every node until stop, counting 5xx per node.
type load struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	errors []atomic.Int64
	ok     []atomic.Int64
}

func startLoad(t *testing.T, nodes []*leveetest.Node) *load {
	l := &load{stop: make(chan struct{}), errors: make([]atomic.Int64, len(nodes)), ok: make([]atomic.Int64, len(nodes))}
	cl := leveetest.Client()
	for i, n := range nodes {
		url := n.URL("/x")
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for k := 0; k < 100000; k++ {
				select {
				case <-l.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				res, err := cl.Get(url)
				if err != nil {
					continue
				}
				res.Body.Close()
				if res.StatusCode >= 500 {
					l.errors[i].Add(1)
				} else {
					l.ok[i].Add(1)
				}
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// The 18 Nov lesson: a config that breaks its canary (every request to a
// dead origin) is rolled back automatically and never reaches the others.
func TestRolloutBadCanaryRolledBackAutomatically(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := textOrigin(t, "A")
	nodes := startRolloutCluster(t, r, o.URL, 30*time.Second)
	l := startLoad(t, nodes)
	p, err := cluster.Push(pusher(r, 30*time.Second), []byte(pushedYAML(deadOrigin(t), "")), cluster.PushOptions{Canaries: []string{"n1"}, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) == 0 || len(p.Stages[0]) != 1 || p.Stages[0][0] != "n1" {
		t.Fatalf("stages %v, want n1 first", p.Stages)
	}
	eventually(t, 10*time.Second, "the bad version rolled back", func() bool {
		pl := rolloutStatus(t, nodes[1]).Config.Plan
		return pl != nil && pl.Kind == cluster.KindRollback && pl.Of == p.Version
	})
	rb := rolloutStatus(t, nodes[1]).Config.Plan
	if !strings.Contains(rb.Reason, "5xx rate") {
		t.Errorf("rollback reason %q, want the canary's 5xx rate", rb.Reason)
	}
	eventually(t, 5*time.Second, "n1 serves again", func() bool {
		code, body, _ := leveetest.Get(t, nodes[0].URL("/x"))
		return code == 200 && body == "A"
	})
	l.end()
	for i, n := range nodes[1:] {
		if got := l.errors[i+1].Load(); got != 0 {
			t.Errorf("n%d answered %d 5xx: the bad version reached it", i+2, got)
		}
		if s := n.Logs.String(); strings.Contains(s, fmt.Sprintf(`"msg":"cluster: config version active","version":%d,`, p.Version)) ||
			strings.Contains(s, `"source":"cluster"`) {
			t.Errorf("n%d activated the bad version %d:\n%s", i+2, p.Version, s)
		}
		// n2 saw the rollback first; the others apply it on their next poll.
		eventually(t, 5*time.Second, fmt.Sprintf("n%d runs the rollback %d", i+2, rb.Version), func() bool {
			return rolloutStatus(t, n).Config.Applied == rb.Version
		})
	}
	if l.errors[0].Load() == 0 {
		t.Error("the canary never answered 5xx: the test did not break it")
	}
}

// A version a node refuses (a key this node does not know, as from a
// newer pusher) is rejected on the canary, reported, and never activated
// anywhere; the next good version goes through every stage to every node.
func TestRolloutInvalidVersionNeverActivates(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := textOrigin(t, "A")
	nodes := startRolloutCluster(t, r, o.URL, 200*time.Millisecond)
	cfg := pusher(r, 200*time.Millisecond)
	bad, err := cluster.Push(cfg, []byte(pushedYAML(o.URL, "no_such_section: {x: 1}\n")), cluster.PushOptions{By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the version rejected", func() bool {
		pl := rolloutStatus(t, nodes[0]).Config.Plan
		return pl != nil && pl.Version == bad.Version && pl.State == cluster.StateRejected
	})
	pl := rolloutStatus(t, nodes[0]).Config.Plan
	if !strings.Contains(pl.Reason, "no_such_section") || !strings.Contains(pl.Reason, bad.Stages[0][0]) {
		t.Errorf("reason %q: want the canary's name and the key it refused", pl.Reason)
	}
	for i, n := range nodes {
		st := rolloutStatus(t, n).Config
		if st.Applied != 0 {
			t.Errorf("n%d runs version %d", i+1, st.Applied)
		}
		if want := fmt.Sprintf("n%d", i+1) == bad.Stages[0][0]; want != (st.Rejected == bad.Version) {
			t.Errorf("n%d rejected %d (canary %s)", i+1, st.Rejected, bad.Stages[0][0])
		}
	}
	o2 := textOrigin(t, "B")
	good, err := cluster.Push(cfg, []byte(pushedYAML(o2.URL, "")), cluster.PushOptions{By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if good.Previous != 0 {
		t.Errorf("previous %d: a rejected version is never the last good one", good.Previous)
	}
	eventually(t, 10*time.Second, "every stage done", func() bool {
		pl := rolloutStatus(t, nodes[2]).Config.Plan
		return pl != nil && pl.Version == good.Version && pl.State == cluster.StateDone
	})
	for i, n := range nodes {
		if code, body, _ := leveetest.Get(t, n.URL("/")); code != 200 || body != "B" {
			t.Errorf("n%d: %d %q, want the pushed origin's B", i+1, code, body)
		}
	}
}

// A push while the store is down fails at once and says so.
func TestPushWithStoreDownFailsClearly(t *testing.T) {
	r := leveetest.StartRedis(t)
	r.Stop()
	start := time.Now()
	_, err := cluster.Push(pusher(r, time.Second), []byte(pushedYAML("http://127.0.0.1:1", "")), cluster.PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the cluster store") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err %v, want a clear store-down error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

// A node that restarts while the store is down comes up on the last
// cluster version it ran, not on its file.
func TestNodeStartsOnLastVersionWithStoreDown(t *testing.T) {
	r := leveetest.StartRedis(t)
	a, b := textOrigin(t, "A"), textOrigin(t, "B")
	n := leveetest.Start(t, rolloutYAML(r.URL(), "solo", 1, a.URL, 10*time.Millisecond))
	p, err := cluster.Push(pusher(r, 10*time.Millisecond), []byte(pushedYAML(b.URL, "")), cluster.PushOptions{Fast: true, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the version active", func() bool { return rolloutStatus(t, n).Config.Applied == p.Version })
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	logs := &leveetest.SyncBuffer{}
	n2 := app.New(app.Options{ConfigPath: n.ConfigPath, DataDir: n.DataDir, Log: logs, Access: &leveetest.SyncBuffer{}, Version: "test"})
	if err := n2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.Shutdown() })
	var url string
	for _, ad := range n2.Addrs() {
		url = "http://" + ad.String() + "/"
	}
	eventually(t, 5*time.Second, "serving the pushed version", func() bool {
		code, body, _ := leveetest.Get(t, url)
		return code == 200 && body == "B"
	})
	eventually(t, 2*time.Second, "the logs say it runs the last version", func() bool {
		return strings.Contains(logs.String(), `"from":"last-known-good"`)
	})
}

// The operator's pause holds the rollout at its stage; resume lets it go
// on; rollback brings every node back to its own config (nothing was good
// before the first push), under a new version number.
func TestOperatorPauseResumeRollback(t *testing.T) {
	r := leveetest.StartRedis(t)
	a, b := textOrigin(t, "A"), textOrigin(t, "B")
	nodes := startRolloutCluster(t, r, a.URL, 300*time.Millisecond)
	cfg := pusher(r, 300*time.Millisecond)
	p, err := cluster.Push(cfg, []byte(pushedYAML(b.URL, "")), cluster.PushOptions{Canaries: []string{"n1"}, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Control(cfg, "pause", "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the canary on the version", func() bool { return rolloutStatus(t, nodes[0]).Config.Applied == p.Version })
	time.Sleep(time.Second) // three bakes' time: a running rollout would have moved on
	for _, n := range nodes[1:] {
		if st := rolloutStatus(t, n).Config; st.Applied != 0 || st.Plan == nil || st.Plan.State != cluster.StatePaused || st.Plan.Stage != 0 {
			t.Fatalf("paused rollout moved: applied %d, plan %+v", st.Applied, st.Plan)
		}
	}
	if _, err := cluster.Push(cfg, []byte(pushedYAML(a.URL, "")), cluster.PushOptions{}); !errors.Is(err, cluster.ErrRolloutInProgress) {
		t.Fatalf("push over a paused rollout: %v, want ErrRolloutInProgress", err)
	}
	if _, err := cluster.Control(cfg, "resume", "test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "done", func() bool { return planState(t, nodes[2]) == cluster.StateDone })
	rb, err := cluster.Control(cfg, "rollback", "test")
	if err != nil {
		t.Fatal(err)
	}
	if rb.Version <= p.Version || rb.Of != p.Version {
		t.Fatalf("rollback plan %+v", rb)
	}
	for i, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("n%d back on its own config", i+1), func() bool {
			code, body, _ := leveetest.Get(t, n.URL("/"))
			return code == 200 && body == "A" && rolloutStatus(t, n).Config.Applied == rb.Version
		})
	}
	if got := r.Do("XLEN", "{levee}:config-audit"); got != ":4" {
		t.Errorf("audit entries %s, want push, pause, resume, rollback", got)
	}
}

func moduleKilled(t *testing.T, n *leveetest.Node, name string) bool {
	t.Helper()
	res := adminGet(t, n, "/modules")
	defer res.Body.Close()
	var st map[string]struct {
		Killed bool `json:"killed"`
	}
	_ = json.NewDecoder(res.Body).Decode(&st)
	return st[name].Killed
}

// Kill switches travel the same path as configs: pushed, validated on each
// node, written to its kill switch file, rolled back with the version.
func TestKillSwitchesRollOutAndBack(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := textOrigin(t, "A")
	nodes := startRolloutCluster(t, r, o.URL, 100*time.Millisecond)
	cfg := pusher(r, 100*time.Millisecond)
	if _, err := cluster.Push(cfg, nil, cluster.PushOptions{Switches: []byte("waf bots\n")}); err == nil || !strings.Contains(err.Error(), "not a module name") {
		t.Fatalf("a malformed switch file: %v", err)
	}
	if _, err := cluster.Push(cfg, nil, cluster.PushOptions{Switches: []byte("# incident 42\nwaf\n"), By: "test"}); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("waf killed on n%d", i+1), func() bool { return moduleKilled(t, n, "waf") })
		if moduleKilled(t, n, "bots") {
			t.Errorf("n%d: bots killed too", i+1)
		}
	}
	eventually(t, 5*time.Second, "done", func() bool { return planState(t, nodes[0]) == cluster.StateDone })
	if code, body, _ := leveetest.Get(t, nodes[1].URL("/")); code != 200 || body != "A" {
		t.Errorf("a switches-only version changed the config: %d %q", code, body)
	}
	if _, err := cluster.Control(cfg, "rollback", "test"); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("waf back on n%d", i+1), func() bool { return !moduleKilled(t, n, "waf") })
	}
}
