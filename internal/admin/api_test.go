package admin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/admin"
)

// concrete fills path parameters so a route can be called.
func concrete(path string) string {
	path = strings.ReplaceAll(path, "{id}", "000000000000")
	path = strings.ReplaceAll(path, "{version}", "1")
	return strings.ReplaceAll(path, "{name}", "waf")
}

// otherScope is a scope that does not hold scope.
func otherScope(scope string) string {
	if scope == admin.ScopeRead {
		return admin.ScopePurge
	}
	return admin.ScopeRead
}

// With tokens, every route but /healthz and the UI's own files refuses a
// missing or wrong token with 401, a token without the route's scope with
// 403, and lets the right scope through.
func TestEveryRouteRefusesMissingWrongAndOutOfScopeTokens(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{PerClientRate: 1000, PerClientBurst: 1000, MaxRate: 1e6, MaxBurst: 1e6})
	tokens := map[string]string{}
	for _, sc := range admin.Scopes {
		tokens[sc] = mustToken(t, s.Tokens(), sc, sc)
	}
	checked := 0
	for _, rt := range s.Routes() {
		if rt.Scope == "" {
			continue
		}
		url := s.URL + concrete(rt.Path)
		if st, code, body := call(t, rt.Method, url, "", ""); st != 401 || code != "unauthorized" {
			t.Errorf("%s %s without a token: %d %s", rt.Method, rt.Path, st, body)
		}
		if st, code, body := call(t, rt.Method, url, "levee_abcdef_wrongwrongwrong", ""); st != 401 || code != "unauthorized" {
			t.Errorf("%s %s with a wrong token: %d %s", rt.Method, rt.Path, st, body)
		}
		if st, code, body := call(t, rt.Method, url, tokens[otherScope(rt.Scope)], ""); st != 403 || code != "forbidden" {
			t.Errorf("%s %s with a %s token: %d %s", rt.Method, rt.Path, otherScope(rt.Scope), st, body)
		}
		if strings.HasPrefix(rt.Path, "/debug/pprof/") && rt.Path != "/debug/pprof/" {
			checked++
			continue // a profile runs for seconds; the scope check above is what matters
		}
		for _, sc := range []string{rt.Scope, admin.ScopeAdmin} {
			if st, _, body := call(t, rt.Method, url, tokens[sc], "{}"); st == 401 || st == 403 {
				t.Errorf("%s %s with a %s token: %d %s", rt.Method, rt.Path, sc, st, body)
			}
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d routes checked", checked)
	}
	if st, _, _ := call(t, "GET", s.URL+"/healthz", "", ""); st != 200 {
		t.Errorf("/healthz: %d", st)
	}
}

// On loopback with no token the API is open (levee demo needs none); the
// first token closes it.
func TestLoopbackWithoutTokensIsOpenUntilTheFirstToken(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	if st, _, body := call(t, "GET", s.URL+"/api/v1/status", "", ""); st != 200 {
		t.Fatalf("open loopback: %d %s", st, body)
	}
	mustToken(t, s.Tokens(), "", "read")
	if st, _, _ := call(t, "GET", s.URL+"/api/v1/status", "", ""); st != 401 {
		t.Fatalf("after a token was made: %d, want 401", st)
	}
}

// A non-loopback admin address refuses to start without a token, and
// starts once one exists; a token made by `levee token create` on a
// running node is accepted within a second.
func TestNonLoopbackNeedsAToken(t *testing.T) {
	dir := t.TempDir()
	err := admin.CheckListen("0.0.0.0:9090", dir)
	if err == nil || !strings.Contains(err.Error(), "levee token create") {
		t.Fatalf("CheckListen without tokens: %v", err)
	}
	if _, err := admin.New(admin.Options{Node: newFakeNode(), Addr: "[2001:db8::1]:9090", DataDir: dir}); err == nil {
		t.Fatal("admin.New accepted a non-loopback address without a token")
	}
	ts, _ := admin.OpenTokens(dir)
	mustToken(t, ts, "ops", "admin")
	if err := admin.CheckListen("0.0.0.0:9090", dir); err != nil {
		t.Fatalf("with a token: %v", err)
	}
	for _, a := range []string{"127.0.0.1:0", "[::1]:9090", "localhost:9090", "off"} {
		if err := admin.CheckListen(a, t.TempDir()); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
}

// The OpenAPI document and the server's versioned routes are the same
// set, with the same scopes and the same audited changes.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(admin.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	type op struct {
		Scope   string `json:"x-levee-scope"`
		Audited bool   `json:"x-levee-audited"`
	}
	documented := map[string]op{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var o op
			json.Unmarshal(raw, &o)
			documented[strings.ToUpper(method)+" "+path] = o
		}
	}
	real := map[string]admin.Route{}
	for _, rt := range s.Routes() {
		if rt.V1 {
			real[rt.Method+" "+rt.Path] = rt
		}
	}
	for k, rt := range real {
		o, ok := documented[k]
		if !ok {
			t.Errorf("route %s is not documented", k)
			continue
		}
		if o.Scope != rt.Scope || o.Audited != rt.Change {
			t.Errorf("%s documented with scope %q audited %v; it needs %q, audited %v", k, o.Scope, o.Audited, rt.Scope, rt.Change)
		}
	}
	for k := range documented {
		if _, ok := real[k]; !ok {
			t.Errorf("documented route %s does not exist", k)
		}
	}
	// And the served document is the same bytes.
	st, _, body := call(t, "GET", s.URL+"/api/v1/openapi.json", "", "")
	if st != 200 || body != string(admin.OpenAPI()) {
		t.Fatalf("GET /api/v1/openapi.json: %d", st)
	}
}

// Errors of the versioned API are JSON with a code and a message, also
// the capabilities' own plain-text errors.
func TestErrorsAreJSONWithCodeAndMessage(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	for _, c := range []struct{ method, path, body, code string }{
		{"POST", "/api/v1/shield/under-attack?on=maybe", "", "bad_request"},
		{"POST", "/api/v1/purge", `{"nonsense": 1}`, "bad_request"},
		{"GET", "/api/v1/nowhere", "", "not_found"},
		{"POST", "/api/v1/config", "bad: true", "invalid_config"},
	} {
		st, code, body := call(t, c.method, s.URL+c.path, "", c.body)
		var e struct {
			Error admin.APIError `json:"error"`
		}
		json.Unmarshal([]byte(body), &e)
		if st < 400 || code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %s", c.method, c.path, st, body)
		}
		if c.code == "invalid_config" && (len(e.Error.Details) != 2 || e.Error.Details[0].Line != 3 || e.Error.Details[1].Line != 7) {
			t.Errorf("config errors without their lines: %+v", e.Error.Details)
		}
	}
	// The old path keeps its old answer.
	if st, _, body := call(t, "POST", s.URL+"/config", "", "bad: true"); st != 422 || !strings.Contains(body, `"applied": false`) {
		t.Errorf("POST /config: %d %s", st, body)
	}
}

// Every change is in the audit log, with who (the token's ID and name)
// and what (the request and its outcome).
func TestChangesAreAudited(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	purger := mustToken(t, s.Tokens(), "alice", "purge", "read")
	id := strings.Split(purger, "_")[1]
	if st, _, body := call(t, "POST", s.URL+"/api/v1/purge", purger, `{"url": "http://x.example/a"}`); st != 200 {
		t.Fatalf("purge: %d %s", st, body)
	}
	call(t, "POST", s.URL+"/api/v1/shield/under-attack?site=s&on=true", purger, "") // 403: not a change made
	b, err := os.ReadFile(filepath.Join(s.dataDir, admin.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("audit log: %q", b)
	}
	var e admin.AuditEntry
	json.Unmarshal([]byte(lines[0]), &e)
	if e.Who != "token "+id+" (alice)" || e.Action != "POST /api/v1/purge" || !strings.Contains(e.Body, "x.example/a") || e.Status != 200 {
		t.Fatalf("audit entry %+v", e)
	}
	admin := mustToken(t, s.Tokens(), "root", "admin")
	if st, _, body := call(t, "POST", s.URL+"/api/v1/config", admin, "bad: 1"); st != 422 {
		t.Fatalf("config: %d %s", st, body)
	}
	st, _, body := call(t, "GET", s.URL+"/api/v1/audit", admin, "")
	if st != 200 || !strings.Contains(body, "config not applied (2 errors, first at line 3") || !strings.Contains(body, "(root)") {
		t.Fatalf("audit: %d %s", st, body)
	}
}

// Browser-style requests (with an Origin or a session cookie) must echo
// the CSRF cookie in a header; bearer-token scripts need not.
func TestCSRFOnBrowserChanges(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	url := s.URL + "/api/v1/shield/kill?phase=lists&on=false"
	if st, code, _ := call(t, "POST", url, "", "", "Origin", "http://evil.example"); st != 403 || code != "csrf" {
		t.Fatalf("cross-site POST: %d %s", st, code)
	}
	csrf := "0123456789abcdef0123456789abcdef"
	if st, code, _ := call(t, "POST", url, "", "", "Origin", s.URL, "Cookie", "levee_csrf="+csrf, "X-Levee-CSRF", "nope"); st != 403 || code != "csrf" {
		t.Fatalf("mismatched CSRF: %d %s", st, code)
	}
	if st, _, body := call(t, "POST", url, "", "", "Origin", s.URL, "Cookie", "levee_csrf="+csrf, "X-Levee-CSRF", csrf); st != 204 {
		t.Fatalf("matching CSRF: %d %s", st, body)
	}
	tok := mustToken(t, s.Tokens(), "", "switches")
	if st, _, body := call(t, "POST", url, tok, "", "Origin", s.URL); st != 204 {
		t.Fatalf("bearer: %d %s", st, body)
	}
}

// Bounds: one client's rate, one client's concurrency, body sizes. Each
// refusal is counted by reason.
func TestPerClientRateAndBodyBounds(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{PerClientRate: 0.5, PerClientBurst: 3})
	a := mustToken(t, s.Tokens(), "a", "read")
	b := mustToken(t, s.Tokens(), "b", "admin")
	for i := range 3 {
		if st, _, body := call(t, "GET", s.URL+"/api/v1/status", a, ""); st != 200 {
			t.Fatalf("request %d: %d %s", i, st, body)
		}
	}
	st, code, _ := call(t, "GET", s.URL+"/api/v1/status", a, "")
	if st != 429 || code != "rate_limited" {
		t.Fatalf("over the rate: %d %s", st, code)
	}
	if st, _, _ := call(t, "GET", s.URL+"/api/v1/status", b, ""); st != 200 {
		t.Fatalf("another token is limited too: %d", st)
	}
	big := `{"name": "` + strings.Repeat("x", 70<<10) + `", "scopes": ["read"]}`
	if st, _, body := call(t, "POST", s.URL+"/api/v1/tokens", b, big); st != 400 || !strings.Contains(body, "too large") {
		t.Fatalf("big body: %d %.200s", st, body)
	}
	n := s.Tokens().Len()
	if n != 2 {
		t.Fatalf("%d tokens after a refused create", n)
	}
	fams, _ := s.node.reg.Gather()
	var rateRefusals float64
	for _, f := range fams {
		if f.GetName() == "levee_admin_rejected_total" {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == "client_rate" {
						rateRefusals += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if rateRefusals != 1 {
		t.Fatalf("client_rate refusals counted %v, want 1", rateRefusals)
	}
}

// A client may run only so many requests at once, and the listener only
// so many in all: past them, 429 and 503 at once, without waiting.
func TestConcurrencyBounds(t *testing.T) {
	n := newFakeNode()
	started, release := make(chan struct{}, 4), make(chan struct{})
	extra := map[string]http.Handler{"GET /block": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	})}
	s, err := admin.New(admin.Options{Node: n, Extra: extra, Addr: "127.0.0.1:9090", DataDir: t.TempDir(),
		Limits: admin.Limits{PerClientInflight: 1, MaxInflight: 2}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	a, b, c := mustToken(t, s.Tokens(), "a", "read"), mustToken(t, s.Tokens(), "b", "read"), mustToken(t, s.Tokens(), "c", "read")
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	hold := func(tok string) {
		wg.Add(1)
		go func() { defer wg.Done(); call(t, "GET", hs.URL+"/api/v1/block", tok, "") }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("the blocking request did not start")
		}
	}
	hold(a)
	if st, code, _ := call(t, "GET", hs.URL+"/api/v1/status", a, ""); st != 429 || code != "rate_limited" {
		t.Fatalf("second request of one client: %d %s", st, code)
	}
	hold(b)
	if st, code, _ := call(t, "GET", hs.URL+"/api/v1/status", c, ""); st != 503 || code != "busy" {
		t.Fatalf("third request in all: %d %s", st, code)
	}
}

// A token made through the API works at once with its scopes, and stops
// working once revoked through the API.
func TestTokensThroughTheAPI(t *testing.T) {
	s := newServer(t, "127.0.0.1:9090", admin.Limits{})
	root := mustToken(t, s.Tokens(), "root", "admin")
	st, _, body := call(t, "POST", s.URL+"/api/v1/tokens", root, `{"name": "reader", "scopes": ["read"]}`)
	var made struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(body), &made)
	if st != 201 || made.Token == "" {
		t.Fatalf("create: %d %s", st, body)
	}
	if st, _, _ := call(t, "GET", s.URL+"/api/v1/status", made.Token, ""); st != 200 {
		t.Fatalf("new token reads: %d", st)
	}
	if st, _, _ := call(t, "POST", s.URL+"/api/v1/purge", made.Token, `{"all": true}`); st != 403 {
		t.Fatalf("new read token purges: %d", st)
	}
	if st, _, body := call(t, "GET", s.URL+"/api/v1/tokens", root, ""); st != 200 || strings.Contains(body, made.Token) || !strings.Contains(body, made.ID) {
		t.Fatalf("list: %d %s", st, body)
	}
	if st, _, _ := call(t, "DELETE", s.URL+"/api/v1/tokens/"+made.ID, root, ""); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if st, _, _ := call(t, "GET", s.URL+"/api/v1/status", made.Token, ""); st != 401 {
		t.Fatalf("revoked token: %d", st)
	}
}
