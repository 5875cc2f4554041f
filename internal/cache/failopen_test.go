package cache

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"levee/internal/pipeline"
	"levee/internal/router"
)

// A panic inside the cache's lookup is contained: the request goes to
// the origin (fail open), marked, and the panic is recorded.
func TestLookupPanicFailsOpen(t *testing.T) {
	var recorded []string
	st, err := NewStore(Options{MemoryBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry()),
		OnPanic: func(where string, v any) { recorded = append(recorded, where) }})
	if err != nil {
		t.Fatal(err)
	}
	c := New(st, Settings{LockTimeout: time.Second, HitForMiss: time.Second, FillTimeout: time.Second})
	c.hookFind = func() { panic("boom") }
	ru := Compile(&RouteConfig{}, 1<<20)
	c.Bind(0, ru, "t")
	rt := &router.Route{ID: 0}
	called := false
	h := c.Phase()(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		w.WriteHeader(200)
		return nil
	}))
	nw := &nopWriter{h: http.Header{}}
	ex := pipeline.NewExchange(nw, time.Now())
	ex.Route = rt
	req, _ := http.NewRequest("GET", "http://t.example/x", nil)
	if err := h.ServeHTTP(ex, req); err != nil || !called {
		t.Fatalf("err %v, origin called %v", err, called)
	}
	if nw.h.Get("Cache-Status") != "levee; fwd=bypass; detail=cache-error" || len(recorded) != 1 {
		t.Fatalf("Cache-Status %q, recorded %v", nw.h.Get("Cache-Status"), recorded)
	}
}

// A leader that panics releases its followers at once (with an error,
// not after the lock timeout), and the panic still reaches the wall.
func TestPanickingLeaderReleasesFollowers(t *testing.T) {
	st, _ := NewStore(Options{MemoryBytes: 1 << 20, Metrics: NewMetrics(prometheus.NewRegistry())})
	c := New(st, Settings{LockTimeout: time.Hour, HitForMiss: time.Second, FillTimeout: time.Minute})
	ru := Compile(&RouteConfig{}, 1<<20)
	c.Bind(0, ru, "t")
	rt := &router.Route{ID: 0}
	release := make(chan struct{})
	h := c.Phase()(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		<-release
		panic("origin handler bug")
	}))
	serve := func() (err error, panicked any) {
		defer func() { panicked = recover() }()
		ex := pipeline.NewExchange(&nopWriter{h: http.Header{}}, time.Now())
		ex.Route = rt
		req, _ := http.NewRequest("GET", "http://t.example/p", nil)
		return h.ServeHTTP(ex, req), nil
	}
	leader := make(chan any, 1)
	go func() { _, p := serve(); leader <- p }()
	for i := 0; st.flights.n.Load() == 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}
	follower := make(chan error, 1)
	go func() { err, _ := serve(); follower <- err }()
	for i := 0; telemetryValue(ru.site.coalesced) == 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if p := <-leader; p == nil {
		t.Fatal("leader's panic was swallowed")
	}
	if err := <-follower; err != errFillAbandoned {
		t.Fatalf("follower got %v, want the abandoned fill's error", err)
	}
}

func telemetryValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// A fill that completes after shutdown closed the disk writer is dropped,
// not a panic on a closed queue.
func TestDiskPutAfterClose(t *testing.T) {
	st, err := NewStore(Options{MemoryBytes: 1 << 20, DiskPath: t.TempDir(), DiskBytes: 1 << 20,
		Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st.Close()
	st.put(1, &Object{Key: "k", Body: []byte("x"), Header: http.Header{}})
	if n, _ := st.disk.stats(); n != 0 {
		t.Fatalf("%d entries written after close", n)
	}
}

// Past maxInflight fills, a request leads an untracked fill instead of
// growing the table.
func TestFlightsBounded(t *testing.T) {
	var fs flights
	fs.init()
	fs.n.Store(maxInflight)
	if f, lead := fs.join(42); f != nil || !lead {
		t.Fatalf("join over the bound: %v %v", f, lead)
	}
	fs.n.Store(0)
	f, lead := fs.join(42)
	if f == nil || !lead {
		t.Fatal("first join must lead")
	}
	if g, lead := fs.join(42); g != f || lead {
		t.Fatal("second join must follow the same flight")
	}
	fs.leave(42, f)
	if fs.busy(42) || fs.n.Load() != 0 {
		t.Fatal("leave did not remove the flight")
	}
}
