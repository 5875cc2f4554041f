package cluster_test

import (
	"testing"
	"time"

	"levee/internal/leveetest"
)

// BenchmarkLimiterAllow is the cluster limiter's per-request cost on the
// hot path at a high rate: requests spend leased tokens, and the store is
// asked only for each new batch, in the background.
func BenchmarkLimiterAllow(b *testing.B) {
	r := leveetest.StartRedis(b)
	n := startBenchNode(b, r)
	lim := n.Limiter()
	deadline := time.Now().Add(5 * time.Second)
	for n.Status().Store != "up" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		k := uint64(0)
		for pb.Next() {
			k++
			lim.Allow("bench", k%64, 1e7, 1e6)
		}
	})
}
