package shield

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/config"
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
	p, err := config.Load("test", []byte(baseYAML+shieldYAML))
	if err != nil {
		t.Fatal(err)
	}
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	st := NewState(reg, guard.New(lg, reg), lg, make([]byte, 32))
	st.start = time.Now().Add(-time.Hour) // past the rooms' start-up hold
	s, err := Build(p.Config, st, &pipeline.Trust{}, map[string]string{"s/": "s/"})
	if err != nil {
		t.Fatal(err)
	}
	s.Commit()
	return s, st
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
