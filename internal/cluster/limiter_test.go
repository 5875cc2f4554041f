package cluster_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// drive offers every limiter a request every 1ms for d (far above rate)
// and returns how many the three admitted in total.
func drive(nodes []*testNode, rule string, key uint64, rate float64, burst int, d time.Duration) int64 {
	var admitted atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for time.Now().Before(end) {
				<-t.C
				if ok, _ := n.cap.Limiter().Allow(rule, key, rate, burst); ok {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return admitted.Load()
}

func threeMembers(t *testing.T, r *leveetest.Redis) []*testNode {
	var nodes []*testNode
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, startNode(t, fastConfig(r.URL(), name), ""))
	}
	for _, n := range nodes {
		eventually(t, 5*time.Second, "3 members", func() bool { return len(memberNames(n)) == 3 })
	}
	return nodes
}

// The acceptance test of global limits: three nodes, one client key, load
// far above R spread over them: over 10s the cluster admits R/s within 5%
// (the burst included).
func TestGlobalLimitWithinFivePercent(t *testing.T) {
	r := leveetest.StartRedis(t)
	nodes := threeMembers(t, r)
	const rate, burst, secs = 200.0, 10, 10
	got := drive(nodes, "api", 42, rate, burst, secs*time.Second)
	want := rate * secs
	t.Logf("admitted %d over %ds at %g/s (%.1f%% of R)", got, secs, rate, 100*float64(got)/want)
	if float64(got) < 0.95*want || float64(got) > 1.05*want {
		t.Fatalf("admitted %d, want %g within 5%%", got, want)
	}
}

// With the store gone each node allows the limit divided by the members
// it saw last, at once; when the store returns, leases resume.
func TestGlobalLimitFallsBackToShare(t *testing.T) {
	r := leveetest.StartRedis(t)
	nodes := threeMembers(t, r)
	// A burst of 10 per node absorbs the drive loop's scheduling jitter.
	const rate, burst = 300.0, 30
	drive(nodes, "api", 7, rate, burst, 200*time.Millisecond) // leases in use
	r.Stop()
	for _, n := range nodes {
		eventually(t, 5*time.Second, "store down", func() bool { return n.cap.Status().Store == "down" })
	}
	got := drive(nodes, "api", 7, rate, burst, 2*time.Second)
	want := rate * 2 // three nodes at rate/3 each
	t.Logf("store down: admitted %d over 2s at %g/s (%.1f%%)", got, rate, 100*float64(got)/want)
	if float64(got) < 0.85*want || float64(got) > 1.15*want {
		t.Fatalf("fallback admitted %d, want about %g", got, want)
	}
	r.Start()
	for _, n := range nodes {
		eventually(t, 10*time.Second, "store up", func() bool { return n.cap.Status().Store == "up" })
	}
	got = drive(nodes, "api", 8, rate, burst, 2*time.Second)
	if float64(got) < 0.85*want || float64(got) > 1.15*want {
		t.Fatalf("after the store returned: admitted %d, want about %g", got, want)
	}
}
