package bots

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"levee/internal/guard"
	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/router"
)

// A panic inside bot scoring costs the request its score only (fail
// open: it reaches the origin unscored) and never reaches the node's
// wall; after 3 panics the breaker bypasses the module without running it.
func TestPanicFailsOpenAndTripsTheBreaker(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mod := modswitch.New(log, nil, "").Module("bots", modswitch.FailOpen)
	mod.SetBreaker(3, 1000, time.Minute, time.Hour)
	wall := guard.New(log, nil)
	c := NewCapability(pipeline.Host{Log: log, Wall: wall}, nil, mod)
	rc := &RouteConfig{BlockBelow: 100} // would block everything when it runs
	rc.SetDefaults()
	st := &settings{header: DefaultScoreHeader, cookie: DefaultCookie, passTTL: time.Hour, challengeTTL: time.Minute}
	reached := 0
	h := c.phase(st, []*routeRule{compileRoute(rc)})(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		reached++
		if r.Header.Get(DefaultScoreHeader) != "" {
			t.Error("an unscored request carries a score")
		}
		return nil
	}))
	serve := func() *pipeline.Exchange {
		ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
		ex.Route = &router.Route{ID: 0}
		ex.Client = netip.MustParseAddr("192.0.2.1")
		r := browserRequest()
		r.Header.Set(DefaultScoreHeader, "99") // forged by the client
		if err := h.ServeHTTP(ex, r); err != nil {
			t.Fatal(err)
		}
		return ex
	}
	if ex := serve(); ex.Status != http.StatusForbidden || reached != 0 {
		t.Fatalf("without a panic: status %d, reached %d; want 403, 0", ex.Status, reached)
	}
	testPanic.Store(true)
	defer testPanic.Store(false)
	for i := 1; i <= 5; i++ {
		ex := serve()
		if reached != i {
			t.Fatalf("request %d did not reach the origin (fail open)", i)
		}
		want := "panic"
		if i > 3 {
			want = "off" // the breaker bypasses the module
		}
		if d := ex.Decisions(); len(d) != 1 || d[0].Value != want {
			t.Fatalf("request %d: decisions %v, want %s", i, d, want)
		}
	}
	if got := wall.Count("module:bots"); got != 3 {
		t.Fatalf("the wall recorded %v panics, want 3 (none after the breaker opened)", got)
	}
}
