package cluster_test

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/cache"
	"levee/internal/cluster"
	"levee/internal/config/schema"
	"levee/internal/guard"
	"levee/internal/leveetest"
	"levee/internal/pipeline"
	"levee/internal/telemetry"
)

// fakeCache records the purges the cluster applies.
type fakeCache struct {
	mu       sync.Mutex
	observer func(cache.Purge)
	applied  []cache.Purge
}

func (f *fakeCache) OnPurge(fn func(cache.Purge)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observer = fn
}

func (f *fakeCache) ApplyRemotePurge(p cache.Purge) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, p)
	return 1, nil
}

// purge is a local admin purge: the cache applies it, then tells the
// observer.
func (f *fakeCache) purge(p cache.Purge) {
	f.mu.Lock()
	fn := f.observer
	f.mu.Unlock()
	if fn != nil {
		fn(p)
	}
}

func (f *fakeCache) got() []cache.Purge {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cache.Purge(nil), f.applied...)
}

// testNode is one cluster capability with its own data dir.
type testNode struct {
	cap   *cluster.Capability
	cache *fakeCache
	stop  chan struct{}
	dir   string
}

func fastConfig(redisURL, name string) *cluster.Config {
	c := &cluster.Config{Redis: redisURL, Node: name}
	c.SetDefaults()
	c.Heartbeat = schema.Duration(100 * time.Millisecond)
	c.MemberTTL = schema.Duration(600 * time.Millisecond)
	c.Timeout = schema.Duration(200 * time.Millisecond)
	return c
}

// startBenchNode starts one capability for a benchmark.
func startBenchNode(b *testing.B, r *leveetest.Redis) *cluster.Capability {
	return startNode(b, fastConfig(r.URL(), "bench"), b.TempDir()).cap
}

// startNode starts a capability on cfg; dir "" gets a fresh one.
func startNode(t testing.TB, cfg *cluster.Config, dir string) *testNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	lg := telemetry.NewLogger(&leveetest.SyncBuffer{}, "info")
	reg := prometheus.NewRegistry()
	stop := make(chan struct{})
	h := pipeline.Host{Log: lg, Registry: reg, Wall: guard.New(lg, reg), DataDir: dir, Stopped: stop}
	fc := &fakeCache{}
	c := cluster.NewCapability(h, "test", fc)
	st, err := c.Stage(cfg, []byte("cfg"))
	if err != nil {
		t.Fatal(err)
	}
	st.Commit()
	n := &testNode{cap: c, cache: fc, stop: stop, dir: dir}
	t.Cleanup(n.close)
	return n
}

func (n *testNode) close() {
	select {
	case <-n.stop:
		return
	default:
	}
	n.cap.Stop()
	close(n.stop)
}

// eventually polls cond every 10ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
