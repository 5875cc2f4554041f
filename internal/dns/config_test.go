package dns_test

import (
	"levee/internal/config"
	"levee/internal/dns"
	"strings"
	"testing"
	"time"
)

func TestDNSValidation(t *testing.T) {
	base := `
listeners: [{listen: "127.0.0.1:0"}]
pools:
  - {name: web, origins: [{url: "http://192.0.2.1"}]}
  - {name: named, origins: [{url: "http://origin.example"}]}
sites: [{name: s, hosts: ["*"], routes: [{pools: [web]}]}]
dns:
`
	cases := []struct{ name, dns, want string }{
		{"ok", "  listen: [\"127.0.0.1:53\"]\n  zones: [{origin: example.com., records: [\"@ SOA a b 1 2 3 4 5\"], steer: [{name: app, pool: web}]}]\n", ""},
		{"bad listen", "  listen: [\"nope\"]\n", "dns.listen[0]: want host:port"},
		{"zone without data", "  zones: [{origin: example.com.}]\n", "a zone needs a file or records"},
		{"bad origin", "  zones: [{origin: \"exa mple\", file: x}]\n", "dns.zones[0].origin"},
		{"duplicate zone", "  zones: [{origin: example.com., file: x}, {origin: Example.COM, file: y}]\n", "is also dns.zones[0]"},
		{"records over bound", "  max_records_per_zone: 1\n  zones: [{origin: example.com., records: [a, b]}]\n", "2 records, over the limit of 1"},
		{"steer unknown pool", "  zones: [{origin: example.com., file: x, steer: [{name: app, pool: nope}]}]\n", "no pool named \"nope\""},
		{"steer pool by hostname", "  zones: [{origin: example.com., file: x, steer: [{name: app, pool: named}]}]\n", "is not an IP address"},
		{"bad policy", "  zones: [{origin: example.com., file: x, steer: [{name: app, pool: web, policy: random}]}]\n", "must be all, failover or weighted"},
		{"proxied needs edge pool", "  zones: [{origin: example.com., file: x, steer: [{name: app, mode: proxied}]}]\n", "proxied names need dns.edge_pool"},
		{"ttl bound", "  zones: [{origin: example.com., file: x, steer: [{name: app, pool: web, ttl: 2h}]}]\n", "must be 1s to 1h"},
		{"bad prefer network", "  zones: [{origin: example.com., file: x, steer: [{name: app, pool: web, prefer: [{pool: web, networks: [nope]}]}]}]\n", "bad address"},
		{"bad secondary", "  zones: [{origin: example.com., file: x, secondaries: [host]}]\n", "want ip:port"},
		{"dnssec without key", "  zones: [{origin: example.com., file: x, dnssec: {}}]\n", "a key file path is required"},
		{"rrl rate", "  rrl: {rate: -1}\n", "dns.rrl.rate"},
		{"rrl table", "  rrl: {table_size: 99999999}\n", "dns.rrl.table_size"},
		{"udp size", "  udp_size: 100\n", "dns.udp_size"},
		{"tcp query timeout too short", "  tcp_query_timeout: 10ms\n", "dns.tcp_query_timeout: must be 100ms to 10s"},
		{"tcp query timeout too long", "  tcp_query_timeout: 11s\n", "dns.tcp_query_timeout: must be 100ms to 10s"},
		{"tcp query timeout", "  tcp_query_timeout: 500ms\n", ""},
		{"unknown key", "  zonez: []\n", "zonez"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Load("t.yaml", []byte(base+c.dns))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestDNSDefaults(t *testing.T) {
	d := dns.Config{Zones: []dns.ZoneConfig{{Steer: []dns.SteerConfig{{}}}}}
	d.SetDefaults()
	if !*d.RRL.Enabled || !*d.RRL.ExemptLoopback || d.RRL.Rate != 20 || d.RRL.Slip != 2 || d.UDPSize != 1232 || d.MaxRecordsPerZone != 100000 || d.TCPQueryTimeout.D() != time.Second {
		t.Fatalf("defaults: %+v", d)
	}
	s := d.Zones[0].Steer[0]
	if s.Mode != "dns_only" || s.Policy != "all" || s.AllDown != "answer_all" || s.TTL.D().Seconds() != 30 {
		t.Fatalf("steer defaults: %+v", s)
	}
}
