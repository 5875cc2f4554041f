package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// Half the nodes cut from the store (their proxy stops forwarding) under
// load with a cluster-scoped limit: no node answers a 5xx or fails a
// request; the cut nodes report the store down and keep admitting on their
// local share, the others keep the store and drop them from the members;
// when the proxy forwards again every node sees all four members, without
// a restart.
func TestHalfTheNodesPartitioned(t *testing.T) {
	r := leveetest.StartRedis(t)
	px := startHangProxy(t, r.Addr)
	o := cachedOrigin(t)
	var nodes []*leveetest.Node
	for i := 1; i <= 4; i++ {
		url := r.URL()
		if i > 2 {
			url = px.url()
		}
		nodes = append(nodes, leveetest.Start(t, limitedYAML(url, fmt.Sprintf("n%d", i), i, o.URL)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "4 members", func() bool { return len(clusterStatus(t, n).Members) == 4 })
	}
	l := startLimitedLoad(t, nodes, "/p", false)
	time.Sleep(300 * time.Millisecond)
	px.frozen.Store(true)
	for _, n := range nodes[2:] {
		eventually(t, 5*time.Second, "cut node reports the store down", func() bool { return clusterStatus(t, n).Store == "down" })
	}
	for _, n := range nodes[:2] {
		eventually(t, 5*time.Second, "connected nodes see only each other", func() bool {
			s := clusterStatus(t, n)
			return s.Store == "up" && len(s.Members) == 2
		})
	}
	before := []int64{l.ok[2].Load(), l.ok[3].Load()}
	time.Sleep(outage(t))
	for i, n := range []int{2, 3} {
		if l.ok[n].Load() == before[i] {
			t.Fatalf("node %d admitted nothing while cut from the store: its limit did not fall back to local", n+1)
		}
	}
	px.frozen.Store(false)
	for _, n := range nodes {
		eventually(t, 10*time.Second, "healed: store up, 4 members", func() bool {
			s := clusterStatus(t, n)
			return s.Store == "up" && len(s.Members) == 4
		})
	}
	l.end()
	for k := range nodes {
		t.Logf("node %d: admitted %d, failed or 5xx %d", k+1, l.ok[k].Load(), l.bad[k].Load())
		if l.bad[k].Load() != 0 {
			t.Errorf("node %d: %d requests failed or answered 5xx", k+1, l.bad[k].Load())
		}
	}
}
