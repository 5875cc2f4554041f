package shield

import (
	"net/http/httptest"
	"testing"
	"time"

	"levee/internal/config/schema"
	"levee/internal/pipeline"
)

// fakeGlobal records the cluster limiter's calls and admits the first n.
type fakeGlobal struct {
	n     int
	calls []globalCall
}

type globalCall struct {
	rule  string
	key   uint64
	rate  float64
	burst int
}

func (f *fakeGlobal) Allow(rule string, key uint64, rate float64, burst int) (bool, time.Duration) {
	f.calls = append(f.calls, globalCall{rule, key, rate, burst})
	return len(f.calls) <= f.n, 2 * time.Second
}

const clusterRuleYAML = `
shield:
  rules:
    - {name: api, rate: 10/s, burst: 3, scope: cluster}
    - {name: loc, rate: 1000/s, burst: 1000}
`

// A rule with scope: cluster is decided by the cluster limiter (a local
// rule is not), with the same key on every node: two shields built with
// different seeds name one client alike. Over the limit the usual 429
// with Retry-After answers.
func TestClusterScopeAsksTheGlobalLimiter(t *testing.T) {
	var keys []uint64
	for range 2 {
		g := &fakeGlobal{n: 1}
		_, st := testShield(t, clusterRuleYAML)
		sc := loadSection(t, clusterRuleYAML, nil)
		s2, err := Build(sc, st, Env{Trust: &pipeline.Trust{}, Global: g})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(s2, httptest.NewRequest("GET", "/", nil), "192.0.2.1", okNext); err != nil {
			t.Fatalf("first request: %v", err)
		}
		rec, err := call(s2, httptest.NewRequest("GET", "/", nil), "192.0.2.1", okNext)
		if err == nil || rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
			t.Fatalf("over the cluster limit: %d %v %v", rec.Code, err, rec.Header())
		}
		if len(g.calls) != 2 || g.calls[0].rule != "api" || g.calls[0].rate != 10 || g.calls[0].burst != 3 {
			t.Fatalf("global limiter calls %+v", g.calls)
		}
		keys = append(keys, g.calls[0].key)
	}
	if keys[0] != keys[1] {
		t.Fatalf("one client, two keys across builds: %x", keys)
	}
}

func TestClusterScopeValidation(t *testing.T) {
	sc := &Config{Rules: []RuleConfig{{Name: "a", Rate: Rate{N: 1, Per: time.Second}, Scope: "world"}}}
	sc.SetDefaults()
	var l = &schema.List{}
	sc.Validate(l, nil)
	if len(l.Errs) != 1 || l.Errs[0].Path != "shield.rules[0].scope" {
		t.Fatalf("errors %v", l.Errs)
	}
}
