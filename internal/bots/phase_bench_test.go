package bots

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/router"
)

// benchPhase is the bots phase of one route in front of a no-op origin.
func benchPhase(tb testing.TB) (pipeline.Handler, *http.Request, *pipeline.Exchange) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := NewCapability(pipeline.Host{Log: log}, nil, modswitch.New(log, nil, "").Module("bots", modswitch.FailOpen))
	cfg := &Config{}
	cfg.SetDefaults()
	rc := &RouteConfig{BlockBelow: 5}
	rc.SetDefaults()
	st := &settings{header: DefaultScoreHeader, cookie: DefaultCookie, passTTL: time.Hour, challengeTTL: time.Minute}
	h := c.phase(st, []*routeRule{compileRoute(rc)})(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	r := browserRequest()
	r.Header.Set("Cookie", "a=b; levee_pass=123.abc")
	ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
	ex.Route = &router.Route{ID: 0}
	ex.Client = netip.MustParseAddr("192.0.2.1")
	return h, r, ex
}

// TestPhaseDoesNotAllocate: the whole phase on a plain GET (score, header
// to the origin, decision for the log) makes no allocation.
func TestPhaseDoesNotAllocate(t *testing.T) {
	h, r, ex := benchPhase(t)
	if a := testing.AllocsPerRun(100, func() { _ = h.ServeHTTP(ex, r) }); a != 0 {
		t.Fatalf("the bots phase allocates %.0f times per request", a)
	}
}

func BenchmarkPhasePlainGET(b *testing.B) {
	h, r, ex := benchPhase(b)
	rt := &router.Route{ID: 0}
	b.ReportAllocs()
	for b.Loop() {
		ex.Route = rt
		_ = h.ServeHTTP(ex, r)
	}
}
