package cache

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/router"
)

// The cache's breaker: a lookup panic sends the request to the origin
// (fail open, detail=cache-error); after 3 the breaker bypasses the
// cache without looking up (detail=cache-off), so no more panics reach
// the wall and every request still reaches the origin.
func TestLookupPanicsTripTheBreaker(t *testing.T) {
	recorded := 0
	st, err := NewStore(Options{MemoryBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		OnPanic: func(string, any) { recorded++ }})
	if err != nil {
		t.Fatal(err)
	}
	c := New(st, Settings{LockTimeout: time.Second, HitForMiss: time.Second, FillTimeout: time.Second})
	mod := modswitch.New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, "").Module("cache", modswitch.FailOpen)
	mod.SetBreaker(3, 1000, time.Minute, time.Hour)
	c.mod = mod // what Capability.UseSwitch hands each generation's cache
	c.hookFind = func() { panic("boom") }
	ru := Compile(&RouteConfig{}, 1<<20)
	c.Bind(0, ru, "t")
	reached := 0
	h := c.Phase()(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		reached++
		w.WriteHeader(200)
		return nil
	}))
	for i := 1; i <= 5; i++ {
		nw := &nopWriter{h: http.Header{}}
		ex := pipeline.NewExchange(nw, time.Now())
		ex.Route = &router.Route{ID: 0}
		req, _ := http.NewRequest("GET", "http://t.example/x", nil)
		if err := h.ServeHTTP(ex, req); err != nil || reached != i {
			t.Fatalf("request %d: err %v, reached the origin %d times", i, err, reached)
		}
		want := "levee; fwd=bypass; detail=cache-error"
		if i > 3 {
			want = "levee; fwd=bypass; detail=cache-off"
		}
		if got := nw.h.Get("Cache-Status"); got != want {
			t.Fatalf("request %d: Cache-Status %q, want %q", i, got, want)
		}
	}
	if recorded != 3 {
		t.Fatalf("%d panics recorded, want 3 (none once the breaker opened)", recorded)
	}
}
