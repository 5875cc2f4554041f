package shield

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRateLimitActions(t *testing.T) {
	s, st := testShield(t, `
shield:
  rules:
    - {name: api, path_prefix: /api, methods: [POST], rate: 1/m, burst: 2}
    - {name: blk, path_prefix: /blk, rate: 1/m, burst: 1, action: block}
    - {name: lg, path_prefix: /log, rate: 1/m, burst: 1, action: log}
  lists: {allow: [192.0.2.99]}
`)
	post := func(path, ip string) *httptest.ResponseRecorder {
		rec, _ := call(s, httptest.NewRequest("POST", path, nil), ip, okNext)
		return rec
	}
	for i, want := range []int{200, 200, 429} {
		if rec := post("/api/x", "192.0.2.1"); rec.Code != want {
			t.Fatalf("request %d: %d, want %d", i, rec.Code, want)
		} else if want == 429 && rec.Header().Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if rec := post("/api/x", "192.0.2.2"); rec.Code != 200 {
		t.Fatalf("another client: %d", rec.Code)
	}
	if rec, _ := call(s, httptest.NewRequest("GET", "/api/x", nil), "192.0.2.1", okNext); rec.Code != 200 {
		t.Fatalf("GET is not covered by the POST rule: %d", rec.Code)
	}
	for i := 0; i < 5; i++ {
		if rec := post("/api/x", "192.0.2.99"); rec.Code != 200 {
			t.Fatalf("allow-listed client limited: %d", rec.Code)
		}
	}
	post("/blk", "192.0.2.1")
	if rec := post("/blk", "192.0.2.1"); rec.Code != 403 {
		t.Fatalf("block action: %d", rec.Code)
	}
	post("/log", "192.0.2.1")
	if rec := post("/log", "192.0.2.1"); rec.Code != 200 {
		t.Fatalf("log action must let the request through: %d", rec.Code)
	}
	if st.m.Decisions.WithLabelValues("ratelimit", "logged") == nil {
		t.Fatal("no metric")
	}
	// Kill switch: the rate limit no longer applies.
	st.Kill(KillRateLimit, true)
	if rec := post("/api/x", "192.0.2.1"); rec.Code != 200 {
		t.Fatalf("killed rate limit still limits: %d", rec.Code)
	}
}

func TestUnderAttackTightens(t *testing.T) {
	s, st := testShield(t, `
shield:
  attack_factor: 0.1
  rules: [{name: all, rate: 10/m, burst: 10}]
`)
	count := func(ip string) int {
		n := 0
		for i := 0; i < 20; i++ {
			if rec, _ := call(s, httptest.NewRequest("GET", "/", nil), ip, okNext); rec.Code == 200 {
				n++
			}
		}
		return n
	}
	if n := count("192.0.2.1"); n != 10 {
		t.Fatalf("normal profile let %d through, want the burst of 10", n)
	}
	st.SetUnderAttack("s", true)
	if n := count("192.0.2.2"); n != 1 {
		t.Fatalf("under attack let %d through, want 1", n)
	}
}

func TestDenyList(t *testing.T) {
	s, _ := testShield(t, `
shield:
  lists: {deny: [203.0.113.0/24, 192.0.2.5], allow: [192.0.2.5]}
`)
	if rec, _ := call(s, httptest.NewRequest("GET", "/", nil), "203.0.113.9", okNext); rec.Code != 403 {
		t.Fatalf("denied client: %d", rec.Code)
	}
	if rec, _ := call(s, httptest.NewRequest("GET", "/", nil), "192.0.2.5", okNext); rec.Code != 200 {
		t.Fatalf("allow wins over deny: %d", rec.Code)
	}
}

// A panic injected into each sub-phase is contained and applies the
// sub-phase's policy: open lets the request through, closed answers 503.
func TestPanicPolicies(t *testing.T) {
	s, st := testShield(t, `
shield:
  rules: [{name: all, rate: 100/s}]
  admission: {enabled: true}
  waiting_rooms: [{site: s, route: /, capacity: 10}]
  on_panic: {ratelimit: closed}
`)
	want := map[string]int{"overload": 200, "lists": 503, "ratelimit": 503, "waitingroom": 503, "admission": 200}
	for phase, code := range want {
		st.PanicHook = func(p string) {
			if p == phase {
				panic("injected in " + p)
			}
		}
		reached := false
		next := func(w http.ResponseWriter, r *http.Request) error { reached = true; return okNext(w, r) }
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", "")
		rec, _ := call(s, r, "192.0.2.1", next)
		if rec.Code != code {
			t.Errorf("%s: status %d, want %d", phase, rec.Code, code)
		}
		if code == 200 && !reached {
			t.Errorf("%s fails open but the request did not reach the next phase", phase)
		}
		if got := st.wall.Count("shield:" + phase); got != 1 {
			t.Errorf("%s: panics counted = %v, want 1", phase, got)
		}
		if code == 503 && !strings.Contains(rec.Body.String(), "busy") {
			t.Errorf("%s: body %q", phase, rec.Body.String())
		}
	}
}

// The tarpit lets go of a held answer when the client leaves, and its
// count returns to zero.
func TestTarpitReleasesOnClientGone(t *testing.T) {
	s, st := testShield(t, `
shield:
  tarpit: 10s
  rules: [{name: a, rate: 1/m, burst: 1}]
`)
	call(s, httptest.NewRequest("GET", "/", nil), "192.0.2.1", okNext)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	done := make(chan int)
	go func() {
		rec, _ := call(s, r, "192.0.2.1", okNext)
		done <- rec.Code
	}()
	select {
	case code := <-done:
		if code != 429 {
			t.Fatalf("status %d, want 429", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a tarpitted answer was held after its client left")
	}
	if st.held.Load() != 0 {
		t.Fatalf("%d answers still counted as held", st.held.Load())
	}
}
