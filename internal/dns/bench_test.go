package dns

import (
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// benchYAML serves the benchmark's zone (shared/bench/dns/example.test.zone,
// copied into testdata).
const benchYAML = `
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: s, hosts: ["*"], routes: [{origins: [{url: "http://127.0.0.1:1"}]}]}]
dns:
  listen: ["127.0.0.1:0"]
  zones: [{origin: example.test., file: testdata/example.test.zone}]
`

// BenchmarkRespond measures the query hot path (parse, cache lookup,
// answer assembly, metrics, RRL check for a non-loopback client) without
// sockets. Run: go test -run '^$' -bench Respond -benchmem ./internal/dns/
func BenchmarkRespond(b *testing.B) {
	cases := []struct {
		name  string
		qname string
		qtype uint16
		do    bool
	}{
		{"A", "h17.example.test.", mdns.TypeA, false},
		{"AAAA", "H10.Example.Test.", mdns.TypeAAAA, false},
		{"CNAME-chase", "h25.example.test.", mdns.TypeA, false},
		{"NXDOMAIN", "nx12345-678.example.test.", mdns.TypeA, false},
		{"MX-apex", "example.test.", mdns.TypeMX, false},
		{"www-2A", "www.example.test.", mdns.TypeA, false},
	}
	// A benchmark from one address would be rate limited: allow-list it the
	// way an operator would, keeping the check on the path.
	s, _ := startYAML(b, strings.Replace(benchYAML, "zones:", "rrl: {allow: [192.0.2.0/24]}\n  zones:", 1), nil)
	client := netip.MustParseAddr("192.0.2.1")
	for _, c := range cases {
		m := new(mdns.Msg)
		m.SetQuestion(c.qname, c.qtype)
		m.SetEdns0(1232, c.do)
		q, _ := m.Pack()
		b.Run(c.name, func(b *testing.B) {
			w := newWorker()
			if out := s.respond(w, q, client, false); out == nil {
				b.Fatal("no answer")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.respond(w, q, client, false)
			}
		})
	}
}

// BenchmarkRespondMix cycles through NXDOMAIN names that were never asked
// before, as the benchmark's 15% of random names are.
func BenchmarkRespondNewNXDOMAIN(b *testing.B) {
	s, _ := startYAML(b, benchYAML, nil)
	client := netip.MustParseAddr("127.0.0.1")
	qs := make([][]byte, 1024)
	for i := range qs {
		m := new(mdns.Msg)
		m.SetQuestion("nx"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i)+".example.test.", mdns.TypeA)
		qs[i], _ = m.Pack()
	}
	w := newWorker()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.respond(w, qs[i%len(qs)], client, false)
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}
