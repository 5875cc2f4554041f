package shield

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"levee/internal/pipeline"
)

func testSurge() (*Surge, *surgeCfg) {
	sc := &SurgeConfig{}
	setSurgeDefaults(sc)
	sc.Sample = 1
	c := surgeConfig(sc)
	s := newSurge(slog.New(slog.NewTextHandler(io.Discard, nil)), DefaultSurgeMaxFingerprints)
	return s, c
}

func browserReq(ua string) *http.Request {
	r := httptest.NewRequest("GET", "/products/42", nil)
	r.Header.Set("User-Agent", ua)
	r.Header.Set("Accept", "text/html")
	r.Header.Set("Accept-Language", "en")
	return r
}

// feed sends n requests of each request in rs in one window starting at t,
// each from another client address.
func feed(s *Surge, c *surgeCfg, t time.Time, saturated bool, n int, rs ...*http.Request) {
	for i := 0; i < n; i++ {
		for _, r := range rs {
			s.observe(c, s.fingerprint(r, ""), uint64(i)*0x9E3779B97F4A7C15, r, "", saturated, t)
		}
	}
}

// One client that ramps up from idle while its pool saturates is not a
// botnet: its fingerprint gets no rule, however large its share (the
// per-client limits and the fair queue deal with it).
func TestSurgeSingleClientGetsNoRule(t *testing.T) {
	s, c := testSurge()
	t0 := time.Unix(1000, 0)
	r := browserReq("Go-http-client/2.0")
	for w := 0; w < 4; w++ {
		at := t0.Add(time.Duration(w) * time.Second)
		for i := 0; i < 2000; i++ {
			s.observe(c, s.fingerprint(r, ""), 42, r, "", true, at)
		}
	}
	if rules := *s.rules.Load(); len(rules) != 0 {
		t.Fatalf("a single client got %d generated rules", len(rules))
	}
}

// A botnet's shared fingerprint, whose share jumps while the origin
// saturates, gets a rule; the fingerprints that were there before do not;
// the rule is lifted once the flood is gone.
func TestSurgeFlagsBotnetFingerprint(t *testing.T) {
	s, c := testSurge()
	t0 := time.Unix(1000, 0)
	legit := []*http.Request{browserReq("Mozilla/5.0 Firefox/130"), browserReq("Mozilla/5.0 Chrome/129")}
	for w := 0; w < 5; w++ {
		feed(s, c, t0.Add(time.Duration(w)*time.Second), false, 20, legit...)
	}
	bot := browserReq("floodbot/2.0")
	bot.Header.Del("Accept-Language")
	for w := 5; w < 7; w++ {
		at := t0.Add(time.Duration(w) * time.Second)
		feed(s, c, at, true, 20, legit...)
		feed(s, c, at, true, 2000, bot)
	}
	feed(s, c, t0.Add(7*time.Second), true, 1, legit...) // ends the window
	st := s.Status()
	if len(st) != 1 || st[0].Fingerprint.UserAgent != "floodbot/2.0" {
		t.Fatalf("generated rules %+v, want one on floodbot/2.0", st)
	}
	if s.match(s.fingerprint(legit[0], ""), t0.Add(7*time.Second)) != nil {
		t.Fatal("a fingerprint of the baseline was flagged")
	}
	if s.match(s.fingerprint(bot, ""), t0.Add(7*time.Second)) == nil {
		t.Fatal("the bot's fingerprint has no rule in force")
	}
	for w := 8; w < 10; w++ {
		feed(s, c, t0.Add(time.Duration(w)*time.Second), false, 20, legit...)
	}
	if st := s.Status(); len(st) != 0 {
		t.Fatalf("rules %+v still in force after the flood ended", st)
	}
}

// A flash crowd of varied browsers saturating the origin has no dominant
// new fingerprint: no rule.
func TestSurgeFlashCrowdNoRule(t *testing.T) {
	s, c := testSurge()
	t0 := time.Unix(1000, 0)
	for w := 0; w < 5; w++ {
		feed(s, c, t0.Add(time.Duration(w)*time.Second), false, 20, browserReq("Mozilla/5.0 Firefox/130"))
	}
	var crowd []*http.Request
	for i := 0; i < 200; i++ {
		r := browserReq(fmt.Sprintf("Mozilla/5.0 (X11; Linux) Chrome/%d.0.%d", 100+i%30, i))
		if i%3 == 0 {
			r.Header.Set("DNT", "1")
		}
		crowd = append(crowd, r)
	}
	for w := 5; w < 10; w++ {
		feed(s, c, t0.Add(time.Duration(w)*time.Second), true, 10, crowd...)
	}
	if st := s.Status(); len(st) != 0 {
		t.Fatalf("flash crowd got generated rules: %+v", st)
	}
}

// A million distinct fingerprints, in a surge, keep the profile at its
// bound and the generated rules at theirs.
func TestSurgeProfileBoundedMillionFingerprints(t *testing.T) {
	s, c := testSurge()
	c.maxRules = 4
	t0 := time.Unix(1000, 0)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := browserReq("x")
	total := 1_000_000
	if raceOn {
		total = 100_000 // the race detector makes a million take over half a minute
	}
	for i := 0; i < total; i++ {
		r.Header["User-Agent"] = []string{"bot/" + fmt.Sprint(i)}
		// Every 5,000 requests one window ends, saturated.
		s.observe(c, s.fingerprint(r, ""), uint64(i)*0x9E3779B97F4A7C15, r, "", true, t0.Add(time.Duration(i/5_000)*time.Second))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(s.entries) > DefaultSurgeMaxFingerprints || len(s.index) > DefaultSurgeMaxFingerprints {
		t.Fatalf("profile holds %d entries, %d indexed, bound %d", len(s.entries), len(s.index), DefaultSurgeMaxFingerprints)
	}
	if n := len(s.Status()); n > c.maxRules {
		t.Fatalf("%d generated rules, bound %d", n, c.maxRules)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("heap grew %d bytes over a million fingerprints", grew)
	}
}

// Through the phase: a generated rule holds its fingerprint to the
// aggregate rate (429 + Retry-After, explained in the access log's
// decisions), exempts clients with a good reputation, and the "surge"
// kill switch turns it off.
func TestSurgeRuleThroughPhase(t *testing.T) {
	s, st := testShield(t, "shield: {surge: {rate: 1/s, sample: 1}}")
	t0 := time.Now()
	bot := browserReq("floodbot/2.0")
	fp := st.surge.fingerprint(bot, "")
	st.surge.mu.Lock()
	e := fpEntry{fp: fp, count: 100, desc: fpDesc{UserAgent: "floodbot/2.0"}}
	st.surge.addRule(s.surge, &e, 0.9, 100, 1, t0, true, false)
	st.surge.mu.Unlock()
	good := "192.0.2.50"
	st.rep.Record(addrKey(st.seed, netipMust(good)), t0.Add(-5*time.Second))
	st.rep.Record(addrKey(st.seed, netipMust(good)), t0)
	limited := 0
	for i := 0; i < 20; i++ {
		rec, _ := call(s, browserReq("floodbot/2.0"), fmt.Sprintf("198.51.100.%d", i), okNext)
		if rec.Code == 429 {
			limited++
			if rec.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 20 bot requests limited at 1/s, want most", limited)
	}
	if rec, _ := call(s, browserReq("floodbot/2.0"), good, okNext); rec.Code != 200 {
		t.Fatalf("client with a good reputation got %d", rec.Code)
	}
	if rec, _ := call(s, browserReq("Mozilla/5.0 Firefox/130"), "198.51.100.1", okNext); rec.Code != 200 {
		t.Fatalf("other fingerprint got %d", rec.Code)
	}
	st.Kill(KillIndex("surge"), true)
	if rec, _ := call(s, browserReq("floodbot/2.0"), "198.51.100.1", okNext); rec.Code != 200 {
		t.Fatalf("kill switch on: got %d", rec.Code)
	}
}

// The whole phase with its defaults (admission, surge profile, a rate
// rule) does not allocate for an ordinary request, sampled or not.
func TestPhaseDefaultsNoAlloc(t *testing.T) {
	s, _ := testShield(t, "shield: {rules: [{name: a, rate: 1000000/s, burst: 1000000}], surge: {sample: 1}}")
	h := s.Phase()(okNextHandler{})
	r := browserReq("Mozilla/5.0 Firefox/130")
	ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
	ex.Client = netip.MustParseAddr("192.0.2.1")
	ex.Site, ex.Route = testSite, testRoute
	serve := func() {
		ex.GateState = 0 // a new request on the same Exchange
		if err := h.ServeHTTP(ex, r); err != nil {
			t.Fatal(err)
		}
	}
	serve() // the fingerprint's profile entry is made once
	if n := testing.AllocsPerRun(1000, serve); n != 0 {
		t.Fatalf("%v allocations per request, want 0", n)
	}
}

type okNextHandler struct{}

// ServeHTTP answers as an origin would, so the admission limiter learns
// and the client's reputation is recorded.
func (okNextHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ex := pipeline.From(w)
	if ex.OriginGate != nil {
		if err := ex.OriginGate.EnterOrigin(ex, r); err != nil {
			return err
		}
	}
	ex.OriginNS = time.Millisecond
	w.WriteHeader(200)
	return nil
}

// BenchmarkSurgeObserve is the sampled path of the surge profile under
// parallel load: a botnet's few fingerprints from many clients, every
// request sampled, within one window.
func BenchmarkSurgeObserve(b *testing.B) {
	s, c := testSurge()
	t0 := time.Unix(1000, 0)
	rs := []*http.Request{browserReq("floodbot/2.0"), browserReq("Mozilla/5.0 Firefox/130"), browserReq("Mozilla/5.0 Chrome/129")}
	fps := []uint64{s.fingerprint(rs[0], ""), s.fingerprint(rs[1], ""), s.fingerprint(rs[2], "")}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var i uint64
		for pb.Next() {
			i++
			k := i % 3
			s.observe(c, fps[k], i*0x9E3779B97F4A7C15, rs[k], "", true, t0)
		}
	})
}

// doneCounter is a request context that counts the calls of Done.
type doneCounter struct {
	context.Context
	calls int
}

func (c *doneCounter) Done() <-chan struct{} { c.calls++; return c.Context.Done() }

// Admission with a free slot does not take the request context's Done:
// h1server makes a channel for the first Done and cannot reuse that
// context for the connection's next request.
func TestAdmissionWithAFreeSlotTakesNoDone(t *testing.T) {
	s, _ := testShield(t, "shield: {}")
	h := s.Phase()(okNextHandler{})
	ctx := &doneCounter{Context: context.Background()}
	r := browserReq("Mozilla/5.0 Firefox/130").WithContext(ctx)
	for range 3 {
		ex := pipeline.NewExchange(httptest.NewRecorder(), time.Now())
		ex.Client = netip.MustParseAddr("192.0.2.1")
		ex.Site, ex.Route = testSite, testRoute
		if err := h.ServeHTTP(ex, r); err != nil {
			t.Fatal(err)
		}
		if ex.OriginGate == nil {
			t.Fatal("no admission gate: the test does not reach it")
		}
	}
	if ctx.calls != 0 {
		t.Fatalf("Done taken %d times for 3 requests admitted at once", ctx.calls)
	}
}
