package dns

import (
	"levee/internal/config/schema"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// baseYAML is a node config with an HTTP listener (which validation needs;
// these tests never open it) and the test zone.
const baseYAML = `
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: s, hosts: ["*"], routes: [{pools: [web]}]}]
pools:
  - name: web
    origins: [{url: "http://192.0.2.101"}, {url: "http://192.0.2.102"}, {url: "http://[2001:db8::101]"}]
  - name: backup
    origins: [{url: "http://198.51.100.1"}]
  - name: eu
    origins: [{url: "http://203.0.113.7"}]
  - name: edges
    origins: [{url: "http://192.0.2.201"}, {url: "http://192.0.2.202"}]
dns:
  listen: ["127.0.0.1:0"]
  edge_pool: edges
  rrl: {enabled: false}
  zones:
    - origin: example.com.
      file: testdata/example.com.zone
`

// testConfig is the part of a node's config the DNS server is built from.
type testConfig struct {
	DNS   *Config
	Pools schema.Pools
}

// loadConfig decodes the pools: and dns: sections of a whole config and
// applies the dns defaults. (The whole config is validated by
// internal/config, whose tests import this package, so they cannot be
// used from here.)
func loadConfig(t testing.TB, src string) testConfig {
	t.Helper()
	var doc struct {
		Pools []struct {
			Name    string `yaml:"name"`
			Origins []struct {
				URL    string `yaml:"url"`
				Weight int    `yaml:"weight"`
			} `yaml:"origins"`
			Health *struct {
				Active any `yaml:"active"`
			} `yaml:"health"`
		} `yaml:"pools"`
		DNS Config `yaml:"dns"`
	}
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("config: %v", err)
	}
	tc := testConfig{DNS: &doc.DNS, Pools: schema.Pools{}}
	tc.DNS.SetDefaults()
	for _, p := range doc.Pools {
		ref := schema.PoolRef{ActiveChecks: p.Health != nil && p.Health.Active != nil}
		for _, o := range p.Origins {
			ref.Origins = append(ref.Origins, schema.OriginRef{URL: o.URL, Weight: max(o.Weight, 1)})
		}
		tc.Pools[p.Name] = ref
	}
	return tc
}

// startYAML builds and serves the DNS part of yaml on a loopback port.
func startYAML(t testing.TB, yaml string, h Health) (*Server, string) {
	t.Helper()
	c := loadConfig(t, yaml)
	zs, err := Build(c.DNS, c.Pools)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	s := New(Options{Health: h})
	s.Apply(c.DNS, zs)
	t.Cleanup(s.Stop)
	for _, a := range s.Addrs() {
		return s, a.String()
	}
	t.Fatal("no address")
	return nil, ""
}

// ask sends one question over UDP (or tcp) and returns the answer.
func ask(t testing.TB, addr, name string, qtype uint16, opts ...func(*mdns.Msg)) *mdns.Msg {
	t.Helper()
	return askNet(t, "udp", addr, name, qtype, opts...)
}

func askNet(t testing.TB, network, addr, name string, qtype uint16, opts ...func(*mdns.Msg)) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	for _, o := range opts {
		o(m)
	}
	c := &mdns.Client{Net: network, Timeout: 3 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, mdns.TypeToString[qtype], err)
	}
	return r
}

func edns(size uint16, do bool) func(*mdns.Msg) {
	return func(m *mdns.Msg) { m.SetEdns0(size, do) }
}

// sendRaw sends bytes over UDP and returns the raw answer, or nil on timeout.
func sendRaw(t testing.TB, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// needTool skips when an outside program is missing, unless the
// environment demands integration tests.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if strings.TrimSpace(getenv("LEVEE_REQUIRE_INTEGRATION")) == "1" {
			t.Fatalf("%s is required (LEVEE_REQUIRE_INTEGRATION=1)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// fakeHealth is a settable health checker.
type fakeHealth struct {
	mu   chan struct{}
	down map[string]bool
}

func newFakeHealth() *fakeHealth {
	return &fakeHealth{mu: make(chan struct{}, 1), down: map[string]bool{}}
}

func (f *fakeHealth) set(url string, down bool) {
	f.mu <- struct{}{}
	f.down[url] = down
	<-f.mu
}

func (f *fakeHealth) HealthState(pool, url string) (bool, bool) {
	f.mu <- struct{}{}
	defer func() { <-f.mu }()
	return !f.down[url], true
}

func rrStrings(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

func addrsOf(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *mdns.A:
			out = append(out, r.A.String())
		case *mdns.AAAA:
			out = append(out, r.AAAA.String())
		case *mdns.CNAME:
			out = append(out, "CNAME "+r.Target)
		}
	}
	return out
}
