package dns

import (
	"net/netip"
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
