package health

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/config/schema"
	"levee/internal/guard"
	"levee/internal/pool"
	"levee/internal/telemetry"
)

// clock is a fake clock for one Store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func newTestStore(t *testing.T) (*Store, *clock, *logBuf) {
	lb := &logBuf{}
	lg := slog.New(slog.NewJSONHandler(lb, nil))
	reg := prometheus.NewRegistry()
	s := NewStore(lg, guard.New(lg, reg), reg)
	c := &clock{t: time.Unix(1_000_000, 0)}
	s.now = c.now
	s.manual = true
	t.Cleanup(s.Stop)
	return s, c, lb
}

func healthCfg(active *ActiveConfig) *PoolConfig {
	h := &PoolConfig{Active: active}
	h.SetDefaults()
	return h
}

func bind(s *Store, name string, h *PoolConfig, slow time.Duration, rt http.RoundTripper, urls ...string) ([]*pool.Origin, *Def) {
	os := make([]*pool.Origin, len(urls))
	for i, id := range urls {
		u, _ := url.Parse(id)
		os[i] = pool.NewOrigin(id, u, 1, nil, 0, 0)
	}
	d := &Def{Name: name, Health: h, SlowStart: slow, Transport: rt}
	s.Bind(d, os)
	return os, d
}

// toggle is an origin whose health check answers 200 or 500 on command.
func toggle(t *testing.T) (*httptest.Server, *atomic.Bool) {
	var ok atomic.Bool
	ok.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok.Load() {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "healthy")
	}))
	t.Cleanup(srv.Close)
	return srv, &ok
}

func TestUnknownUntilFirstResult(t *testing.T) {
	s, _, _ := newTestStore(t)
	srv, ok := toggle(t)
	ok.Store(false)
	_, d := bind(s, "p", healthCfg(&ActiveConfig{Path: "/hz", Interval: schema.Duration(time.Hour)}), 0, nil, srv.URL)
	if up, known := s.State("p", srv.URL); !up || known {
		t.Fatalf("before any check: up=%v known=%v, want up and unknown", up, known)
	}
	if up, known := s.State("nope", "http://x"); !up || known {
		t.Fatal("an origin never seen must count as up and unknown")
	}
	s.Sync([]*Def{d})
	s.Round("p")
	if up, known := s.State("p", srv.URL); up || !known {
		t.Fatalf("after a failed first check: up=%v known=%v", up, known)
	}
}

func TestRiseAndFall(t *testing.T) {
	s, c, lb := newTestStore(t)
	srv, ok := toggle(t)
	h := healthCfg(&ActiveConfig{Path: "/", Interval: schema.Duration(time.Hour), Rise: 3, Fall: 2, ExpectBody: "healthy"})
	h.Damping = schema.Duration(time.Second)
	_, d := bind(s, "p", h, 0, nil, srv.URL)
	s.Sync([]*Def{d})
	state := func() bool { up, _ := s.State("p", srv.URL); return up }
	s.Round("p")
	ok.Store(false)
	c.add(2 * time.Second)
	s.Round("p")
	if !state() {
		t.Fatal("down after 1 failure with fall 2")
	}
	s.Round("p")
	if state() {
		t.Fatal("still up after 2 failures with fall 2")
	}
	ok.Store(true)
	c.add(2 * time.Second)
	s.Round("p")
	s.Round("p")
	if state() {
		t.Fatal("up after 2 successes with rise 3")
	}
	s.Round("p")
	if !state() {
		t.Fatal("still down after 3 successes with rise 3")
	}
	if n := lb.count(`"health: origin down"`); n != 1 {
		t.Fatalf("%d 'origin down' log lines, want 1", n)
	}
	if n := lb.count(`"health: origin up"`); n != 1 {
		t.Fatalf("%d 'origin up' log lines, want 1", n)
	}
}

// TestFlappingIsDamped: an origin that flaps every 2 s for 60 s changes
// membership at most once per damping window.
func TestFlappingIsDamped(t *testing.T) {
	s, c, lb := newTestStore(t)
	srv, ok := toggle(t)
	h := healthCfg(&ActiveConfig{Path: "/", Interval: schema.Duration(500 * time.Millisecond), Rise: 1, Fall: 1})
	h.Damping = schema.Duration(10 * time.Second)
	_, d := bind(s, "p", h, 0, nil, srv.URL)
	s.Sync([]*Def{d})
	var changes []time.Time
	prev := true
	start := c.now()
	for step := range 120 { // 120 rounds of 500ms = 60s
		ok.Store((step/4)%2 == 0) // flips every 2s
		s.Round("p")
		s.Sweep()
		if up, _ := s.State("p", srv.URL); up != prev {
			changes = append(changes, c.now())
			prev = up
		}
		c.add(500 * time.Millisecond)
	}
	if len(changes) < 2 {
		t.Fatalf("only %d changes: damping must delay, not freeze", len(changes))
	}
	for i := 1; i < len(changes); i++ {
		if gap := changes[i].Sub(changes[i-1]); gap < 10*time.Second {
			t.Fatalf("changes %d and %d are %v apart, under the 10s window (all: %v)", i-1, i, gap, changes)
		}
	}
	if max := int(c.now().Sub(start)/(10*time.Second)) + 1; len(changes) > max {
		t.Fatalf("%d changes in 60s, at most %d allowed", len(changes), max)
	}
	if n := lb.count(`"health: origin `); n != len(changes) {
		t.Fatalf("%d transition log lines for %d changes", n, len(changes))
	}
}

func TestPassiveEjectionGrowsAndRespectsShare(t *testing.T) {
	s, c, _ := newTestStore(t)
	h := healthCfg(nil)
	h.Damping = schema.Duration(time.Millisecond)
	os, d := bind(s, "p", h, 0, nil, "http://a:1", "http://b:1", "http://c:1", "http://d:1")
	s.Sync([]*Def{d})
	fail := func(o *pool.Origin, n int) {
		for range n {
			o.Report.Report(pool.ConnectFailure, 0)
		}
	}
	fail(os[0], 4)
	if !os[0].State.Up() {
		t.Fatal("ejected before consecutive_failures (5)")
	}
	os[0].Report.Report(pool.Success, 1000)
	fail(os[0], 4)
	if !os[0].State.Up() {
		t.Fatal("a success did not reset the consecutive count")
	}
	fail(os[0], 1)
	if os[0].State.Up() {
		t.Fatal("not ejected after 5 consecutive failures")
	}
	// max_ejected_share 0.5 of 4: a second may go, a third may not.
	fail(os[1], 5)
	fail(os[2], 5)
	if os[1].State.Up() || !os[2].State.Up() {
		t.Fatalf("share: b up=%v c up=%v, want b ejected and c kept", os[1].State.Up(), os[2].State.Up())
	}
	c.add(10*time.Second + time.Millisecond)
	s.Sweep()
	if !os[0].State.Up() {
		t.Fatal("still out after base_ejection (10s)")
	}
	fail(os[0], 5)
	c.add(15 * time.Second)
	s.Sweep()
	if os[0].State.Up() {
		t.Fatal("second ejection did not double to 20s")
	}
	c.add(6 * time.Second)
	s.Sweep()
	if !os[0].State.Up() {
		t.Fatal("still out after the doubled ejection ended")
	}
}

func TestSlowStartOnRecovery(t *testing.T) {
	s, c, _ := newTestStore(t)
	srv, ok := toggle(t)
	h := healthCfg(&ActiveConfig{Path: "/", Interval: schema.Duration(time.Hour), Rise: 1, Fall: 1})
	os, d := bind(s, "p", h, 30*time.Second, nil, srv.URL)
	s.Sync([]*Def{d})
	s.Round("p")
	if r := os[0].State.Ramp(c.now().UnixNano()); r != 1 {
		t.Fatalf("an origin up from boot ramps (%v)", r)
	}
	ok.Store(false)
	s.Round("p")
	ok.Store(true)
	c.add(6 * time.Second)
	s.Round("p")
	if r := os[0].State.Ramp(c.now().UnixNano()); r > 0.1 {
		t.Fatalf("just recovered: ramp share %v", r)
	}
	c.add(15 * time.Second)
	if r := os[0].State.Ramp(c.now().UnixNano()); r < 0.45 || r > 0.55 {
		t.Fatalf("half way through slow start: share %v", r)
	}
}

// TestStateOutlivesReload: binding the same pool and origin again (a new
// generation) hands back the same state; a removed origin is forgotten.
func TestStateOutlivesReload(t *testing.T) {
	s, _, _ := newTestStore(t)
	h := healthCfg(nil)
	os1, d1 := bind(s, "p", h, 0, nil, "http://a:1", "http://b:1")
	s.Sync([]*Def{d1})
	os1[0].State.SetUp(false)
	os2, d2 := bind(s, "p", h, time.Minute, nil, "http://a:1", "http://c:1")
	s.Sync([]*Def{d2})
	if os2[0].State != os1[0].State || os2[0].State.Up() {
		t.Fatal("a kept origin lost its state across a reload")
	}
	if os2[1].State.Ramp(time.Unix(1_000_001, 0).UnixNano()) >= 1 {
		t.Fatal("an origin added by a reload does not slow-start")
	}
	if _, known := s.State("p", "http://b:1"); known {
		t.Fatal("a removed origin is still known")
	}
	s.Sync(nil)
	if len(s.Status()) != 0 {
		t.Fatal("pools removed from the config are still in the store")
	}
}

func TestTCPCheckAndPanicLog(t *testing.T) {
	s, _, lb := newTestStore(t)
	srv, _ := toggle(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	h := healthCfg(&ActiveConfig{Type: "tcp", Interval: schema.Duration(time.Hour)})
	_, d := bind(s, "p", h, 0, nil, srv.URL, deadURL)
	s.Sync([]*Def{d})
	s.Round("p")
	if up, _ := s.State("p", srv.URL); !up {
		t.Fatal("tcp check failed on a listening origin")
	}
	if up, _ := s.State("p", deadURL); up {
		t.Fatal("tcp check passed on a closed port")
	}
	s.Panic("p")
	s.Panic("p")
	if n := lb.count("panic mode:"); n != 1 {
		t.Fatalf("%d panic log lines for one panic episode", n)
	}
	st := s.Status()["p"]
	if !st.Panic || st.Up != 1 || st.Total != 2 {
		t.Fatalf("status = %+v", st)
	}
	s.Sweep()
	if n := lb.count("panic mode over"); n != 1 {
		t.Fatal("end of panic mode not logged")
	}
	if v := telemetry.Value(s.m.panics.WithLabelValues("p")); v != 2 {
		t.Fatalf("panic counter = %v, want 2", v)
	}
}

func TestManyOriginsRoundIsBounded(t *testing.T) {
	s, _, _ := newTestStore(t)
	srv, _ := toggle(t)
	urls := make([]string, 40)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s#%d", srv.URL, i)
	}
	// The same server under 40 identities: a round checks them all.
	_, d := bind(s, "p", healthCfg(&ActiveConfig{Interval: schema.Duration(time.Hour)}), 0, nil, urls...)
	s.Sync([]*Def{d})
	s.Round("p")
	if v := telemetry.Value(s.m.checks.WithLabelValues("p", "ok")); v != 40 {
		t.Fatalf("%v checks ok, want 40", v)
	}
	for _, o := range s.Status()["p"].Origins {
		if !o.Known || o.LastCheck == nil {
			t.Fatalf("origin %s not checked by the round", o.URL)
		}
	}
}

func TestActiveRecoveryEndsEjection(t *testing.T) {
	s, c, _ := newTestStore(t)
	srv, ok := toggle(t)
	h := healthCfg(&ActiveConfig{Interval: schema.Duration(time.Hour), Rise: 1, Fall: 1})
	h.Damping = schema.Duration(time.Millisecond)
	os, d := bind(s, "p", h, 0, nil, srv.URL)
	s.Sync([]*Def{d})
	for range 5 {
		os[0].Report.Report(pool.Timeout, int64(time.Second))
	}
	if os[0].State.Up() {
		t.Fatal("not ejected")
	}
	c.add(time.Second)
	s.Round("p")
	if os[0].State.Up() {
		t.Fatal("a passing check while active-up ended the ejection early")
	}
	ok.Store(false)
	s.Round("p")
	ok.Store(true)
	c.add(time.Second)
	s.Round("p")
	if !os[0].State.Up() {
		t.Fatal("an active recovery did not end the ejection")
	}
}

// An origin not yet listening at boot is marked down by the first check
// and comes back as soon as its checks pass: the first result starts no
// damping window.
func TestBootFailureIsNotDamped(t *testing.T) {
	s, c, _ := newTestStore(t)
	srv, ok := toggle(t)
	ok.Store(false)
	h := healthCfg(&ActiveConfig{Interval: schema.Duration(time.Hour), Rise: 1})
	h.Damping = schema.Duration(time.Minute)
	_, d := bind(s, "p", h, 0, nil, srv.URL)
	s.Sync([]*Def{d})
	s.Round("p")
	if up, _ := s.State("p", srv.URL); up {
		t.Fatal("first failing check did not mark the origin down")
	}
	ok.Store(true)
	c.add(time.Second)
	s.Round("p")
	if up, _ := s.State("p", srv.URL); !up {
		t.Fatal("recovery after the boot check was held by damping")
	}
	if st := s.Status()["p"].Origins[0]; !strings.Contains(st.LastError, "status 500") {
		t.Fatalf("last_error = %q, want the last failure kept", st.LastError)
	}
	ok.Store(false)
	c.add(time.Second)
	s.Round("p")
	s.Round("p")
	if up, _ := s.State("p", srv.URL); !up {
		t.Fatal("a change within the damping window of the last one was published")
	}
}
