package admin_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/admin"
	"levee/internal/cache"
	"levee/internal/cluster"
	"levee/internal/guard"
	"levee/internal/modswitch"
	"levee/internal/pipeline"
	"levee/internal/shield"
)

// fakeNode stands in for a node: a registry with a request counter, a
// config that any body "bad" fails to apply.
type fakeNode struct {
	reg    *prometheus.Registry
	reqs   *prometheus.CounterVec
	config []byte
}

func newFakeNode() *fakeNode {
	reg := prometheus.NewRegistry()
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_http_requests_total"}, []string{"site", "code"})
	reg.MustRegister(reqs)
	return &fakeNode{reg: reg, reqs: reqs, config: []byte("listeners: []\n")}
}

func (f *fakeNode) Status() any          { return map[string]any{"generation": 1, "sites": []string{"s"}} }
func (f *fakeNode) ActiveConfig() []byte { return f.config }
func (f *fakeNode) Apply(name string, src []byte, source string) error {
	if strings.Contains(string(src), "bad") {
		return errors.New(name + ":3: unknown key \"bad\"\n" + name + ":7: sites[0].name: required")
	}
	f.config = src
	return nil
}
func (f *fakeNode) Reject(source string, err error) error { return err }

// Validate fails as Apply does, without applying.
func (f *fakeNode) Validate(name string, src []byte) error {
	if strings.Contains(string(src), "bad") {
		return errors.New(name + ":3: unknown key \"bad\"")
	}
	return nil
}

// ReloadFile re-applies the config the fake holds, as a node re-reads its
// file.
func (f *fakeNode) ReloadFile(source string) error { return f.Apply("file", f.config, source) }
func (f *fakeNode) Gatherer() prometheus.Gatherer  { return f.reg }

// capabilityRoutes are the real capabilities' admin routes, as the node
// registers them (internal/app/capabilities.go).
func capabilityRoutes(t *testing.T) map[string]http.Handler {
	reg := prometheus.NewRegistry()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	stopped := make(chan struct{})
	t.Cleanup(func() { close(stopped) })
	h := pipeline.Host{Log: lg, Registry: reg, Wall: guard.New(lg, reg), DataDir: t.TempDir(), Stopped: stopped}
	out := map[string]http.Handler{}
	for _, m := range []map[string]http.Handler{cache.NewCapability(h).AdminRoutes(), shield.NewCapability(h).AdminRoutes(),
		modswitch.New(lg, reg, h.DataDir).AdminRoutes(), cluster.NewCapability(h, "test", nil).AdminRoutes()} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

type testServer struct {
	*admin.Server
	node    *fakeNode
	URL     string
	dataDir string
}

func newServer(t *testing.T, addr string, lim admin.Limits) *testServer {
	t.Helper()
	return newServerIn(t, t.TempDir(), addr, lim)
}

func newServerIn(t *testing.T, dir, addr string, lim admin.Limits) *testServer {
	t.Helper()
	n := newFakeNode()
	s, err := admin.New(admin.Options{Node: n, Extra: capabilityRoutes(t), Addr: addr, DataDir: dir, Limits: lim,
		Registry: n.reg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &testServer{Server: s, node: n, URL: hs.URL, dataDir: dir}
}

func mustToken(t *testing.T, s *admin.TokenStore, name string, scopes ...string) string {
	t.Helper()
	secret, _, err := s.Create(name, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

var client = &http.Client{Timeout: 10 * time.Second}

// call sends one request and returns the status and the decoded error
// code, if the answer is an API error.
func call(t *testing.T, method, url, token, body string, hdr ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return res.StatusCode, e.Error.Code, string(b)
}

// counterSum adds up a counter family of reg whose labels include the
// given name/value pairs.
func counterSum(t *testing.T, reg prometheus.Gatherer, name string, match ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(match); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == match[i] && l.GetValue() == match[i+1])
				}
				if !found {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
