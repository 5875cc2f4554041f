package shield

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"levee/internal/config/schema"
	"levee/internal/guard"
	"levee/internal/pipeline"
	"levee/internal/pool"
	"levee/internal/router"
)

const baseYAML = `
admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0"}]
sites:
  - name: s
    hosts: ["*"]
    routes: [{path: /, origins: [{url: "http://127.0.0.1:9"}]}]
`

// testShield builds a Shield from baseYAML plus a shield section.
func testShield(t testing.TB, shieldYAML string) (*Shield, *State) {
	t.Helper()
	sc := loadSection(t, shieldYAML, schema.Sites{"s": {"/"}})
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	st := NewState(reg, guard.New(lg, reg), lg, make([]byte, 32))
	st.start = time.Now().Add(-time.Hour) // past the rooms' start-up hold
	s, err := Build(sc, st, Env{Trust: &pipeline.Trust{}, Pools: map[string]string{"s/": "s/"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Commit()
	return s, st
}

// loadSection decodes, defaults and validates the shield: section of src
// as internal/config would (whose tests import this package, so it cannot
// be used here), against the given sites.
func loadSection(t testing.TB, src string, sites schema.Sites) *Config {
	t.Helper()
	var top map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(src), &top); err != nil {
		t.Fatal(err)
	}
	var sc Config
	if node, ok := top["shield"]; ok {
		section, err := yaml.Marshal(&node)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(section))
		dec.KnownFields(true)
		if err := dec.Decode(&sc); err != nil {
			t.Fatal(err)
		}
	}
	sc.SetDefaults()
	var l schema.List
	sc.Validate(&l, sites)
	if len(l.Errs) > 0 {
		t.Fatal(l.Errs)
	}
	return &sc
}

var testSite = &router.Site{Name: "s"}
var testRoute = &router.Route{Site: testSite, Path: "/", Name: "s/", Pools: []*pool.Pool{{Name: "s/"}}}

// call runs one request from client through the shield phase with next as
// the rest of the chain, the way the wall would, and returns the recorder.
func call(s *Shield, r *http.Request, client string, next pipeline.HandlerFunc) (*httptest.ResponseRecorder, error) {
	rec := httptest.NewRecorder()
	ex := pipeline.NewExchange(rec, time.Now())
	ex.Client = netip.MustParseAddr(client)
	ex.Site, ex.Route = testSite, testRoute
	err := s.Phase()(next).ServeHTTP(ex, r)
	if err != nil {
		pipeline.WriteError(ex, err)
	}
	return rec, err
}

func okNext(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(200)
	return nil
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
