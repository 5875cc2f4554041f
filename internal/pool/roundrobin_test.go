package pool

import (
	"net/http"
	"testing"
)

func TestRoundRobinHonoursWeights(t *testing.T) {
	a, b, c := &Origin{Host: "a", Weight: 1}, &Origin{Host: "b", Weight: 3}, &Origin{Host: "c"}
	rr := NewRoundRobin([]*Origin{a, b, c})
	counts := map[string]int{}
	for i := 0; i < 500; i++ {
		counts[rr.Pick(nil).Host]++
	}
	if counts["a"] != 100 || counts["b"] != 300 || counts["c"] != 100 {
		t.Fatalf("picks %v, want a=100 b=300 c=100 (weight 0 counts as 1)", counts)
	}
	if NewRoundRobin(nil).Pick(nil) != nil {
		t.Fatal("empty pool picked something")
	}
}

func BenchmarkRoundRobinPick(b *testing.B) {
	origins := make([]*Origin, 100)
	for i := range origins {
		origins[i] = &Origin{Weight: 1 + i%5}
	}
	rr := NewRoundRobin(origins)
	req := &http.Request{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rr.Pick(req) == nil {
				b.Fatal("nil")
			}
		}
	})
}
