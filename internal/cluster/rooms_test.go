package cluster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/shield"
)

// roomNodeYAML is a node on 127.0.0.<ip> with a waiting room in front of
// the origin.
func roomNodeYAML(redisURL, name string, ip int, origin, room string) string {
	return fmt.Sprintf(`listeners: [{listen: "127.0.0.%d:0"}]
log: {access: false}
cluster: {redis: %q, node: %s, heartbeat: 100ms, member_ttl: 600ms, timeout: 100ms}
shield:
  waiting_rooms: [%s]
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, ip, redisURL, name, room, origin)
}

func okOrigin(t *testing.T) *leveetest.Origin {
	return leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
}

// visitor is a browser: it keeps the room's cookie whichever node it
// reaches.
type visitor struct {
	mu     sync.Mutex
	cookie string
}

// visit returns the status and, when queued, the position shown (0 when
// let through).
func (v *visitor) visit(t *testing.T, n *leveetest.Node) (int, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL("/"), nil)
	req.Header.Set("Accept", "application/json")
	v.mu.Lock()
	if v.cookie != "" {
		req.Header.Set("Cookie", v.cookie)
	}
	v.mu.Unlock()
	res, err := roomClient.Do(req)
	if err != nil {
		t.Errorf("visit: %v", err)
		return 0, 0
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if cs := res.Cookies(); len(cs) > 0 {
		v.mu.Lock()
		v.cookie = cs[0].Name + "=" + cs[0].Value
		v.mu.Unlock()
	}
	if string(b) == "ok" {
		return res.StatusCode, 0
	}
	var st shield.QueueStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Errorf("queue page: %d %q", res.StatusCode, b)
	}
	return res.StatusCode, st.Position
}

var roomClient = leveetest.Client()

var (
	syncsOK     = regexp.MustCompile(`levee_shield_waitingroom_syncs_total\{result="ok"\} (\d+)`)
	syncsFailed = regexp.MustCompile(`levee_shield_waitingroom_syncs_total\{result="error"\} (\d+)`)
)

// roomSyncs is how many times n's rooms synchronised with the store.
func roomSyncs(t *testing.T, n *leveetest.Node) int { return metricCount(t, n, syncsOK) }

// roomSyncsFailed is how many times n's rooms could not reach the store.
func roomSyncsFailed(t *testing.T, n *leveetest.Node) int { return metricCount(t, n, syncsFailed) }

// metricCount is the number re captures in n's metrics (0 if absent).
func metricCount(t *testing.T, n *leveetest.Node, re *regexp.Regexp) int {
	t.Helper()
	res := adminGet(t, n, "/metrics")
	defer res.Body.Close()
	m, _ := io.ReadAll(res.Body)
	if s := re.FindSubmatch(m); s != nil {
		k, _ := strconv.Atoi(string(s[1]))
		return k
	}
	return 0
}

// waitSynced waits until every node has synchronised twice more: each
// has then pushed what it saw and read everyone else's.
func waitSynced(t *testing.T, nodes []*leveetest.Node) {
	t.Helper()
	for _, n := range nodes {
		from := roomSyncs(t, n)
		eventually(t, 5*time.Second, "two room syncs", func() bool { return roomSyncs(t, n) >= from+2 })
	}
}

func startRoomCluster(t *testing.T, url, origin, room string, count int) []*leveetest.Node {
	var nodes []*leveetest.Node
	for i := 1; i <= count; i++ {
		nodes = append(nodes, leveetest.Start(t, roomNodeYAML(url, fmt.Sprintf("n%d", i), i, origin, room)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "all members in /cluster", func() bool { return len(clusterStatus(t, n).Members) == count })
	}
	waitSynced(t, nodes)
	return nodes
}

// A visitor queued on node 1 keeps her place on nodes 2 and 3, and the
// room's capacity holds across the nodes.
func TestWaitingRoomSharedAcrossNodes(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := okOrigin(t)
	// One admission a minute: the queue stays put during the test.
	nodes := startRoomCluster(t, r.URL(), o.URL,
		"{site: s, route: /, capacity: 3, admit_per_minute: 1, refresh: 1s, session: 1m}", 3)
	for i, n := range nodes {
		if code, pos := (&visitor{}).visit(t, n); code != 200 || pos != 0 {
			t.Fatalf("visitor %d on a room with room: %d, position %d", i, code, pos)
		}
	}
	waitSynced(t, nodes)
	queued := make([]*visitor, 5)
	for i := range queued {
		queued[i] = &visitor{}
		code, pos := queued[i].visit(t, nodes[0])
		if code != 200 || pos != i+1 {
			t.Fatalf("queued visitor %d on node 1: %d, position %d, want %d", i, code, pos, i+1)
		}
		time.Sleep(2 * time.Millisecond) // distinct arrivals (the store keeps ms)
	}
	// Before node 1 synced them, other nodes place them from the sampled
	// queue; after, from their rank: the same place either way.
	for round := range 2 {
		for i, v := range queued {
			for k, n := range nodes[1:] {
				if code, pos := v.visit(t, n); code != 200 || pos != i+1 {
					t.Fatalf("round %d: visitor %d (position %d on node 1) is at %d on node %d (%d)", round, i, i+1, pos, k+2, code)
				}
			}
		}
		waitSynced(t, nodes)
	}
	// A newcomer on any node queues behind them: the cluster is full.
	for k, n := range nodes {
		if code, pos := (&visitor{}).visit(t, n); code != 200 || pos < 6 {
			t.Fatalf("newcomer on node %d of a full room: %d, position %d", k+1, code, pos)
		}
	}
}

// Visitors arriving at once on three nodes of an empty room: the cluster
// lets in at most capacity + members - 1 (each node takes its share of
// the free places between two syncs), the rest queue; none gets a 5xx.
func TestWaitingRoomCapacityAcrossNodes(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := okOrigin(t)
	const capacity = 12
	nodes := startRoomCluster(t, r.URL(), o.URL,
		fmt.Sprintf("{site: s, route: /, capacity: %d, admit_per_minute: 1, refresh: 1s, session: 1m}", capacity), 3)
	var mu sync.Mutex
	admitted, queuedN := 0, 0
	var wg sync.WaitGroup
	for k, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 15 {
				code, pos := (&visitor{}).visit(t, n)
				mu.Lock()
				switch {
				case code == 200 && pos == 0:
					admitted++
				case code == 200:
					queuedN++
				default:
					t.Errorf("node %d: status %d", k+1, code)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("admitted %d, queued %d of 45 (capacity %d)", admitted, queuedN, capacity)
	if admitted > capacity+len(nodes)-1 || admitted < capacity/len(nodes) {
		t.Fatalf("admitted %d across the nodes, capacity %d (slack %d)", admitted, capacity, len(nodes)-1)
	}
	waitSynced(t, nodes)
	if got := r.Do("ZCARD", "{levee}:room:s/:active"); got != fmt.Sprintf(":%d", admitted) {
		t.Fatalf("store counts %s active, the nodes let in %d", got, admitted)
	}
}

// The store killed: every node falls back to its share of the capacity at
// once, with no 5xx; back, the nodes sync again without a restart.
func TestWaitingRoomStoreDownFallsBack(t *testing.T) {
	r := leveetest.StartRedis(t)
	o := okOrigin(t)
	const capacity = 6
	nodes := startRoomCluster(t, r.URL(), o.URL,
		fmt.Sprintf("{site: s, route: /, capacity: %d, admit_per_minute: 1, refresh: 1s, session: 1m}", capacity), 3)
	r.Stop()
	admitted := 0
	for k, n := range nodes {
		for range 5 {
			code, pos := (&visitor{}).visit(t, n)
			if code != 200 {
				t.Fatalf("node %d with the store down: status %d", k+1, code)
			}
			if pos == 0 {
				admitted++
			}
		}
	}
	// Right after the kill a node may still trust its view (up to
	// 5 syncs old): at most its share then; after, its share of the
	// capacity by the members it last saw.
	if admitted > capacity+len(nodes)-1 {
		t.Fatalf("with the store down the nodes let in %d, capacity %d", admitted, capacity)
	}
	r.Start()
	waitSynced(t, nodes)
}
