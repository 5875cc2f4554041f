package config

import (
	"levee/internal/health"
	"levee/internal/pool"
	"strings"
	"testing"
	"time"
)

const healthBase = `
listeners: [{listen: "127.0.0.1:8080"}]
pools:
- name: p
  origins: [{url: "http://127.0.0.1:9000"}]
`

func TestHealthDefaults(t *testing.T) {
	p, err := Load("t", []byte(healthBase+`  health: {active: {path: /hz}}
sites:
- name: s
  hosts: ["*"]
  routes: [{path: /, pools: [p], fallback: {static: "down"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config
	h := c.Pools[0].Health
	a := h.Active
	if a.Type != "http" || a.Method != "GET" || a.ExpectStatus != "200-399" || a.Interval.D() != health.DefaultCheckInterval ||
		a.Timeout.D() != health.DefaultCheckTimeout || a.Rise != 2 || a.Fall != 2 || h.Damping.D() != health.DefaultDamping {
		t.Fatalf("active defaults: %+v damping %v", a, h.Damping)
	}
	if h.Passive.ConsecutiveFailures != 5 || *h.Passive.MaxEjectedShare != 0.5 || h.Passive.BaseEjection.D() != 10*time.Second {
		t.Fatalf("passive defaults: %+v", h.Passive)
	}
	r := c.Sites[0].Routes[0]
	if r.Retries.Attempts != 3 || r.Retries.PerPool != 2 || r.Retries.MaxBody != 64<<10 || len(r.Retries.OnStatus) != 3 {
		t.Fatalf("retry defaults: %+v", r.Retries)
	}
	if r.Fallback.RetryAfter.D() != 30*time.Second || !strings.HasPrefix(r.Fallback.ContentType, "text/html") {
		t.Fatalf("fallback defaults: %+v", r.Fallback)
	}
	if *c.Health.RetryBudget.Ratio != 0.2 || *c.Health.RetryBudget.MinPerSecond != 10 || c.Pools[0].Balance.Policy != "round_robin" {
		t.Fatalf("budget/balance defaults: %+v %+v", c.Health, c.Pools[0].Balance)
	}
}

func TestHealthValidation(t *testing.T) {
	route := `
sites:
- name: s
  hosts: ["*"]
  routes: [{path: /, pools: [p]%s}]
`
	for _, c := range []struct{ pool, route, top, want string }{
		{`  balance: {policy: random}`, "", "", "pools[0].balance.policy: must be round_robin"},
		{`  balance: {policy: hash, hash_on: "body"}`, "", "", "pools[0].balance.hash_on"},
		{`  balance: {policy: cookie, cookie: "a b"}`, "", "", "pools[0].balance.cookie"},
		{`  health: {active: {type: udp}}`, "", "", "health.active.type: must be http or tcp"},
		{`  health: {active: {path: hz}}`, "", "", "health.active.path: must start with /"},
		{`  health: {active: {expect_status: "300-200"}}`, "", "", "health.active.expect_status"},
		{`  health: {active: {expect_status: "2xx"}}`, "", "", "health.active.expect_status"},
		{`  health: {active: {interval: 10ms}}`, "", "", "health.active.interval: must be 50ms to 1h"},
		{`  health: {active: {interval: 1s, timeout: 2s}}`, "", "", "health.active.timeout: must be at most the interval"},
		{`  health: {active: {rise: 101}}`, "", "", "health.active.rise"},
		{`  health: {passive: {max_ejected_share: 1.5}}`, "", "", "max_ejected_share: must be 0 to 1"},
		{`  health: {passive: {base_ejection: 1m, max_ejection: 10s}}`, "", "", "max_ejection: must be at least base_ejection"},
		{`  slow_start: 2h`, "", "", "pools[0].slow_start: must be at most 1h"},
		{"", ", retries: {attempts: 11}", "", "retries.attempts: must be 1 to 10"},
		{"", ", retries: {on_status: [404]}", "", "retries.on_status[0]: must be a 5xx status"},
		{"", ", retries: {max_body: 9MiB}", "", "retries.max_body"},
		{"", ", fallback: {}", "", "fallback: set either stale: true or static: PAGE"},
		{"", ", fallback: {stale: true, static: x}", "", "fallback: set either"},
		{"", "", "health: {retry_budget: {ratio: 2}}", "health.retry_budget.ratio: must be 0 to 1"},
		{"", ", health: {active: {path: /}}", "", "belong on the pools"},
		{"", ", balance: {policy: ewma}", "", "belong on the pools"},
	} {
		src := healthBase + c.pool + "\n" + c.top + "\n" + strings.Replace(route, "%s", c.route, 1)
		_, err := Load("t", []byte(src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %q %q: err = %v, want %q", c.pool, c.route, c.top, err, c.want)
		}
	}
}

func TestOriginLimitsValidation(t *testing.T) {
	src := `
listeners: [{listen: "127.0.0.1:8080"}]
sites:
- name: s
  hosts: ["*"]
  routes: [{path: /, origins: [{url: "http://a:1", max_pending: 5}, {url: "http://b:1", max_conns: -1}]}]
`
	_, err := Load("t", []byte(src))
	for _, want := range []string{"origins[0].max_pending: needs max_conns", "origins[1].max_conns: must be 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestParseHashOn(t *testing.T) {
	for in, want := range map[string]string{"path": "path:", "header:X-User": "header:X-User", "cookie:sid": "cookie:sid", "query:k": "query:k"} {
		k, n, err := pool.ParseHashOn(in)
		if err != nil || k+":"+n != want {
			t.Errorf("%q: %q %q %v", in, k, n, err)
		}
	}
	for _, bad := range []string{"", "header:", "ip", "header"} {
		if _, _, err := pool.ParseHashOn(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
