package waf_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"levee/internal/leveetest"
)

func counter(t *testing.T, n *leveetest.Node, result string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "levee_waf_requests_total" {
			continue
		}
		for _, m := range mf.Metric {
			if m.Label[0].GetValue() == result {
				return m.Counter.GetValue()
			}
		}
	}
	return 0
}

// regex2019 is the 2 Jul 2019 rule (see regex2019_test.go).
const regex2019 = `(?:(?:\"|'|\]|\}|\\|\d|(?:nan|infinity|true|false|null|undefined|symbol|math)|\` + "`" + `|\-|\+)+[)]*;?((?:\s|-|~|!|{}|\|\||\+)*.*(?:.*=.*)))`

func TestWAFOnANode(t *testing.T) {
	var reached atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "origin got %d bytes", len(b))
	}))
	defer origin.Close()
	n := leveetest.Start(t, fmt.Sprintf(`listeners:
  - listen: 127.0.0.1:0
waf:
  budget: 5s
  rules:
    - id: 1000001
      target: body
      regex: |-
        %[2]s
    - {id: 1000002, target: header:X-Evil, regex: '^yes$'}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /crs/
        origins: [{url: %[1]q}]
        waf: {}
      - path: /slow-open/
        origins: [{url: %[1]q}]
        waf: {crs: false, rules: [1000001], body_limit: 1MiB, budget: 1ms}
      - path: /slow-closed/
        origins: [{url: %[1]q}]
        waf: {crs: false, rules: [1000001], body_limit: 1MiB, budget: 1ms, fail: closed}
      - path: /custom/
        origins: [{url: %[1]q}]
        waf: {crs: false, rules: [1000002]}
`, origin.URL, regex2019))
	c := leveetest.Client()

	// A custom rule blocks with 403, the request ID in the body and the
	// rule ID only in the access log.
	req, _ := http.NewRequest("GET", n.URL("/custom/x"), nil)
	req.Header.Set("X-Evil", "yes")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	id := res.Header.Get("X-Request-Id")
	if res.StatusCode != 403 || id == "" || !strings.Contains(string(body), id) || strings.Contains(string(body), "1000002") {
		t.Fatalf("custom rule: %d %q", res.StatusCode, body)
	}
	if !strings.Contains(n.Access.String(), `"waf":"block:1000002"`) {
		t.Fatalf("rule ID not in the access log: %s", n.Access.String())
	}

	// The 2019 regex over a 1 MiB body takes longer than the 1ms budget:
	// the request passes on (fail open), counted; or gets 503 (closed).
	big := bytes.Repeat([]byte("1"), 1<<20)
	for _, tc := range []struct {
		path   string
		status int
		result string
	}{{"/slow-open/x", 200, "bypass_budget"}, {"/slow-closed/x", 503, "closed_budget"}} {
		before := counter(t, n, tc.result)
		res, err := c.Post(n.URL(tc.path), "text/plain", bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Fatalf("%s: %d %q", tc.path, res.StatusCode, b)
		}
		if tc.status == 200 && string(b) != "origin got 1048576 bytes" {
			t.Fatalf("%s: the origin did not get the whole body back: %q", tc.path, b)
		}
		if got := counter(t, n, tc.result) - before; got != 1 {
			t.Fatalf("%s: %s rose by %v, want 1", tc.path, tc.result, got)
		}
	}

	// The Core Rule Set: an XSS probe is blocked, an ordinary request not.
	code, _, _ := leveetest.Get(t, n.URL("/crs/search?q=%3Cscript%3Ealert(1)%3C/script%3E"))
	if code != 403 {
		t.Fatalf("XSS probe: %d", code)
	}
	if !strings.Contains(n.Access.String(), "941") {
		t.Fatal("the CRS rule IDs are not in the access log")
	}
	before := reached.Load()
	if code, _, _ := leveetest.Get(t, n.URL("/crs/search?q=running+shoes")); code != 200 || reached.Load() != before+1 {
		t.Fatalf("ordinary request: %d", code)
	}
}
