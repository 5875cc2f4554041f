package dns

import (
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzRespond feeds arbitrary packets to the query path (fast parser,
// full parser, lookups, packing) of a server with a signed zone and
// steered names. No input may panic (the wall would hide it, so the test
// checks the panic count) and every answer must parse.
func FuzzRespond(f *testing.F) {
	seeds := []func(*mdns.Msg){
		func(m *mdns.Msg) { m.SetQuestion("www.example.com.", mdns.TypeA) },
		func(m *mdns.Msg) { m.SetQuestion("NoPe.example.com.", mdns.TypeAAAA); m.SetEdns0(1232, true) },
		func(m *mdns.Msg) { m.SetQuestion("app.example.com.", mdns.TypeA); m.SetEdns0(512, true) },
		func(m *mdns.Msg) { m.SetQuestion("x.wild.example.com.", mdns.TypeANY) },
		func(m *mdns.Msg) { m.SetQuestion("host.sub.example.com.", mdns.TypeDS); m.SetEdns0(4096, true) },
		func(m *mdns.Msg) { m.SetQuestion("big.example.com.", mdns.TypeTXT) },
		func(m *mdns.Msg) { m.SetQuestion("example.com.", mdns.TypeAXFR) },
		func(m *mdns.Msg) {
			m.SetQuestion("geo.example.com.", mdns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{10, 1, 2, 0}})
		},
	}
	for _, s := range seeds {
		m := new(mdns.Msg)
		s(m)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1})
	f.Add([]byte{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	s, _ := startYAML(f, signedYAML(f.TempDir()), newFakeHealth())
	w := newWorker()
	client := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, q []byte) {
		for _, tcp := range []bool{false, true} {
			out := s.respond(w, q, client, tcp)
			if s.wall.Count("dns") != 0 {
				t.Fatalf("panic on %x", q)
			}
			if out == nil {
				continue
			}
			var m mdns.Msg
			if err := m.Unpack(out); err != nil && len(out) >= 12 {
				t.Fatalf("answer to %x does not parse: %v (%x)", q, err, out)
			}
			if !tcp && len(out) > 4096 {
				t.Fatalf("UDP answer of %d bytes", len(out))
			}
		}
	})
}

// FuzzParseZone feeds arbitrary zone text to the zone gate: it must return
// a zone or an error, never panic, and never hold more records than the
// bound.
func FuzzParseZone(f *testing.F) {
	f.Add("@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nwww IN A 192.0.2.1\n*.w IN CNAME www\n")
	f.Add("$ORIGIN example.com.\n@ SOA a b 1 2 3 4 5\n@ NS a\n$GENERATE 1-50 h$ A 10.0.0.$\n")
	f.Add("@ IN NS ns1\nx IN TXT \"a\" \"b\"\nsub IN NS ns.sub\nns.sub IN AAAA ::1\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := parseZone("example.com.", []zoneSource{{name: "fuzz", r: strings.NewReader(text)}}, 20)
		if err == nil && z.Records > 20 {
			t.Fatalf("%d records past the bound of 20", z.Records)
		}
	})
}
