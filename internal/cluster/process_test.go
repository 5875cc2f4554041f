package cluster_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/cluster"
	"levee/internal/leveetest"
)

// procNode is one levee process of the process-level test.
type procNode struct {
	name, addr, admin string
	logs              *leveetest.SyncBuffer
}

// startProcNode runs `levee serve` for node n<i> on 127.0.0.<i>.
func startProcNode(t *testing.T, bin, redisURL, origin string, i int) *procNode {
	t.Helper()
	ip := fmt.Sprintf("127.0.0.%d", i)
	n := &procNode{name: fmt.Sprintf("n%d", i), addr: leveetest.FreeAddrOn(t, ip), admin: leveetest.FreeAddrOn(t, ip), logs: &leveetest.SyncBuffer{}}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`admin: {listen: %q}
listeners: [{listen: %q}]
log: {access: false}
cluster: {redis: %q, node: %s, heartbeat: 50ms, member_ttl: 600ms, timeout: 100ms}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, n.admin, n.addr, redisURL, n.name, origin)
	path := filepath.Join(dir, "levee.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-c", path, "--data-dir", filepath.Join(dir, "data"))
	cmd.Stderr, cmd.Stdout = n.logs, n.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return n
}

func (n *procNode) status(t *testing.T) (members int, cs configStatus) {
	res, err := adminClient.Get("http://" + n.admin + "/cluster")
	if err != nil {
		return 0, cs
	}
	defer res.Body.Close()
	var s struct {
		statusJSON
		configStatus
	}
	_ = json.NewDecoder(res.Body).Decode(&s)
	return len(s.Members), s.configStatus
}

// pushFile runs `levee cluster push` on a config file whose cluster
// section names the store and the rollout's bake.
func pushFile(t *testing.T, bin, redisURL, origin, bake string, args ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "push.yaml")
	src := pushedYAML(origin, fmt.Sprintf("cluster: {redis: %q, rollout: {bake: %s, min_requests: 20}}\n", redisURL, bake))
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, append([]string{"cluster", "push", "-c", path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("levee cluster push: %v\n%s", err, out)
	}
}

// Three levee processes on 127.0.0.1-3 and a real redis-server: `levee
// cluster push` of a good config reaches all three; a bad one (its
// origin is dead, so the canary answers 5xx) is rolled back automatically
// and never reaches the other two, which answer no 5xx.
func TestProcessRolloutGoodThenBad(t *testing.T) {
	r := leveetest.StartRedis(t)
	bin := filepath.Join(t.TempDir(), "levee")
	if out, err := exec.Command("go", "build", "-o", bin, "levee/cmd/levee").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	a, b := textOrigin(t, "A"), textOrigin(t, "B")
	var nodes []*procNode
	for i := 1; i <= 3; i++ {
		nodes = append(nodes, startProcNode(t, bin, r.URL(), a.URL, i))
	}
	for _, n := range nodes {
		eventually(t, 20*time.Second, n.name+" lists 3 members", func() bool { m, _ := n.status(t); return m == 3 })
	}
	pushFile(t, bin, r.URL(), b.URL, "200ms")
	for _, n := range nodes {
		eventually(t, 10*time.Second, n.name+" serves the pushed origin", func() bool {
			code, body, _ := leveetest.Get(t, "http://"+n.addr+"/x")
			return code == 200 && body == "B"
		})
	}
	good := 0
	eventually(t, 10*time.Second, "the good version done", func() bool {
		_, cs := nodes[0].status(t)
		if p := cs.Config.Plan; p != nil && p.State == cluster.StateDone {
			good = int(p.Version)
			return true
		}
		return false
	})

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make([]atomic.Int64, len(nodes))
	cl := leveetest.Client()
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20000 && !stop.Load(); k++ {
				time.Sleep(5 * time.Millisecond)
				if res, err := cl.Get("http://" + n.addr + "/x"); err == nil {
					res.Body.Close()
					if res.StatusCode >= 500 {
						errs[i].Add(1)
					}
				}
			}
		}()
	}
	pushFile(t, bin, r.URL(), deadOrigin(t), "30s", "--canary", "n1")
	var rolledBack, bad int64
	eventually(t, 15*time.Second, "the bad version rolled back", func() bool {
		_, cs := nodes[1].status(t)
		if p := cs.Config.Plan; p != nil && p.Kind == cluster.KindRollback && p.Of > int64(good) {
			rolledBack, bad = p.Version, p.Of
			return true
		}
		return false
	})
	eventually(t, 5*time.Second, "n1 serves again", func() bool {
		code, body, _ := leveetest.Get(t, "http://"+nodes[0].addr+"/x")
		return code == 200 && body == "B"
	})
	stop.Store(true)
	wg.Wait()
	if errs[0].Load() == 0 {
		t.Error("the canary never answered 5xx: the test did not break it")
	}
	activated := func(n *procNode) bool {
		return strings.Contains(n.logs.String(), fmt.Sprintf(`"msg":"cluster: config version active","version":%d,"from":"cluster"`, bad))
	}
	if !activated(nodes[0]) {
		t.Errorf("n1's log does not show the bad version %d active:\n%s", bad, nodes[0].logs.String())
	}
	for i, n := range nodes[1:] {
		if got := errs[i+1].Load(); got != 0 {
			t.Errorf("%s answered %d 5xx: the bad version reached it", n.name, got)
		}
		// n2 saw the rollback plan first; the others apply it on their next
		// poll of the store, so wait for each rather than read it once.
		eventually(t, 5*time.Second, n.name+" runs the rollback", func() bool {
			_, cs := n.status(t)
			return cs.Config.Applied == rolledBack
		})
		if activated(n) {
			t.Errorf("%s activated the bad version:\n%s", n.name, n.logs.String())
		}
	}
}
