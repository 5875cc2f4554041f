package cluster_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/cluster"
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
	nodes := startHalfCut(t, r, px, func(url, name string, ip int) string { return limitedYAML(url, name, ip, o.URL) })
	l := startLimitedLoad(t, nodes, "/p", false)
	time.Sleep(300 * time.Millisecond)
	cutHalf(t, px, nodes)
	before := []int64{l.ok[2].Load(), l.ok[3].Load()}
	time.Sleep(outage(t))
	for i, n := range []int{2, 3} {
		if l.ok[n].Load() == before[i] {
			t.Fatalf("node %d admitted nothing while cut from the store: its limit did not fall back to local", n+1)
		}
	}
	healHalf(t, px, nodes)
	l.end()
	for k := range nodes {
		t.Logf("node %d: admitted %d, failed or 5xx %d", k+1, l.ok[k].Load(), l.bad[k].Load())
		if l.bad[k].Load() != 0 {
			t.Errorf("node %d: %d requests failed or answered 5xx", k+1, l.bad[k].Load())
		}
	}
}

// startHalfCut starts four nodes from yamlFor: n1 and n2 on the store,
// n3 and n4 behind px; it waits until every node lists all four.
func startHalfCut(t *testing.T, r *leveetest.Redis, px *hangProxy, yamlFor func(url, name string, ip int) string) []*leveetest.Node {
	var nodes []*leveetest.Node
	for i := 1; i <= 4; i++ {
		url := r.URL()
		if i > 2 {
			url = px.url()
		}
		nodes = append(nodes, leveetest.Start(t, yamlFor(url, fmt.Sprintf("n%d", i), i)))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "4 members", func() bool { return len(clusterStatus(t, n).Members) == 4 })
	}
	return nodes
}

// cutHalf freezes px and waits until n3 and n4 report the store down and
// n1 and n2 list only each other.
func cutHalf(t *testing.T, px *hangProxy, nodes []*leveetest.Node) {
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
}

// healHalf lets px forward again and waits until every node lists all
// four with the store up.
func healHalf(t *testing.T, px *hangProxy, nodes []*leveetest.Node) {
	px.frozen.Store(false)
	for _, n := range nodes {
		eventually(t, 10*time.Second, "healed: store up, 4 members", func() bool {
			s := clusterStatus(t, n)
			return s.Store == "up" && len(s.Members) == 4
		})
	}
}

// versionWatch polls every node's reported config version until stopped
// and keeps what it saw: each node's versions in order, without repeats.
type versionWatch struct {
	nodes   []*leveetest.Node
	cl      *http.Client
	mu      sync.Mutex
	seen    [][]int64
	errs    []string
	limited int
	stop    chan struct{}
	done    chan struct{}
}

// watchVersions polls from 127.0.0.9, so the admin listeners' per-client
// rate (20/s) gives it a budget of its own, apart from the test's calls.
func watchVersions(t *testing.T, nodes []*leveetest.Node) *versionWatch {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}, Timeout: time.Second}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2}}
	w := &versionWatch{nodes: nodes, cl: cl, seen: make([][]int64, len(nodes)), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for range 100_000 {
			select {
			case <-w.stop:
				return
			case <-time.After(60 * time.Millisecond):
			}
			for k, n := range nodes {
				w.record(k, n)
			}
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *versionWatch) record(k int, n *leveetest.Node) {
	var s configStatus
	res, err := w.cl.Get(n.AdminURL("/cluster"))
	if err == nil {
		if res.StatusCode == http.StatusTooManyRequests {
			res.Body.Close()
			w.mu.Lock()
			w.limited++
			w.mu.Unlock()
			return
		}
		err = json.NewDecoder(res.Body).Decode(&s)
		res.Body.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errs = append(w.errs, fmt.Sprintf("n%d: /cluster: %v", k+1, err))
		return
	}
	if seq := w.seen[k]; len(seq) == 0 || seq[len(seq)-1] != s.Config.Applied {
		w.seen[k] = append(seq, s.Config.Applied)
	}
}

// end stops the polling (once) and waits for it.
func (w *versionWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check fails the test if a node ever reported a version outside valid,
// or a version below one it reported before. It polls once more after
// the watch ends, so each node's last version is in.
func (w *versionWatch) check(t *testing.T, valid ...int64) {
	w.end()
	for k, n := range w.nodes {
		w.record(k, n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.errs[:min(len(w.errs), 5)] {
		t.Errorf("version watch: %s", e)
	}
	t.Logf("version watch: %d polls refused by the admin rate limit", w.limited)
	for k, seq := range w.seen {
		t.Logf("n%d reported versions %v", k+1, seq)
		for i, v := range seq {
			if !slices.Contains(valid, v) {
				t.Errorf("n%d reported version %d, not one it validated (valid: %v); versions seen %v", k+1, v, valid, seq)
			}
			if i > 0 && v < seq[i-1] {
				t.Errorf("n%d went back from version %d to %d; versions seen %v", k+1, seq[i-1], v, seq)
			}
		}
	}
}

// servesAll waits until every node answers / with body from the config
// version it reports as want.
func servesAll(t *testing.T, nodes []*leveetest.Node, want int64, body string) {
	t.Helper()
	for k, n := range nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("n%d on version %d, serving %q", k+1, want, body), func() bool {
			code, got, _ := leveetest.Get(t, n.URL("/"))
			return rolloutStatus(t, n).Config.Applied == want && code == 200 && got == body
		})
	}
}

// Config versions with half the nodes cut from the store: a good version
// pushed meanwhile goes through its stages on the nodes that reach the
// store, while the cut nodes keep their last good version; a version that
// fails validation activates nowhere. Healed, the cut nodes take the
// newest good version without a restart: every node ends on it, none
// ever reported a version it did not validate or went back.
func TestConfigVersionsWithHalfTheNodesPartitioned(t *testing.T) {
	const bake = 200 * time.Millisecond
	r := leveetest.StartRedis(t)
	px := startHangProxy(t, r.Addr)
	a, b, c := textOrigin(t, "A"), textOrigin(t, "B"), textOrigin(t, "C")
	nodes := startHalfCut(t, r, px, func(url, name string, ip int) string { return rolloutYAML(url, name, ip, a.URL, bake) })
	w := watchVersions(t, nodes)
	cfg := pusher(r, bake)
	v1, err := cluster.Push(cfg, []byte(pushedYAML(b.URL, "")), cluster.PushOptions{By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "version 1 done", func() bool { return planState(t, nodes[0]) == cluster.StateDone })
	servesAll(t, nodes, v1.Version, "B")

	cutHalf(t, px, nodes)
	v2, err := cluster.Push(cfg, []byte(pushedYAML(c.URL, "")), cluster.PushOptions{By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Concat(v2.Stages...); slices.Contains(got, "n3") || slices.Contains(got, "n4") {
		t.Errorf("stages %v name cut nodes", v2.Stages)
	}
	eventually(t, 10*time.Second, "version 2 done on the connected nodes", func() bool {
		pl := rolloutStatus(t, nodes[0]).Config.Plan
		return pl != nil && pl.Version == v2.Version && pl.State == cluster.StateDone
	})
	servesAll(t, nodes[:2], v2.Version, "C")
	servesAll(t, nodes[2:], v1.Version, "B")

	// Deferred, so a failure below still shows what every node reported.
	defer w.check(t, 0, v1.Version, v2.Version)
	bad, err := cluster.Push(cfg, []byte(pushedYAML(c.URL, "no_such_section: {x: 1}\n")), cluster.PushOptions{By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the invalid version rejected", func() bool {
		pl := rolloutStatus(t, nodes[1]).Config.Plan
		return pl != nil && pl.Version == bad.Version && pl.State != cluster.StateRolling
	})
	if pl := rolloutStatus(t, nodes[1]).Config.Plan; pl.State != cluster.StateRejected || pl.Previous != v2.Version {
		t.Errorf("the invalid version's plan is %s, falling back to version %d; want rejected, back to the last good %d (%s)",
			pl.State, pl.Previous, v2.Version, pl.Reason)
	}
	servesAll(t, nodes[:2], v2.Version, "C")
	servesAll(t, nodes[2:], v1.Version, "B")

	healHalf(t, px, nodes)
	servesAll(t, nodes, v2.Version, "C")
	for k, n := range nodes[2:] {
		if st := rolloutStatus(t, n).Config; st.Rejected != 0 {
			t.Errorf("n%d rejected version %d (%s): a cut node was asked to run the invalid version", k+3, st.Rejected, st.Reason)
		}
	}
}

// queueVisitors has count newcomers visit n one after another (distinct
// arrivals: the store keeps ms) and checks each is queued at from, from+1...
func queueVisitors(t *testing.T, n *leveetest.Node, name string, count, from int) []*visitor {
	t.Helper()
	vs := make([]*visitor, count)
	for i := range vs {
		vs[i] = &visitor{}
		if code, pos := vs[i].visit(t, n); code != 200 || pos != from+i {
			t.Fatalf("newcomer %d on %s: %d, position %d, want queued at %d", i+1, name, code, pos, from+i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return vs
}

// A waiting room with half the nodes cut from the store. Full on the
// cluster's count before the cut, the reachable nodes keep the shared
// room (newcomers queue, each keeps her place on the other reachable
// node); the cut nodes decide on their local share (capacity / 4 members
// last seen): a newcomer gets in, the next queue locally; no 5xx
// anywhere. Healed, the store holds every node's admitted users and
// queue, and each queued visitor has the same place on any node.
func TestWaitingRoomWithHalfTheNodesPartitioned(t *testing.T) {
	r := leveetest.StartRedis(t)
	px := startHangProxy(t, r.Addr)
	o := okOrigin(t)
	const capacity = 4
	room := fmt.Sprintf("{site: s, route: /, capacity: %d, admit_per_minute: 1, refresh: 1s, session: 1m}", capacity)
	nodes := startHalfCut(t, r, px, func(url, name string, ip int) string { return roomNodeYAML(url, name, ip, o.URL, room) })
	waitSynced(t, nodes)
	// Fill the room from n1 and n2 only, a member's share (1 of 4) per
	// node and sync: the cut nodes hold nobody.
	for round := range 2 {
		for k, n := range nodes[:2] {
			if code, pos := (&visitor{}).visit(t, n); code != 200 || pos != 0 {
				t.Fatalf("round %d: visitor on n%d of a room with room: %d, position %d", round, k+1, code, pos)
			}
		}
		waitSynced(t, nodes)
	}

	cutHalf(t, px, nodes)
	okCut := make([]int, 2)
	for k, n := range nodes[2:] {
		from := roomSyncsFailed(t, n)
		eventually(t, 5*time.Second, "a failed room sync on a cut node", func() bool { return roomSyncsFailed(t, n) > from })
		okCut[k] = roomSyncs(t, n)
	}
	shared := queueVisitors(t, nodes[0], "n1 (full cluster)", 3, 1)
	waitSynced(t, nodes[:2])
	for i, v := range shared {
		if code, pos := v.visit(t, nodes[1]); code != 200 || pos != i+1 {
			t.Fatalf("visitor %d, at %d on n1, is at %d on n2 (%d)", i+1, i+1, pos, code)
		}
	}
	var cut [][]*visitor
	for k, n := range nodes[2:] {
		name := fmt.Sprintf("n%d (cut)", k+3)
		if code, pos := (&visitor{}).visit(t, n); code != 200 || pos != 0 {
			t.Fatalf("newcomer on %s: %d, position %d: the node did not fall back to its local share", name, code, pos)
		}
		cut = append(cut, queueVisitors(t, n, name, 2, 1))
	}
	for k, n := range nodes[2:] {
		if got := roomSyncs(t, n); got != okCut[k] {
			t.Errorf("n%d synced its room with the store %d times while cut", k+3, got-okCut[k])
		}
	}

	healHalf(t, px, nodes)
	const admitted, queued = capacity + 2, 3 + 2 + 2 // the four before the cut, one per cut node
	eventually(t, 10*time.Second, fmt.Sprintf("the store counts %d admitted and %d queued", admitted, queued), func() bool {
		return storeCount(t, r, "active")+storeCount(t, r, "admitting") == admitted && storeCount(t, r, "queue") == queued
	})
	// By arrival: n1's three, then n3's two, then n4's two; each asked
	// on a node other than the one that queued her.
	order := slices.Concat(shared, cut[0], cut[1])
	on := []*leveetest.Node{nodes[3], nodes[3], nodes[3], nodes[0], nodes[0], nodes[1], nodes[1]}
	for i, v := range order {
		eventually(t, 5*time.Second, fmt.Sprintf("queued visitor %d at position %d on every node", i+1, i+1), func() bool {
			code, pos := v.visit(t, on[i])
			return code == 200 && pos == i+1
		})
	}
}

// storeCount is the size of one of the room's sets in the store.
func storeCount(t *testing.T, r *leveetest.Redis, set string) int {
	got := r.Do("ZCARD", "{levee}:room:s/:"+set)
	k, err := strconv.Atoi(strings.TrimPrefix(got, ":"))
	if err != nil {
		t.Fatalf("ZCARD %s: %q", set, got)
	}
	return k
}
