package health_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/leveetest"
)

const head = `
admin: {listen: "127.0.0.1:0"}
listeners: [{listen: "127.0.0.1:0"}]
`

// site opens the one site of a test config; its routes follow.
const site = `sites:
- name: s
  hosts: ["*"]
  routes:
`

// Issue 4: killing one of two primary origins under load costs 0 failed
// GET/HEAD requests; the retries absorb it.
func TestKillOnePrimaryUnderLoad(t *testing.T) {
	a, b := newOrigin(t, text("a")), newOrigin(t, text("b"))
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - path: /
    origins: [{url: %q}, {url: %q}]
    health: {active: {path: /hz, interval: 300ms}}
`, a.URL(), b.URL()))
	stop := make(chan struct{})
	done := make(chan *result)
	go func() { done <- load(n.URL("/x"), 4, 400, stop) }()
	if !eventually(5*time.Second, func() bool { return a.hits.Load() > 50 }) {
		t.Fatal("origin a got no traffic")
	}
	t0 := time.Now()
	a.kill()
	t.Logf("kill took %v", time.Since(t0))
	killedAt := b.hits.Load()
	if !eventually(5*time.Second, func() bool { return b.hits.Load() > killedAt+200 }) {
		t.Fatal("origin b did not take the traffic")
	}
	t.Logf("b took over in %v", time.Since(t0))
	close(stop)
	res := <-done
	if f := res.failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed after killing one primary: %v", f, f+res.ok.Load(), res.errs)
	}
	if res.ok.Load() < 300 {
		t.Fatalf("only %d requests ran", res.ok.Load())
	}
}

// Issue 4: taking the whole primary pool down moves traffic to the backup
// pool within 3 check intervals with 0 failed GET/HEAD; when the primary
// comes back, traffic returns gradually (slow start).
func TestPrimaryPoolDownFailsOverAndReturnsGradually(t *testing.T) {
	a1, a2, c := newOrigin(t, text("primary")), newOrigin(t, text("primary")), newOrigin(t, text("backup"))
	n := leveetest.Start(t, head+fmt.Sprintf(`
pools:
- name: primary
  origins: [{url: %q}, {url: %q}]
  health: {active: {path: /hz, interval: 300ms, rise: 1, fall: 2}, damping: 1s}
  slow_start: 4s
- name: backup
  origins: [{url: %q}]
  health: {active: {path: /hz, interval: 300ms}}
sites:
- name: s
  hosts: ["*"]
  routes: [{path: /, pools: [primary, backup]}]
`, a1.URL(), a2.URL(), c.URL()))
	checks := func(result string) float64 {
		return gather(t, n, "levee_health_checks_total", `pool="primary",result="`+result+`"`)
	}
	if got := get(t, n.URL("/"), 20); got["primary"] != 20 {
		t.Fatalf("before the outage: %v", got)
	}
	stop := make(chan struct{})
	done := make(chan *result)
	go func() { done <- load(n.URL("/"), 4, 20000, stop) }()
	time.Sleep(100 * time.Millisecond)
	failsBefore := checks("fail")
	a1.kill()
	a2.kill()
	down := func() bool {
		u1, _ := n.HealthState("primary", a1.URL())
		u2, _ := n.HealthState("primary", a2.URL())
		return !u1 && !u2
	}
	if !eventually(5*time.Second, down) {
		t.Fatal("primary pool never marked down")
	}
	// fall 2: two rounds of 2 origins; 3 intervals allow at most 3 rounds.
	if rounds := (checks("fail") - failsBefore) / 2; rounds > 3 {
		t.Fatalf("primary marked down after %v failed rounds, more than 3 check intervals", rounds)
	}
	backupAt := c.hits.Load()
	if !eventually(3*time.Second, func() bool { return c.hits.Load() > backupAt+100 }) {
		t.Fatal("backup pool got no traffic")
	}
	close(stop)
	res := <-done
	if f := res.failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during failover: %v", f, f+res.ok.Load(), res.errs)
	}
	if got := get(t, n.URL("/"), 20); got["backup"] != 20 {
		t.Fatalf("with the primary down: %v", got)
	}

	a1.revive()
	a2.revive()
	up := func() bool {
		u1, _ := n.HealthState("primary", a1.URL())
		u2, _ := n.HealthState("primary", a2.URL())
		return u1 && u2
	}
	if !eventually(5*time.Second, up) {
		t.Fatal("primary pool never came back")
	}
	early := get(t, n.URL("/"), 100)
	if early["primary"] > 70 {
		t.Fatalf("primary took %d of 100 requests right after recovering: not gradual", early["primary"])
	}
	time.Sleep(4 * time.Second)
	late := get(t, n.URL("/"), 100)
	t.Logf("primary share: %d%% right after recovery, %d%% after slow start; %d requests during the outage",
		early["primary"], late["primary"], res.ok.Load())
	if late["primary"] < 95 {
		t.Fatalf("after slow start the primary has %d of 100 requests", late["primary"])
	}
	if late["primary"] <= early["primary"] {
		t.Fatalf("primary share did not grow: %d then %d", early["primary"], late["primary"])
	}
}

// Issue 4: a reload during a failover keeps the health state.
func TestReloadDuringFailoverKeepsHealth(t *testing.T) {
	a, c := newOrigin(t, text("primary")), newOrigin(t, text("backup"))
	cfg := func(hdr string) string {
		return head + fmt.Sprintf(`
pools:
- name: primary
  origins: [{url: %q}]
  health: {active: {path: /hz, interval: 1h, fall: 1}}
- name: backup
  origins: [{url: %q}]
sites:
- name: s
  hosts: ["*"]
  routes: [{path: /, pools: [primary, backup], set_headers: {X-Gen: %q}}]
`, a.URL(), c.URL(), hdr)
	}
	n := leveetest.Start(t, cfg("one"))
	a.kill()
	n.HealthRound("primary")
	if up, known := n.HealthState("primary", a.URL()); up || !known {
		t.Fatalf("killed primary: up=%v known=%v", up, known)
	}
	if code, body := n.PostConfig(cfg("two")); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if up, _ := n.HealthState("primary", a.URL()); up {
		t.Fatal("the reload forgot that the primary is down")
	}
	before := c.hits.Load()
	if got := get(t, n.URL("/"), 10); got["backup"] != 10 {
		t.Fatalf("after the reload: %v", got)
	}
	if c.hits.Load()-before != 10 {
		t.Fatal("requests after the reload did not go straight to the backup")
	}
	if k := n.Logs.Count(`"health: origin down"`); k != 1 {
		t.Fatalf("%d down transitions logged, want exactly 1", k)
	}
	if v := gather(t, n, "levee_proxy_retries_total", ""); v != 0 {
		t.Fatalf("%v retries: requests tried the down primary after the reload", v)
	}
}

// Issue 4: marking every origin unhealthy still yields answers from the
// origins (panic mode), never an empty set; logs, metrics and /status
// say so.
func TestPanicModeAnswers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hz" {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "ok")
	})
	a, b := newOrigin(t, h), newOrigin(t, h)
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - path: /
    origins: [{url: %q}, {url: %q}]
    health: {active: {path: /hz, interval: 1h}}
`, a.URL(), b.URL()))
	n.HealthRound("s/")
	for _, o := range []*origin{a, b} {
		if up, known := n.HealthState("s/", o.URL()); up || !known {
			t.Fatalf("%s: up=%v known=%v after a failing check", o.URL(), up, known)
		}
	}
	if got := get(t, n.URL("/"), 10); got["ok"] != 10 {
		t.Fatalf("panic mode: %v", got)
	}
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("panic mode did not spread over the origins: %d / %d", a.hits.Load(), b.hits.Load())
	}
	if v := gather(t, n, "levee_health_panic_total", `pool="s/"`); v != 10 {
		t.Fatalf("levee_health_panic_total = %v, want 10", v)
	}
	if k := n.Logs.Count("panic mode:"); k != 1 {
		t.Fatalf("%d panic log lines, want 1", k)
	}
	_, body, _ := leveetest.Get(t, n.AdminURL("/status"))
	for _, want := range []string{`"health"`, `"s/"`, `"panic_mode": true`, `"up": false`, a.URL()} {
		if !strings.Contains(body, want) {
			t.Fatalf("/status lacks %s:\n%s", want, body)
		}
	}
}

// Issue 4: an origin that answers slowly is passed over by the
// latency-aware policy and ejected by outlier detection.
func TestSlowOriginPassedOverAndEjected(t *testing.T) {
	slowH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		io.WriteString(w, "slow")
	})
	f1, f2, slow := newOrigin(t, text("fast")), newOrigin(t, text("fast")), newOrigin(t, slowH)
	origins := fmt.Sprintf(`[{url: %q}, {url: %q}, {url: %q}]`, f1.URL(), f2.URL(), slow.URL())
	n := leveetest.Start(t, head+fmt.Sprintf(`
pools:
- name: latency
  origins: %s
  balance: {policy: ewma}
- name: outlier
  origins: %s
  health: {passive: {consecutive_failures: 3}}
sites:
- name: s
  hosts: ["*"]
  routes:
  - {path: /ewma, pools: [latency]}
  - {path: /rr, pools: [outlier], retries: {per_try_timeout: 60ms}}
`, origins, origins))
	got := get(t, n.URL("/ewma"), 200)
	if got["slow"] > 10 {
		t.Fatalf("ewma sent %d of 200 requests to the slow origin", got["slow"])
	}
	got = get(t, n.URL("/rr"), 60)
	if got["fast"] != 60 {
		t.Fatalf("round robin with per-try timeout: %v", got)
	}
	if up, known := n.HealthState("outlier", slow.URL()); up || !known {
		t.Fatalf("slow origin: up=%v known=%v, want ejected", up, known)
	}
	if v := gather(t, n, "levee_health_ejections_total", `pool="outlier",result="ejected"`); v != 1 {
		t.Fatalf("ejections = %v, want 1", v)
	}
}

// Issue 4: with the budget at 20% and every origin failing, origin
// requests stay at most 1.2x client requests.
func TestRetryBudgetBoundsOriginLoad(t *testing.T) {
	a, b := newOrigin(t, status(503)), newOrigin(t, status(503))
	n := leveetest.Start(t, head+fmt.Sprintf(`
health: {retry_budget: {ratio: 0.2, min_per_second: 0}}
sites:
- name: s
  hosts: ["*"]
  routes:
  - path: /
    origins: [{url: %q}, {url: %q}]
`, a.URL(), b.URL()))
	const clients = 300
	c := leveetest.Client()
	for range clients {
		rs, err := c.Get(n.URL("/"))
		if err != nil {
			t.Fatal(err)
		}
		rs.Body.Close()
		if rs.StatusCode != 503 {
			t.Fatalf("status %d, want the origins' 503", rs.StatusCode)
		}
	}
	total := a.hits.Load() + b.hits.Load()
	if float64(total) > 1.2*clients {
		t.Fatalf("%d origin requests for %d client requests: over 1.2x", total, clients)
	}
	if total < clients+clients/10 {
		t.Fatalf("%d origin requests for %d client requests: the budget allowed almost no retries", total, clients)
	}
	if v := gather(t, n, "levee_proxy_retry_budget_exhausted_total", ""); v == 0 {
		t.Fatal("budget exhaustion not counted")
	}
}

// A retry after a refused connection costs the budget nothing: with no
// budget at all, requests that first pick the dead origin still reach the
// live one.
func TestRefusedConnectionRetryIsFree(t *testing.T) {
	dead, live := newOrigin(t, text("dead")), newOrigin(t, text("live"))
	dead.kill()
	n := leveetest.Start(t, head+fmt.Sprintf(`
health: {retry_budget: {ratio: 0, min_per_second: 0}}
sites:
- name: s
  hosts: ["*"]
  routes:
  - path: /
    origins: [{url: %q}, {url: %q}]
`, dead.URL(), live.URL()))
	for i := range 20 {
		if code, body, _ := leveetest.Get(t, n.URL("/")); code != 200 || body != "live" {
			t.Fatalf("request %d: %d %q, want the live origin", i, code, body)
		}
	}
	if v := gather(t, n, "levee_proxy_retry_budget_exhausted_total", ""); v != 0 {
		t.Fatalf("budget exhausted %v times; retries after a refused connection must not take tokens", v)
	}
	if v := gather(t, n, "levee_proxy_retries_total", `reason="connect"`); v == 0 {
		t.Fatal("no connect retries counted: the dead origin was never tried")
	}
}

// Issue 4: all origins down: the route's static fallback page is served
// with 503 and Retry-After; a route without one answers the classified
// error (which the cache turns into a stale copy).
func TestAllDownFallback(t *testing.T) {
	a, b := newOrigin(t, text("a")), newOrigin(t, text("b"))
	a.kill()
	b.kill()
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - path: /
    origins: [{url: %q}, {url: %q}]
    fallback: {static: "<h1>down for maintenance</h1>", retry_after: 120s}
  - path: /api
    origins: [{url: %q}]
    fallback: {stale: true}
`, a.URL(), b.URL(), a.URL()))
	code, body, hdr := leveetest.Get(t, n.URL("/page"))
	if code != 503 || body != "<h1>down for maintenance</h1>" || hdr.Get("Retry-After") != "120" ||
		!strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("fallback: %d %q %v", code, body, hdr)
	}
	code, body, _ = leveetest.Get(t, n.URL("/api/x"))
	if code != 502 || !strings.Contains(body, "origin unreachable") {
		t.Fatalf("stale-only route: %d %q", code, body)
	}
	if v := gather(t, n, "levee_proxy_fallbacks_total", `kind="static"`); v != 1 {
		t.Fatalf("static fallbacks = %v", v)
	}
}

// A POST is retried only when the origin never got it, or when it carries
// an Idempotency-Key; its buffered body is sent again whole.
func TestPostRetries(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "echo:"+string(b))
	})
	failing := newOrigin(t, status(503))
	good := newOrigin(t, echo)
	dead := newOrigin(t, echo)
	dead.kill()
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - {path: /503, origins: [{url: %q}, {url: %q, weight: 1}], balance: {policy: round_robin}}
  - {path: /dead, origins: [{url: %q}, {url: %q}]}
`, failing.URL(), good.URL(), dead.URL(), good.URL()))
	post := func(path string, key bool) (int, string) {
		req, _ := http.NewRequest("POST", n.URL(path), strings.NewReader("payload"))
		if key {
			req.Header.Set("Idempotency-Key", "k1")
		}
		rs, err := leveetest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Body.Close()
		b, _ := io.ReadAll(rs.Body)
		return rs.StatusCode, string(b)
	}
	for range 4 {
		if code, body := post("/dead", false); code != 200 || body != "echo:payload" {
			t.Fatalf("POST after a refused connection: %d %q", code, body)
		}
	}
	saw503 := false
	for range 4 {
		code, _ := post("/503", false)
		saw503 = saw503 || code == 503
	}
	if !saw503 {
		t.Fatal("a POST without Idempotency-Key was retried after a 503")
	}
	for range 4 {
		if code, body := post("/503", true); code != 200 || body != "echo:payload" {
			t.Fatalf("POST with Idempotency-Key: %d %q", code, body)
		}
	}
}

// The cookie policy keeps a client on the origin named by its cookie.
func TestStickyCookieEndToEnd(t *testing.T) {
	a, b := newOrigin(t, text("a")), newOrigin(t, text("b"))
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - {path: /, origins: [{url: %q}, {url: %q}], balance: {policy: cookie, cookie: sid}}
`, a.URL(), b.URL()))
	rs, err := leveetest.Client().Get(n.URL("/"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(rs.Body)
	rs.Body.Close()
	cs := rs.Cookies()
	if len(cs) != 1 || cs[0].Name != "sid" {
		t.Fatalf("Set-Cookie: %v", rs.Header["Set-Cookie"])
	}
	for range 10 {
		req, _ := http.NewRequest("GET", n.URL("/"), nil)
		req.AddCookie(cs[0])
		rs, err := leveetest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rs.Body)
		rs.Body.Close()
		if string(b) != string(first) || len(rs.Header["Set-Cookie"]) != 0 {
			t.Fatalf("sticky client moved to %q (cookie again: %v)", b, rs.Header["Set-Cookie"])
		}
	}
}

// gather sums the samples of a metric whose labels contain match.
func gather(t *testing.T, n *leveetest.Node, name, match string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if match != "" && !strings.Contains(strings.Join(labels, ","), match) {
				continue
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// Nothing is retried once the response has started: an origin that dies
// mid-body costs that one request (cut), and is not asked again.
func TestNoRetryAfterResponseStarted(t *testing.T) {
	cut := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	a, b := newOrigin(t, cut), newOrigin(t, cut)
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - {path: /, origins: [{url: %q}, {url: %q}]}
`, a.URL(), b.URL()))
	rs, err := leveetest.Client().Get(n.URL("/"))
	if err == nil {
		_, err = io.ReadAll(rs.Body)
		rs.Body.Close()
	}
	if err == nil {
		t.Fatal("a response cut mid-body reached the client whole")
	}
	if total := a.hits.Load() + b.hits.Load(); total != 1 {
		t.Fatalf("%d origin requests: retried after the response started", total)
	}
}

// A body over retries.max_body is streamed once and never retried.
func TestLargeBodyNotRetried(t *testing.T) {
	a, b := newOrigin(t, status(503)), newOrigin(t, status(503))
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - {path: /, origins: [{url: %q}, {url: %q}], retries: {max_body: 1KiB}}
`, a.URL(), b.URL()))
	for _, size := range []int{100, 5000} {
		before := a.hits.Load() + b.hits.Load()
		req, _ := http.NewRequest("PUT", n.URL("/"), strings.NewReader(strings.Repeat("x", size)))
		rs, err := leveetest.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rs.Body.Close()
		tries := a.hits.Load() + b.hits.Load() - before
		if size < 1024 && tries != 2 {
			t.Fatalf("PUT of %d bytes: %d tries, want 2 (one per origin)", size, tries)
		}
		if size > 1024 && tries != 1 {
			t.Fatalf("PUT of %d bytes over max_body: %d tries, want 1", size, tries)
		}
	}
}

// An origin at max_conns with no pending room is skipped at once for the
// next choice (circuit breaking).
func TestCircuitBreakerSkipsFullOrigin(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "slow")
	})
	a, b := newOrigin(t, slow), newOrigin(t, text("b"))
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - {path: /, origins: [{url: %q, max_conns: 1}, {url: %q}], balance: {policy: round_robin}}
`, a.URL(), b.URL()))
	first := make(chan string, 1)
	go func() {
		rs, err := leveetest.Client().Get(n.URL("/"))
		if err != nil {
			first <- err.Error()
			return
		}
		b, _ := io.ReadAll(rs.Body)
		rs.Body.Close()
		first <- string(b)
	}()
	defer once.Do(func() { close(release) })
	if !eventually(5*time.Second, func() bool { return a.hits.Load() == 1 }) {
		// Round robin may have sent the first request to b: then try
		// until a holds one.
		t.Skip("first request did not land on the limited origin")
	}
	if got := get(t, n.URL("/"), 6); got["b"] != 6 || a.hits.Load() != 1 {
		t.Fatalf("with a at max_conns: %v, a got %d", got, a.hits.Load())
	}
	once.Do(func() { close(release) })
	if body := <-first; body != "slow" {
		t.Fatalf("held request answered %q", body)
	}
}

// A client that went away (499) is never counted against the origin.
func TestClientGoneNotCounted(t *testing.T) {
	slowH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	a := newOrigin(t, slowH)
	n := leveetest.Start(t, head+site+fmt.Sprintf(`  - {path: /, origins: [{url: %q}], health: {passive: {consecutive_failures: 1}}}
`, a.URL()))
	c := &http.Client{Timeout: 50 * time.Millisecond}
	for range 3 {
		if rs, err := c.Get(n.URL("/")); err == nil {
			rs.Body.Close()
			t.Fatal("the slow origin answered before the client gave up")
		}
	}
	if !eventually(2*time.Second, func() bool { return n.Access.Count(`"status":499`) == 3 }) {
		t.Fatalf("client-gone requests not logged as 499:\n%s", n.Access.String())
	}
	if up, known := n.HealthState("s/", a.URL()); !up || known {
		t.Fatalf("origin up=%v known=%v after clients went away: counted against it", up, known)
	}
	if v := gather(t, n, "levee_proxy_retries_total", ""); v != 0 {
		t.Fatalf("%v retries of requests whose client was gone", v)
	}
}

// A named pool no route uses (DNS GSLB may ask about it) is checked from
// boot too, and HealthState answers for it by the URL as configured.
func TestUnreferencedPoolCheckedFromBoot(t *testing.T) {
	up, down := newOrigin(t, text("ok")), newOrigin(t, text("ok"))
	down.kill()
	n := leveetest.Start(t, head+fmt.Sprintf(`
pools:
- name: gslb
  origins: [{url: %q}, {url: %q}]
  health: {active: {path: /hz, interval: 100ms}}
`, up.URL(), down.URL())+site+fmt.Sprintf(`  - {path: /, origins: [{url: %q}]}
`, up.URL()))
	ok := eventually(5*time.Second, func() bool {
		h1, k1 := n.HealthState("gslb", up.URL())
		h2, k2 := n.HealthState("gslb", down.URL())
		return h1 && k1 && !h2 && k2
	})
	if !ok {
		t.Fatal("the unreferenced pool was not checked from boot")
	}
}
