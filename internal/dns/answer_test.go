package dns

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestAuthoritativeAnswers(t *testing.T) {
	_, addr := startYAML(t, baseYAML, nil)
	cases := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		aa      bool
		answer  []string // addresses or "CNAME target"
		nsType  uint16   // type of the first authority record, 0: none
		extraNo int      // additional records besides OPT, -1: don't care
	}{
		{"apex SOA", "example.com.", mdns.TypeSOA, 0, true, nil, 0, -1},
		{"exact A", "www.example.com.", mdns.TypeA, 0, true, []string{"192.0.2.10"}, 0, 0},
		{"nodata has SOA", "www.example.com.", mdns.TypeMX, 0, true, nil, mdns.TypeSOA, 0},
		{"nxdomain has SOA", "nope.example.com.", mdns.TypeA, mdns.RcodeNameError, true, nil, mdns.TypeSOA, 0},
		{"cname chain in zone", "chain.example.com.", mdns.TypeA, 0, true, []string{"CNAME alias.example.com.", "CNAME www.example.com.", "192.0.2.10"}, 0, 0},
		{"cname out of zone stops", "ext.example.com.", mdns.TypeA, 0, true, []string{"CNAME www.example.net."}, 0, 0},
		{"cname to nothing is nxdomain", "dangling.example.com.", mdns.TypeA, mdns.RcodeNameError, true, []string{"CNAME missing.example.com."}, mdns.TypeSOA, 0},
		{"cname asked directly", "alias.example.com.", mdns.TypeCNAME, 0, true, []string{"CNAME www.example.com."}, 0, 0},
		{"wildcard", "x.wild.example.com.", mdns.TypeA, 0, true, []string{"192.0.2.99"}, 0, 0},
		{"wildcard deeper", "y.x.wild.example.com.", mdns.TypeA, 0, true, []string{"192.0.2.99"}, 0, 0},
		{"wildcard nodata", "x.wild.example.com.", mdns.TypeAAAA, 0, true, nil, mdns.TypeSOA, 0},
		{"empty non-terminal is nodata", "b.c.example.com.", mdns.TypeA, 0, true, nil, mdns.TypeSOA, 0},
		{"wildcard does not cover existing ENT", "c.example.com.", mdns.TypeA, 0, true, nil, mdns.TypeSOA, 0},
		{"referral", "host.sub.example.com.", mdns.TypeA, 0, false, nil, mdns.TypeNS, 1},
		{"referral at cut", "sub.example.com.", mdns.TypeA, 0, false, nil, mdns.TypeNS, 1},
		{"other zone refused", "www.example.org.", mdns.TypeA, mdns.RcodeRefused, false, nil, 0, 0},
		{"ANY is minimal", "www.example.com.", mdns.TypeANY, 0, true, nil, 0, 0},
		{"NS with glue", "example.com.", mdns.TypeNS, 0, true, nil, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ask(t, addr, c.qname, c.qtype, edns(1232, false))
			if r.Rcode != c.rcode || r.Authoritative != c.aa {
				t.Fatalf("rcode %s aa %v, want %s aa %v\n%v", mdns.RcodeToString[r.Rcode], r.Authoritative, mdns.RcodeToString[c.rcode], c.aa, r)
			}
			if c.answer != nil && !slices.Equal(addrsOf(r.Answer), c.answer) {
				t.Fatalf("answer %v, want %v", addrsOf(r.Answer), c.answer)
			}
			if c.nsType != 0 && (len(r.Ns) == 0 || r.Ns[0].Header().Rrtype != c.nsType) {
				t.Fatalf("authority %v, want a %s first", r.Ns, mdns.TypeToString[c.nsType])
			}
			if c.nsType == 0 && len(r.Ns) != 0 {
				t.Fatalf("authority %v, want none", r.Ns)
			}
			if c.extraNo >= 0 && len(r.Extra)-1 != c.extraNo {
				t.Fatalf("additional %v, want %d records and OPT", r.Extra, c.extraNo)
			}
			if c.qtype == mdns.TypeANY {
				if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != mdns.TypeHINFO {
					t.Fatalf("ANY: %v, want one HINFO (RFC 8482)", r.Answer)
				}
			}
		})
	}
}

func TestQuestionCaseKept(t *testing.T) {
	_, addr := startYAML(t, baseYAML, nil)
	for i := 0; i < 4; i++ { // the later ones are answered from the cache
		network := []string{"udp", "tcp"}[i%2]
		r := askNet(t, network, addr, "WwW.ExAmPlE.cOm.", mdns.TypeA)
		if r.Question[0].Name != "WwW.ExAmPlE.cOm." || len(r.Answer) != 1 {
			t.Fatalf("question %q answer %v", r.Question[0].Name, r.Answer)
		}
		r = askNet(t, network, addr, "NoPe.ExAmPlE.cOm.", mdns.TypeA)
		if r.Question[0].Name != "NoPe.ExAmPlE.cOm." || r.Rcode != mdns.RcodeNameError {
			t.Fatalf("question %q rcode %d", r.Question[0].Name, r.Rcode)
		}
	}
}

func TestTruncationAndEDNS(t *testing.T) {
	_, addr := startYAML(t, baseYAML, nil)
	r := ask(t, addr, "big.example.com.", mdns.TypeTXT) // no EDNS: 512 bytes
	if !r.Truncated || len(r.Answer) != 0 {
		t.Fatalf("without EDNS: tc %v answers %d, want truncated", r.Truncated, len(r.Answer))
	}
	r = ask(t, addr, "big.example.com.", mdns.TypeTXT, edns(4096, false))
	if r.Truncated || len(r.Answer) != 12 {
		t.Fatalf("with EDNS 4096: tc %v answers %d", r.Truncated, len(r.Answer))
	}
	if o := r.IsEdns0(); o == nil || o.UDPSize() != 1232 {
		t.Fatalf("OPT %v, want our size 1232", o)
	}
	r = askNet(t, "tcp", addr, "big.example.com.", mdns.TypeTXT)
	if r.Truncated || len(r.Answer) != 12 {
		t.Fatalf("over TCP: tc %v answers %d", r.Truncated, len(r.Answer))
	}
	r = ask(t, addr, "www.example.com.", mdns.TypeA)
	if r.IsEdns0() != nil {
		t.Fatal("OPT in an answer to a query without EDNS")
	}
}

func TestMalformedAndUnsupported(t *testing.T) {
	s, addr := startYAML(t, baseYAML, nil)
	q := new(mdns.Msg)
	q.SetQuestion("www.example.com.", mdns.TypeA)
	good, _ := q.Pack()

	if sendRaw(t, addr, []byte{1, 2, 3}) != nil {
		t.Fatal("a 3-byte packet was answered")
	}
	trunc := append([]byte(nil), good[:16]...)
	if r := sendRaw(t, addr, trunc); r == nil || r[3]&0xF != mdns.RcodeFormatError {
		t.Fatalf("truncated question: %v, want FORMERR", r)
	}
	two := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(two[4:], 2)
	if r := sendRaw(t, addr, two); r == nil || r[3]&0xF != mdns.RcodeFormatError {
		t.Fatalf("qdcount 2: %v, want FORMERR", r)
	}
	upd := append([]byte(nil), good...)
	upd[2] = mdns.OpcodeUpdate << 3
	if r := sendRaw(t, addr, upd); r == nil || r[3]&0xF != mdns.RcodeNotImplemented {
		t.Fatalf("UPDATE: %v, want NOTIMP", r)
	}
	resp := append([]byte(nil), good...)
	resp[2] |= 0x80
	if sendRaw(t, addr, resp) != nil {
		t.Fatal("a response was answered")
	}
	r := ask(t, addr, "www.example.com.", mdns.TypeA, func(m *mdns.Msg) {
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
	})
	if r.Rcode != mdns.RcodeBadVers {
		t.Fatalf("EDNS version 1: %s, want BADVERS", mdns.RcodeToString[r.Rcode])
	}
	r = ask(t, addr, "version.bind.", mdns.TypeTXT, func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS })
	if r.Rcode != mdns.RcodeRefused {
		t.Fatalf("CH class: %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
	r = ask(t, addr, "example.com.", mdns.TypeAXFR)
	if r.Rcode != mdns.RcodeNotImplemented {
		t.Fatalf("AXFR over UDP: %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
	}
	r = ask(t, addr, "www.example.com.", mdns.TypeA, func(m *mdns.Msg) {
		m.Opcode = mdns.OpcodeStatus
		m.SetEdns0(1232, false)
	})
	if r.Rcode != mdns.RcodeNotImplemented || r.IsEdns0() == nil {
		t.Fatalf("STATUS with EDNS: %s, OPT %v; want NOTIMP with an OPT", mdns.RcodeToString[r.Rcode], r.IsEdns0())
	}
	r = ask(t, addr, "www.example.com.", mdns.TypeA, func(m *mdns.Msg) {
		m.Zero = true
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2}})
	})
	if r.Rcode != 0 || len(r.Answer) != 1 || r.Zero || len(r.IsEdns0().Option) != 0 {
		t.Fatalf("Z bit and an unknown option: %v; want an answer, Z clear, the option not echoed", r)
	}
	r = ask(t, addr, "www.example.com.", 666)
	if r.Rcode != 0 || !r.Authoritative || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("unknown type: %v, want NODATA", r)
	}
	if s.Queries(mdns.TypeA, mdns.RcodeFormatError) == 0 && s.Queries(0, mdns.RcodeFormatError) == 0 {
		t.Fatal("FORMERR not counted")
	}
}

func TestPanicWallAnswersServfail(t *testing.T) {
	s, addr := startYAML(t, baseYAML, nil)
	hook := func(name []byte) {
		if strings.Contains(string(name), "boom") {
			panic("test panic")
		}
	}
	s.testPanic.Store(&hook)
	r := ask(t, addr, "boom.example.com.", mdns.TypeA)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
	if r := ask(t, addr, "www.example.com.", mdns.TypeA); r.Rcode != 0 || len(r.Answer) != 1 {
		t.Fatalf("the next query: %v", r)
	}
	if s.wall.Count("dns") != 1 {
		t.Fatalf("panics counted %v, want 1", s.wall.Count("dns"))
	}
}
