package dns

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"levee/internal/telemetry"
)

const steerYAML = baseYAML + `      steer:
        - {name: app, pool: web, fallback_pool: backup, policy: failover, ttl: 5s}
        - {name: all, pool: web}
        - {name: w, pool: web, policy: weighted}
        - {name: sorry, pool: eu, fallback_cname: www.example.com.}
        - {name: dead, pool: eu}
        - {name: empty, pool: eu, all_down: nodata}
        - {name: edge, mode: proxied}
        - {name: geo, pool: web, prefer: [{pool: eu, networks: ["10.0.0.0/8"]}]}
  restore_after: 10s
`

func TestSteeredFailoverAndDamping(t *testing.T) {
	h := newFakeHealth()
	s, addr := startYAML(t, steerYAML, h)
	now := time.Unix(1700000000, 0)
	s.SetClock(func() time.Time { return now })
	expect := func(step string, qtype uint16, want ...string) {
		t.Helper()
		r := ask(t, addr, "app.example.com.", qtype)
		if got := addrsOf(r.Answer); !slices.Equal(got, want) {
			t.Fatalf("%s: answer %v, want %v", step, got, want)
		}
		if len(r.Answer) > 0 && r.Answer[0].Header().Ttl != 5 {
			t.Fatalf("%s: TTL %d, want the steered 5", step, r.Answer[0].Header().Ttl)
		}
	}
	expect("all up", mdns.TypeA, "192.0.2.101")
	expect("all up AAAA", mdns.TypeAAAA, "2001:db8::101")
	h.set("http://192.0.2.101", true)
	s.Refresh()
	expect("first down", mdns.TypeA, "192.0.2.102")
	h.set("http://192.0.2.102", true)
	s.Refresh()
	expect("primary down", mdns.TypeA, "198.51.100.1")
	expect("primary v6 still up", mdns.TypeAAAA, "2001:db8::101")
	h.set("http://192.0.2.101", false)
	s.Refresh()
	expect("back but damped", mdns.TypeA, "198.51.100.1")
	now = now.Add(11 * time.Second)
	s.Refresh()
	expect("restored after damping", mdns.TypeA, "192.0.2.101")
	if v := telemetry.Value(s.m.steered.WithLabelValues(stateFallback)); v < 2 {
		t.Fatalf("fallback answers counted %v", v)
	}
}

func TestSteeredNeverEmpty(t *testing.T) {
	h := newFakeHealth()
	for _, u := range []string{"http://192.0.2.101", "http://192.0.2.102", "http://[2001:db8::101]", "http://198.51.100.1", "http://203.0.113.7", "http://192.0.2.201", "http://192.0.2.202"} {
		h.set(u, true)
	}
	_, addr := startYAML(t, steerYAML, h)
	cases := map[string][]string{
		"app":   {"192.0.2.101"}, // failover, all down: answer_all keeps priority order
		"dead":  {"203.0.113.7"},
		"sorry": {"CNAME www.example.com."},
		"edge":  nil, // both edges listed, in some rotation
	}
	for name, want := range cases {
		r := ask(t, addr, name+".example.com.", mdns.TypeA)
		if len(r.Answer) == 0 {
			t.Fatalf("%s: empty answer with everything down", name)
		}
		if want != nil && !slices.Equal(addrsOf(r.Answer), want) {
			t.Fatalf("%s: %v, want %v", name, addrsOf(r.Answer), want)
		}
	}
	if r := ask(t, addr, "edge.example.com.", mdns.TypeA); len(r.Answer) != 2 {
		t.Fatalf("edge all down: %v, want both edge nodes", addrsOf(r.Answer))
	}
	if r := ask(t, addr, "empty.example.com.", mdns.TypeA); len(r.Answer) != 0 || r.Rcode != 0 || len(r.Ns) != 1 {
		t.Fatalf("all_down nodata: %v", r)
	}
}

func TestSteeredPolicies(t *testing.T) {
	_, addr := startYAML(t, steerYAML, newFakeHealth())
	orders := map[string]bool{}
	singles := map[string]bool{}
	for i := 0; i < 60; i++ {
		r := ask(t, addr, "all.example.com.", mdns.TypeA)
		got := addrsOf(r.Answer)
		if len(got) != 2 {
			t.Fatalf("all: %v, want both healthy members", got)
		}
		orders[got[0]] = true
		w := addrsOf(ask(t, addr, "w.example.com.", mdns.TypeA).Answer)
		if len(w) != 1 {
			t.Fatalf("weighted: %v, want one member", w)
		}
		singles[w[0]] = true
	}
	if len(orders) != 2 || len(singles) != 2 {
		t.Fatalf("60 answers: first addresses %v, weighted picks %v; want both of each", orders, singles)
	}
	r := ask(t, addr, "edge.example.com.", mdns.TypeA)
	if got := addrsOf(r.Answer); len(got) != 2 || !slices.Contains(got, "192.0.2.201") {
		t.Fatalf("proxied: %v, want the edge nodes", got)
	}
}

func TestClientSubnetPrefer(t *testing.T) {
	_, addr := startYAML(t, steerYAML, newFakeHealth())
	withECS := func(cidr string) func(*mdns.Msg) {
		return func(m *mdns.Msg) {
			m.SetEdns0(1232, false)
			_, n, _ := net.ParseCIDR(cidr)
			ones, _ := n.Mask.Size()
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(ones), Address: n.IP.To4()})
		}
	}
	scopeOf := func(r *mdns.Msg) int {
		for _, o := range r.IsEdns0().Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				return int(e.SourceScope)
			}
		}
		return -1
	}
	r := ask(t, addr, "geo.example.com.", mdns.TypeA, withECS("10.1.2.0/24"))
	if got := addrsOf(r.Answer); !slices.Equal(got, []string{"203.0.113.7"}) || scopeOf(r) != 24 {
		t.Fatalf("ECS in 10/8: %v scope %d, want the eu pool, scope 24", got, scopeOf(r))
	}
	r = ask(t, addr, "geo.example.com.", mdns.TypeA, withECS("192.168.1.0/24"))
	if got := addrsOf(r.Answer); len(got) != 2 || scopeOf(r) != 24 {
		t.Fatalf("ECS elsewhere: %v scope %d, want web", got, scopeOf(r))
	}
	r = ask(t, addr, "www.example.com.", mdns.TypeA, withECS("10.1.2.0/24"))
	if scopeOf(r) != 0 || len(r.Answer) != 1 {
		t.Fatalf("static name with ECS: scope %d, want 0", scopeOf(r))
	}
	r = ask(t, addr, "geo.example.com.", mdns.TypeA, func(m *mdns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 8, Address: net.IPv4(10, 0, 0, 0).To4()})
	})
	if r.Rcode != mdns.RcodeFormatError {
		t.Fatalf("ECS with a scope in the query: %s, want FORMERR", mdns.RcodeToString[r.Rcode])
	}
}

// TestWeightedSteeringOnBothPaths: a weighted name answers by origin
// weight whether the query takes the answer cache or the slow path (EDNS
// Client Subnet sends it there).
func TestWeightedSteeringOnBothPaths(t *testing.T) {
	yaml := strings.Replace(steerYAML,
		`origins: [{url: "http://192.0.2.101"}, {url: "http://192.0.2.102"}, {url: "http://[2001:db8::101]"}]`,
		`origins: [{url: "http://192.0.2.101", weight: 1}, {url: "http://192.0.2.102", weight: 99}, {url: "http://[2001:db8::101]"}]`, 1)
	if yaml == steerYAML {
		t.Fatal("test zone changed: weights not applied")
	}
	_, addr := startYAML(t, yaml, newFakeHealth())
	ecs := func(m *mdns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 18, 0, 0).To4()})
	}
	for _, path := range []struct {
		name string
		opts []func(*mdns.Msg)
	}{{"cached", nil}, {"slow (ECS)", []func(*mdns.Msg){ecs}}} {
		heavy := 0
		for range 200 {
			if got := addrsOf(ask(t, addr, "w.example.com.", mdns.TypeA, path.opts...).Answer); len(got) == 1 && got[0] == "192.0.2.102" {
				heavy++
			}
		}
		// Weight 99 of 100: uniform picks would give about 100 of 200.
		if heavy < 180 {
			t.Errorf("%s path: the weight-99 origin answered %d of 200", path.name, heavy)
		}
	}
}
