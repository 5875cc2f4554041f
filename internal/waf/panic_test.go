package waf

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"levee/internal/guard"
	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/router"
	"levee/internal/telemetry"
)

// A panic inside an inspection applies the route's policy (open: the
// request goes on; closed: 503) and never exits the process; after 3
// the breaker bypasses the module under the same policies.
func TestPanicAppliesPolicyAndTripsTheBreaker(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mod := modswitch.New(log, nil, "").Module("waf", modswitch.FailOpen)
	mod.SetBreaker(3, 1000, time.Minute, time.Hour)
	wall := guard.New(log, nil)
	c := NewCapability(pipeline.Host{Log: log, Wall: wall}, mod)
	open := &engine{rules: compileRules([]Rule{{ID: 1000001, Target: "path", Regex: "^/evil"}}, nil), budget: time.Second}
	closed := &engine{rules: open.rules, failClosed: true, budget: time.Second}
	reached := 0
	h := c.phase([]*engine{open, closed}, make(chan struct{}, 4))(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		reached++
		return nil
	}))
	serve := func(route int) error {
		ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
		ex.Route = &router.Route{ID: route}
		r := httptest.NewRequest("GET", "/evil", nil)
		return h.ServeHTTP(ex, r)
	}
	if err := serve(0); err == nil || reached != 0 {
		t.Fatalf("without a panic the rule must block: err %v, reached %d", err, reached)
	}
	testPanic.Store(true)
	defer testPanic.Store(false)
	for i := 0; i < 3; i++ {
		if err := serve(i % 2); i%2 == 0 && err != nil || i%2 == 1 && pipeline.Classify(err).Status != 503 {
			t.Fatalf("panic %d on the %s route: %v", i, map[int]string{0: "open", 1: "closed"}[i%2], err)
		}
	}
	if reached != 2 {
		t.Fatalf("reached %d, want 2 (the open route's requests)", reached)
	}
	// The breaker is open: no inspection runs, the policies apply.
	if err := serve(0); err != nil || reached != 3 {
		t.Fatalf("breaker open, open route: %v", err)
	}
	if err := serve(1); pipeline.Classify(err).Status != 503 {
		t.Fatalf("breaker open, closed route: %v", err)
	}
	if got := wall.Count("module:waf"); got != 3 {
		t.Fatalf("the wall recorded %v panics, want 3", got)
	}
	if got := telemetry.Value(c.m.byResult["bypass_breaker"]); got != 1 {
		t.Fatalf("bypass_breaker = %v, want 1", got)
	}
}
