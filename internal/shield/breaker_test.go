package shield

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"levee/internal/modswitch"
	"levee/internal/telemetry"
)

// Each sub-phase's breaker: a panic applies the sub-phase's policy (open
// lets the request through, closed answers 503) and never leaves the
// shield; after 3 panics the breaker bypasses the sub-phase under the
// same policy without running it, so the wall sees no more panics.
func TestBreakerPerSubPhase(t *testing.T) {
	policy := map[string]bool{"overload": true, "lists": false, "surge": true, "ratelimit": false, "waitingroom": false, "admission": true}
	for phase, open := range policy {
		t.Run(phase, func(t *testing.T) {
			s, st := testShield(t, `
shield:
  rules: [{name: all, rate: 100/s}]
  admission: {enabled: true}
  waiting_rooms: [{site: s, route: /, capacity: 10}]
  on_panic: {ratelimit: closed}
`)
			lg := slog.New(slog.NewTextHandler(io.Discard, nil))
			set := modswitch.New(lg, nil, "")
			st.UseSwitches(set)
			set.Module(SwitchName(KillIndex(phase)), modswitch.FailOpen).SetBreaker(3, 1000, time.Minute, time.Hour)
			st.PanicHook = func(p string) {
				if p == phase {
					panic("injected in " + p)
				}
			}
			want := http.StatusServiceUnavailable
			if open {
				want = http.StatusOK
			}
			for i := 1; i <= 5; i++ {
				reached := false
				next := func(w http.ResponseWriter, r *http.Request) error { reached = true; return okNext(w, r) }
				rec, _ := call(s, httptest.NewRequest("GET", "/", nil), "192.0.2.1", next)
				if rec.Code != want || reached != open {
					t.Fatalf("request %d: status %d, reached the next phase %v; want %d, %v", i, rec.Code, reached, want, open)
				}
			}
			if got := st.wall.Count("shield:" + phase); got != 3 {
				t.Fatalf("the wall recorded %v panics, want 3 (none once the breaker opened)", got)
			}
			if !open {
				if got := telemetry.Value(st.m.Decisions.WithLabelValues(phase, "breaker_closed")); got != 2 {
					t.Fatalf("breaker_closed decisions = %v, want 2", got)
				}
			}
		})
	}
}
