package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"levee/internal/cache"
	"levee/internal/leveetest"
)

func memberNames(n *testNode) []string {
	var out []string
	for _, m := range n.cap.Status().Members {
		out = append(out, m.Name)
	}
	return out
}

// Three nodes on one store see each other; one that leaves is gone from
// the others' lists, and the status says who and where.
func TestMembership(t *testing.T) {
	r := leveetest.StartRedis(t)
	a := startNode(t, fastConfig(r.URL(), "a"), "")
	b := startNode(t, fastConfig(r.URL(), "b"), "")
	c := startNode(t, fastConfig(r.URL(), "c"), "")
	for _, n := range []*testNode{a, b, c} {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(memberNames(n)) == 3 })
	}
	st := a.cap.Status()
	if !st.Enabled || st.Node != "a" || st.Store != "up" {
		t.Fatalf("status %+v", st)
	}
	if m := st.Members[0]; m.Name != "a" || m.Version != "test" || m.ConfigVersion == "" || m.LastHeartbeat.IsZero() {
		t.Fatalf("member %+v", m)
	}
	c.close()
	eventually(t, 5*time.Second, "c gone", func() bool { return fmt.Sprint(memberNames(a)) == "[a b]" })
}

// A member that stops heartbeating without leaving (its store connection
// cut) drops out after the TTL.
func TestMemberTTL(t *testing.T) {
	r := leveetest.StartRedis(t)
	a := startNode(t, fastConfig(r.URL(), "a"), "")
	// b is a raw entry that never heartbeats again: as a crashed node.
	r.Do("ZADD", "{levee}:members", "1", "b") // expired long ago (store ms clock)
	eventually(t, 5*time.Second, "only a", func() bool { return fmt.Sprint(memberNames(a)) == "[a]" })
}

// A purge on one node is applied by every other node, once, and not by
// the node it came from.
func TestPurgeReachesEveryNode(t *testing.T) {
	r := leveetest.StartRedis(t)
	a := startNode(t, fastConfig(r.URL(), "a"), "")
	b := startNode(t, fastConfig(r.URL(), "b"), "")
	c := startNode(t, fastConfig(r.URL(), "c"), "")
	for _, n := range []*testNode{a, b, c} {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(memberNames(n)) == 3 })
	}
	for i := range 10 {
		a.cache.purge(cache.Purge{URL: fmt.Sprintf("/p%d", i)})
	}
	for _, n := range []*testNode{b, c} {
		eventually(t, 5*time.Second, "10 purges applied", func() bool { return len(n.cache.got()) == 10 })
		for i, p := range n.cache.got() {
			if p.URL != fmt.Sprintf("/p%d", i) {
				t.Fatalf("purge %d is %+v: out of order", i, p)
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // let any echo or duplicate arrive
	if got := len(a.cache.got()); got != 0 {
		t.Fatalf("the sender applied %d of its own purges again", got)
	}
	if got := len(b.cache.got()); got != 10 {
		t.Fatalf("b applied %d purges, want exactly 10", got)
	}
}

// A node away while 50 purges happen replays them, in order, when it
// returns (its cursor is in its data directory).
func TestPurgeReplayAfterAway(t *testing.T) {
	r := leveetest.StartRedis(t)
	a := startNode(t, fastConfig(r.URL(), "a"), "")
	c := startNode(t, fastConfig(r.URL(), "c"), "")
	eventually(t, 5*time.Second, "2 members", func() bool { return len(memberNames(c)) == 2 })
	a.cache.purge(cache.Purge{URL: "/before"})
	eventually(t, 5*time.Second, "c saw the first purge", func() bool { return len(c.cache.got()) == 1 })
	dir := c.dir
	c.close()
	for i := range 50 {
		a.cache.purge(cache.Purge{URL: fmt.Sprintf("/away%d", i)})
	}
	eventually(t, 5*time.Second, "51 published", func() bool { return r.Get("{levee}:purge-seq") == "51" })
	back := startNode(t, fastConfig(r.URL(), "c"), dir)
	eventually(t, 5*time.Second, "50 replayed", func() bool { return len(back.cache.got()) == 50 })
	for i, p := range back.cache.got() {
		if p.URL != fmt.Sprintf("/away%d", i) {
			t.Fatalf("replayed purge %d is %+v", i, p)
		}
	}
}

// A node that missed more purges than the store keeps cannot know what
// to purge, so it marks its whole cache stale.
func TestPurgeMissedPastRetentionMarksStale(t *testing.T) {
	r := leveetest.StartRedis(t)
	cfgA := fastConfig(r.URL(), "a")
	cfgA.PurgeRetention = 5
	a := startNode(t, cfgA, "")
	c := startNode(t, fastConfig(r.URL(), "c"), "")
	eventually(t, 5*time.Second, "2 members", func() bool { return len(memberNames(c)) == 2 })
	a.cache.purge(cache.Purge{URL: "/before"})
	eventually(t, 5*time.Second, "c saw the first purge", func() bool { return len(c.cache.got()) == 1 })
	dir := c.dir
	c.close()
	for i := range 20 {
		a.cache.purge(cache.Purge{URL: fmt.Sprintf("/away%d", i)})
	}
	eventually(t, 5*time.Second, "21 published", func() bool { return r.Get("{levee}:purge-seq") == "21" })
	back := startNode(t, fastConfig(r.URL(), "c"), dir)
	eventually(t, 5*time.Second, "stale mark and the 5 kept", func() bool { return len(back.cache.got()) == 6 })
	got := back.cache.got()
	if !got[0].All || !got[0].Soft {
		t.Fatalf("first action %+v, want the whole cache marked stale", got[0])
	}
	if got[5].URL != "/away19" {
		t.Fatalf("last replayed %+v", got[5])
	}
}
