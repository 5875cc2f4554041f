package pool

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func origins(n int, weights ...int) []*Origin {
	out := make([]*Origin, n)
	for i := range out {
		w := 1
		if i < len(weights) {
			w = weights[i]
		}
		id := fmt.Sprintf("http://10.0.0.%d:80", i+1)
		u, _ := url.Parse(id)
		out[i] = NewOrigin(id, u, w, nil, 0, 0)
	}
	return out
}

func count(t *testing.T, p Picker, n int, r *http.Request) map[*Origin]int {
	t.Helper()
	got := map[*Origin]int{}
	for range n {
		o := p.Pick(r)
		if o == nil {
			t.Fatal("pick returned nil with usable origins")
		}
		got[o]++
	}
	return got
}

func req() *http.Request { return httptest.NewRequest("GET", "http://x/a/b?k=v&user=42", nil) }

func pickers(os []*Origin) map[string]Picker {
	return map[string]Picker{
		"round_robin":       NewRoundRobin(os),
		"least_outstanding": NewLeastOutstanding(os),
		"ewma":              NewEWMA(os),
		"hash":              NewHash(os, NewKeyFunc("path", "")),
		"cookie":            NewSticky(os, "c", 0),
	}
}

func TestEveryPolicySkipsDownOrigins(t *testing.T) {
	os := origins(5)
	os[0].State.SetUp(false)
	os[3].State.SetUp(false)
	for name, p := range pickers(os) {
		for range 200 {
			o := p.Pick(req())
			if o == nil || o == os[0] || o == os[3] {
				t.Fatalf("%s picked %v, a down origin or nil", name, o)
			}
		}
	}
}

func TestEveryPolicyReturnsNilWhenAllDown(t *testing.T) {
	os := origins(3)
	for _, o := range os {
		o.State.SetUp(false)
	}
	for name, p := range pickers(os) {
		if o := p.Pick(req()); o != nil {
			t.Fatalf("%s picked %s with every origin down", name, o.ID)
		}
	}
}

func TestRoundRobinWeights(t *testing.T) {
	os := origins(3, 1, 2, 3)
	got := count(t, NewRoundRobin(os), 600, req())
	for i, want := range []int{100, 200, 300} {
		if got[os[i]] != want {
			t.Fatalf("origin %d got %d picks, want %d", i, got[os[i]], want)
		}
	}
}

func TestLeastOutstandingPrefersIdle(t *testing.T) {
	os := origins(2)
	os[0].State.inflight.Store(50)
	got := count(t, NewLeastOutstanding(os), 100, req())
	if got[os[1]] != 100 {
		t.Fatalf("idle origin got %d of 100 picks", got[os[1]])
	}
}

func TestEWMAPrefersFast(t *testing.T) {
	os := origins(3)
	os[0].State.Observe(int64(200 * time.Millisecond))
	os[1].State.Observe(int64(time.Millisecond))
	os[2].State.Observe(int64(2 * time.Millisecond))
	got := count(t, NewEWMA(os), 300, req())
	// The slow origin only wins when drawn against itself, never: two
	// distinct origins are drawn, so it always loses.
	if got[os[0]] != 0 {
		t.Fatalf("slow origin got %d of 300 picks", got[os[0]])
	}
}

func TestEWMAConverges(t *testing.T) {
	var s State
	for range 50 {
		s.Observe(int64(10 * time.Millisecond))
	}
	if d := s.EWMA(); d < 9*time.Millisecond || d > 11*time.Millisecond {
		t.Fatalf("EWMA after 50 samples of 10ms is %v", d)
	}
}

func TestHashIsConsistent(t *testing.T) {
	os := origins(10)
	h := NewHash(os, NewKeyFunc("header", "x-user"))
	before := map[string]*Origin{}
	for i := range 1000 {
		r := req()
		r.Header.Set("X-User", fmt.Sprint(i))
		before[fmt.Sprint(i)] = h.Pick(r)
	}
	os[4].State.SetUp(false)
	moved := 0
	for k, o := range before {
		r := req()
		r.Header.Set("X-User", k)
		got := h.Pick(r)
		if o != os[4] && got != o {
			t.Fatalf("key %s moved from %s to %s though its origin stayed", k, o.ID, got.ID)
		}
		if o == os[4] {
			moved++
		}
	}
	if moved < 50 || moved > 160 {
		t.Fatalf("origin 4 of 10 had %d of 1000 keys", moved)
	}
}

func TestHashWeighted(t *testing.T) {
	os := origins(2, 1, 3)
	h := NewHash(os, NewKeyFunc("query", "k"))
	got := map[*Origin]int{}
	for i := range 4000 {
		r := httptest.NewRequest("GET", fmt.Sprintf("http://x/?k=%d", i), nil)
		got[h.Pick(r)]++
	}
	if share := float64(got[os[1]]) / 4000; share < 0.70 || share > 0.80 {
		t.Fatalf("weight 3 of 4 got share %.2f", share)
	}
}

func TestHashWithoutKeyRoundRobins(t *testing.T) {
	os := origins(2)
	h := NewHash(os, NewKeyFunc("cookie", "session"))
	got := count(t, h, 100, req())
	if got[os[0]] != 50 {
		t.Fatalf("keyless requests: %d of 100 on origin 0, want round robin", got[os[0]])
	}
}

func TestStickyCookie(t *testing.T) {
	os := origins(3)
	s := NewSticky(os, "levee_origin", time.Hour)
	r := req()
	first := s.Pick(r)
	h := http.Header{}
	s.Stamp(r, h, first)
	res := http.Response{Header: h}
	cs := res.Cookies()
	if len(cs) != 1 || cs[0].Name != "levee_origin" || cs[0].MaxAge != 3600 {
		t.Fatalf("Set-Cookie = %q", h["Set-Cookie"])
	}
	for range 20 {
		r2 := req()
		r2.AddCookie(&http.Cookie{Name: "other", Value: "1"})
		r2.AddCookie(cs[0])
		if o := s.Pick(r2); o != first {
			t.Fatalf("cookie for %s picked %s", first.ID, o.ID)
		}
		h2 := http.Header{}
		s.Stamp(r2, h2, first)
		if len(h2) != 0 {
			t.Fatalf("stamped again a client that had the cookie: %v", h2)
		}
	}
	first.State.SetUp(false)
	r3 := req()
	r3.AddCookie(cs[0])
	if o := s.Pick(r3); o == first || o == nil {
		t.Fatalf("sticky origin down: picked %v", o)
	}
}

func TestRamp(t *testing.T) {
	var s State
	if s.Ramp(0) != 1 {
		t.Fatal("not ramping: share must be 1")
	}
	s.StartRamp(1000, 100)
	for _, c := range []struct {
		now  int64
		want float64
	}{{1000, minRamp}, {1050, 0.5}, {1090, 0.9}, {1100, 1}} {
		if got := s.Ramp(c.now); got < c.want-0.001 || got > c.want+0.001 {
			t.Fatalf("Ramp(%d) = %v, want %v", c.now, got, c.want)
		}
	}
	if !s.EndRampIfDone(1099) || s.EndRampIfDone(1100) || s.Ramp(1050) != 1 {
		t.Fatal("ramp did not end at its end")
	}
}

func TestSlowStartGate(t *testing.T) {
	os := origins(2)
	os[1].State.StartRamp(time.Now().UnixNano(), time.Hour)
	got := count(t, NewRoundRobin(os), 1000, req())
	if got[os[1]] > 150 {
		t.Fatalf("ramping origin at ~5%% got %d of 1000 picks", got[os[1]])
	}
	// Alone in its pool, a ramping origin is refused most of the time in
	// Ramp mode (so a backup pool keeps the traffic) but taken in Healthy.
	p := New("p", os[1:], nil)
	nilCount := 0
	for range 200 {
		if p.Pick(req(), nil, Ramp) == nil {
			nilCount++
		}
		if p.Pick(req(), nil, Healthy) != os[1] {
			t.Fatal("Healthy mode refused a ramping origin")
		}
	}
	if nilCount < 150 {
		t.Fatalf("Ramp mode refused a ~5%% origin only %d of 200 times", nilCount)
	}
}

func TestPoolPickModes(t *testing.T) {
	os := origins(3)
	p := New("p", os, nil)
	tried := []*Origin{os[0]}
	for range 50 {
		if o := p.Pick(req(), tried, Ramp); o == os[0] {
			t.Fatal("picked an origin already tried")
		}
	}
	for _, o := range os {
		o.State.SetUp(false)
	}
	if p.Pick(req(), nil, Healthy) != nil {
		t.Fatal("Healthy mode picked a down origin")
	}
	seen := map[*Origin]bool{}
	for range 3 {
		seen[p.Pick(req(), nil, Any)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("panic mode rotated over %d of 3 origins", len(seen))
	}
	if p.Pick(req(), os, Any) != nil {
		t.Fatal("panic mode picked an origin already tried")
	}
}

func TestCircuitBreaker(t *testing.T) {
	u, _ := url.Parse("http://a")
	o := NewOrigin("http://a", u, 1, nil, 2, 1)
	ctx := context.Background()
	if !o.Acquire(ctx, time.Second) || !o.Acquire(ctx, time.Second) {
		t.Fatal("could not take the 2 allowed slots")
	}
	if o.Full() {
		t.Fatal("full with a pending place left")
	}
	done := make(chan bool)
	go func() { done <- o.Acquire(ctx, 5*time.Second) }()
	for o.lim.pending.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if !o.Full() || o.Acquire(ctx, time.Second) {
		t.Fatal("a request beyond max_conns + max_pending was not turned away")
	}
	if o.usable() {
		t.Fatal("a full origin counts as usable")
	}
	o.Release()
	if !<-done {
		t.Fatal("the pending request did not get the released slot")
	}
	if got := o.State.Inflight(); got != 2 {
		t.Fatalf("in flight = %d, want 2", got)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if o.Acquire(short, time.Minute) {
		t.Fatal("a pending request outlived its context")
	}
}

func TestKeyFuncs(t *testing.T) {
	r := httptest.NewRequest("GET", "http://x/p/q?a=1&user=bob&z", nil)
	r.RemoteAddr = "[2001:db8::1]:5555"
	r.RequestURI = "/p/q?a=1&user=bob&z"
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("Cookie", `a=1; sid="s-42"; b=2`)
	for _, c := range []struct{ kind, name, want string }{
		{"path", "", "/p/q"}, {"uri", "", "/p/q?a=1&user=bob&z"}, {"client_ip", "", "2001:db8::1"},
		{"header", "x-tenant", "acme"}, {"cookie", "sid", "s-42"}, {"query", "user", "bob"},
		{"query", "missing", ""}, {"cookie", "none", ""},
	} {
		if got := NewKeyFunc(c.kind, c.name)(r); got != c.want {
			t.Errorf("%s:%s = %q, want %q", c.kind, c.name, got, c.want)
		}
	}
}
