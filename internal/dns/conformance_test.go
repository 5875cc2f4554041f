package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// typesCovered lists the types the RRSIGs of rrs cover, and fails on any
// other record.
func typesCovered(t *testing.T, rrs []mdns.RR) []uint16 {
	t.Helper()
	var out []uint16
	for _, rr := range rrs {
		sig, ok := rr.(*mdns.RRSIG)
		if !ok {
			t.Fatalf("an RRSIG answer holds %v", rr)
		}
		out = append(out, sig.TypeCovered)
	}
	slices.Sort(out)
	return out
}

// onlyNSEC returns the single NSEC of rrs (RRSIGs aside).
func onlyNSEC(t *testing.T, rrs []mdns.RR) *mdns.NSEC {
	t.Helper()
	var nsec *mdns.NSEC
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *mdns.NSEC:
			if nsec != nil {
				t.Fatalf("two NSECs in %v", rrs)
			}
			nsec = r
		case *mdns.RRSIG:
		default:
			t.Fatalf("not an NSEC answer: %v", rrs)
		}
	}
	if nsec == nil {
		t.Fatalf("no NSEC in %v", rrs)
	}
	return nsec
}

// RFC 4034 section 4 / RFC 4035 section 3.1: in a zone signed online every
// name has an NSEC, so a query for it is answered with it, signed; an RRSIG
// query gets the signatures at the name. Neither is chased through a CNAME.
func TestNSECAndRRSIGQueriesAnswered(t *testing.T) {
	_, addr := startYAML(t, signedYAML(t.TempDir()), newFakeHealth())
	key := zoneKey(t, addr)
	do := edns(1232, true)
	cases := []struct {
		name  string
		types []uint16 // the NSEC's bitmap
	}{
		{"www.example.com.", []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeRRSIG, mdns.TypeNSEC}},
		{"nope.example.com.", []uint16{mdns.TypeRRSIG, mdns.TypeNSEC}},
		{"alias.example.com.", []uint16{mdns.TypeCNAME, mdns.TypeRRSIG, mdns.TypeNSEC}},
		{"c.example.com.", []uint16{mdns.TypeRRSIG, mdns.TypeNSEC}},                              // empty non-terminal
		{"app.example.com.", []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeRRSIG, mdns.TypeNSEC}}, // steered
		{"x.wild.example.com.", []uint16{mdns.TypeA, mdns.TypeTXT, mdns.TypeRRSIG, mdns.TypeNSEC}},
		{"example.com.", []uint16{mdns.TypeA, mdns.TypeNS, mdns.TypeSOA, mdns.TypeMX, mdns.TypeRRSIG, mdns.TypeNSEC, mdns.TypeDNSKEY}},
	}
	for _, c := range cases {
		r := ask(t, addr, c.name, mdns.TypeNSEC, do)
		if r.Rcode != mdns.RcodeSuccess || !r.Authoritative {
			t.Fatalf("%s NSEC: %v", c.name, r)
		}
		nsec := onlyNSEC(t, r.Answer)
		if nsec.Hdr.Name != c.name || !slices.Equal(nsec.TypeBitMap, c.types) {
			t.Fatalf("%s NSEC: %v, want the name's NSEC with %v", c.name, nsec, c.types)
		}
		verifySection(t, key, r.Answer)

		r = ask(t, addr, c.name, mdns.TypeRRSIG, do)
		want := slices.DeleteFunc(slices.Clone(c.types), func(t uint16) bool { return t == mdns.TypeRRSIG })
		if got := typesCovered(t, r.Answer); r.Rcode != mdns.RcodeSuccess || !slices.Equal(got, want) {
			t.Fatalf("%s RRSIG: covering %v, want %v (%v)", c.name, got, want, r)
		}
		for _, rr := range r.Answer {
			sig := rr.(*mdns.RRSIG)
			if sig.Hdr.Name != c.name {
				t.Fatalf("%s RRSIG: owner %s", c.name, sig.Hdr.Name)
			}
			set := ask(t, addr, c.name, sig.TypeCovered, do).Answer
			set = slices.DeleteFunc(set, func(rr mdns.RR) bool { return rr.Header().Rrtype != sig.TypeCovered })
			if err := sig.Verify(key, set); err != nil || len(set) == 0 {
				t.Fatalf("%s RRSIG over %s does not verify the %s answer %v: %v", c.name, mdns.TypeToString[sig.TypeCovered], mdns.TypeToString[sig.TypeCovered], set, err)
			}
		}
	}
}

// RFC 2181 section 10.1, RFC 4035 section 2.5: RRSIG, NSEC (and KEY) live
// beside a CNAME, so questions for them are answered at the owner, signed
// zone or not.
func TestOwnerTypesAtCNAMEAreNotChased(t *testing.T) {
	_, addr := startYAML(t, baseYAML, nil)
	for _, qt := range []uint16{mdns.TypeNSEC, mdns.TypeRRSIG, mdns.TypeKEY} {
		for _, network := range []string{"udp", "tcp"} {
			r := askNet(t, network, addr, "alias.example.com.", qt)
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA {
				t.Fatalf("%s %s at a CNAME owner: %v, want NODATA at the owner", network, mdns.TypeToString[qt], r)
			}
		}
	}
	// Other types still follow the CNAME.
	if r := ask(t, addr, "alias.example.com.", mdns.TypeA); len(r.Answer) != 2 {
		t.Fatalf("A at a CNAME owner: %v", r)
	}
}

// delv (a validating resolver) accepts the answers to NSEC queries and the
// NODATA proof for KEY at a CNAME owner. delv does not resolve RRSIG
// questions at all ("hung fetch", whatever the server), so those are
// verified signature by signature in TestNSECAndRRSIGQueriesAnswered.
func TestDelvValidatesNSECAndRRSIGQueries(t *testing.T) {
	delv := needTool(t, "delv")
	dir := t.TempDir()
	_, addr := startYAML(t, signedYAML(dir), newFakeHealth())
	key := zoneKey(t, addr)
	anchors := filepath.Join(dir, "anchors.conf")
	conf := fmt.Sprintf("trust-anchors {\n  example.com. static-key %d %d %d \"%s\";\n};\n", key.Flags, key.Protocol, key.Algorithm, key.PublicKey)
	if err := os.WriteFile(anchors, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	for _, q := range []struct{ name, typ, want string }{
		{"www.example.com", "NSEC", "; fully validated"},
		{"nope.example.com", "NSEC", "; fully validated"},
		{"alias.example.com", "NSEC", "; fully validated"},
		{"example.com", "NSEC", "; fully validated"},
		{"alias.example.com", "KEY", "; negative response, fully validated"},
	} {
		out, err := exec.Command(delv, "@"+host, "-p", port, "-a", anchors, "+root=example.com", q.name, q.typ).CombinedOutput()
		if err != nil || !strings.Contains(string(out), q.want) || strings.Contains(string(out), "no valid") || strings.Contains(string(out), "bogus") {
			t.Fatalf("delv %s %s: %v\n%s", q.name, q.typ, err, out)
		}
	}
}

// rawQuery builds a query for www.example.com A with the given header
// bytes 2 and 3 (flags) and section counts, followed by extra bytes.
func rawQuery(flags2, flags3 byte, qd, an, ns, ar uint16, tail []byte) []byte {
	b := []byte{0x12, 0x34, flags2, flags3, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
	name := []byte{3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	return append(append(b, name...), tail...)
}

// tcpExchange sends one message over a fresh TCP connection and returns the
// answer.
func tcpExchange(t *testing.T, addr string, q []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(append([]byte{byte(len(q) >> 8), byte(len(q))}, q...)); err != nil {
		t.Fatal(err)
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatalf("no answer over TCP: %v", err)
	}
	out := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Error replies carry no TC, RA, AD, CD (nor AA, Z) over either transport,
// and the same header over both; RD is copied in a QUERY (RFC 1035 section
// 4.1.1). A message whose header counts more records than it holds is
// malformed too.
func TestErrorRepliesClearFlagsOverTCP(t *testing.T) {
	_, addr := startYAML(t, baseYAML, nil)
	const tc, rd = 0x02, 0x01
	const ra, z, ad, cd = 0x80, 0x40, 0x20, 0x10
	f2, f3 := byte(0x04|tc|rd), byte(ra|z|ad|cd) // AA too
	notimp := f2 | 5<<3                          // UPDATE
	cases := []struct {
		name  string
		q     []byte
		rcode int
	}{
		{"two questions", rawQuery(f2, f3, 2, 0, 0, 0, nil), mdns.RcodeFormatError},
		{"two answers", rawQuery(f2, f3, 1, 2, 0, 0, nil), mdns.RcodeFormatError},
		{"three additionals", rawQuery(f2, f3, 1, 0, 0, 3, nil), mdns.RcodeFormatError},
		{"record cut short", rawQuery(f2, f3, 1, 1, 0, 0, []byte{0, 0, 1}), mdns.RcodeFormatError},
		{"opcode UPDATE", rawQuery(notimp, f3, 1, 0, 0, 0, nil), mdns.RcodeNotImplemented},
		{"opcode 15", rawQuery(f2|15<<3, f3, 1, 0, 0, 0, nil), mdns.RcodeNotImplemented},
	}
	for _, c := range cases {
		overUDP := sendRaw(t, addr, c.q)
		overTCP := tcpExchange(t, addr, c.q)
		for _, r := range [][]byte{overUDP, overTCP} {
			if len(r) < 12 || int(r[3]&0xF) != c.rcode {
				t.Fatalf("%s: answer %x, want rcode %d", c.name, r, c.rcode)
			}
			// In other opcodes (UPDATE) the RD position is a Z bit.
			if r[2]&(tc|0x04) != 0 || r[3]&(ra|z|ad|cd) != 0 || (r[2]&rd == 0) == (c.rcode == mdns.RcodeFormatError) || r[2]&0x80 == 0 {
				t.Fatalf("%s: flags %08b %08b, want QR and RD (in a QUERY) only", c.name, r[2], r[3])
			}
		}
		if overUDP[2] != overTCP[2] || overUDP[3] != overTCP[3] {
			t.Fatalf("%s: UDP flags %08b %08b, TCP %08b %08b", c.name, overUDP[2], overUDP[3], overTCP[2], overTCP[3])
		}
	}
}

// smallZoneYAML adds a zone small enough to go in one UDP answer, with a
// secondary on loopback (transfers are allowed by address).
func smallZoneYAML(secAddr string) string {
	return baseYAML + fmt.Sprintf(`      secondaries: ["%s"]
    - origin: small.test.
      secondaries: ["%s"]
      records:
        - "@ 3600 IN SOA ns1 hostmaster 7 7200 3600 1209600 300"
        - "@ 3600 IN NS ns1"
        - "ns1 IN A 192.0.2.53"
        - "www IN A 192.0.2.80"
    - origin: closed.test.
      records:
        - "@ 3600 IN SOA ns1 hostmaster 7 7200 3600 1209600 300"
        - "@ 3600 IN NS ns1"
`, secAddr, secAddr)
}

func ixfr(zone string, serial uint32) func(*mdns.Msg) {
	return func(m *mdns.Msg) {
		m.SetIxfr(zone, serial, "ns1."+zone, "hostmaster."+zone)
		m.RecursionDesired = false
	}
}

func soaSerials(t *testing.T, rrs []mdns.RR) []uint32 {
	t.Helper()
	var out []uint32
	for _, rr := range rrs {
		if s, ok := rr.(*mdns.SOA); ok {
			out = append(out, s.Serial)
		}
	}
	return out
}

// RFC 1995: IXFR over UDP from a secondary is answered (the whole zone,
// SOA first and last, as section 4 allows without a journal) when it fits,
// else with the single current SOA; a client that is up to date, or ahead,
// gets the single SOA over either transport.
func TestIXFR(t *testing.T) {
	sec := startSecondary(t)
	_, addr := startYAML(t, smallZoneYAML(sec.addr), nil)
	single := func(what string, r *mdns.Msg, serial uint32) {
		t.Helper()
		if r.Rcode != mdns.RcodeSuccess || r.Truncated || len(r.Answer) != 1 || !slices.Equal(soaSerials(t, r.Answer), []uint32{serial}) {
			t.Fatalf("%s: %v, want the single SOA %d", what, r, serial)
		}
	}
	for _, network := range []string{"udp", "tcp"} {
		single(network+" up to date", askNet(t, network, addr, "small.test.", mdns.TypeIXFR, ixfr("small.test.", 7)), 7)
		single(network+" ahead", askNet(t, network, addr, "small.test.", mdns.TypeIXFR, ixfr("small.test.", 9)), 7)
		single(network+" ahead across the wrap", askNet(t, network, addr, "example.com.", mdns.TypeIXFR, ixfr("example.com.", 1<<31-1)), 1)
	}
	r := ask(t, addr, "small.test.", mdns.TypeIXFR, ixfr("small.test.", 6))
	if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 5 || !slices.Equal(soaSerials(t, r.Answer), []uint32{7, 7}) ||
		r.Answer[0].Header().Rrtype != mdns.TypeSOA || r.Answer[4].Header().Rrtype != mdns.TypeSOA {
		t.Fatalf("UDP IXFR that fits: %v, want the zone between two SOAs", r)
	}
	single("UDP IXFR too big", ask(t, addr, "example.com.", mdns.TypeIXFR, ixfr("example.com.", 0)), 1)
	if r := ask(t, addr, "closed.test.", mdns.TypeIXFR, ixfr("closed.test.", 0)); r.Rcode != mdns.RcodeRefused {
		t.Fatalf("UDP IXFR from a stranger: %v", r)
	}
	// Any other query with a record in the authority section stays FORMERR.
	if r := ask(t, addr, "small.test.", mdns.TypeA, func(m *mdns.Msg) { m.Ns = []mdns.RR{ixfrSOA("small.test.", 1)} }); r.Rcode != mdns.RcodeFormatError {
		t.Fatalf("A with an authority record: %v", r)
	}
	if r := ask(t, addr, "small.test.", mdns.TypeIXFR); r.Rcode != mdns.RcodeFormatError {
		t.Fatalf("IXFR without the client's SOA: %v", r)
	}

	// Over TCP a client behind gets the whole zone, AXFR-style.
	m := new(mdns.Msg)
	m.SetIxfr("example.com.", 0, "ns1.example.com.", "hostmaster.example.com.")
	env, err := (&mdns.Transfer{}).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []mdns.RR
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		rrs = append(rrs, e.RR...)
	}
	if len(rrs) < 10 || rrs[0].Header().Rrtype != mdns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != mdns.TypeSOA {
		t.Fatalf("TCP IXFR: %d records, want the zone between two SOAs", len(rrs))
	}

	dig := needTool(t, "dig")
	host, port, _ := strings.Cut(addr, ":")
	for _, args := range [][]string{{"small.test", "IXFR=6", "+notcp"}, {"example.com", "IXFR=1", "+notcp"}, {"example.com", "IXFR=0"}} {
		out, err := exec.Command(dig, append([]string{"@" + host, "-p", port}, args...)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SOA") || strings.Contains(string(out), "FORMERR") || strings.Contains(string(out), "failed") {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
	}
}

func ixfrSOA(zone string, serial uint32) *mdns.SOA {
	return &mdns.SOA{Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET}, Ns: "ns1." + zone, Mbox: "h." + zone, Serial: serial}
}

// RFC 6891 section 6.1.3: BADVERS is an extended rcode (16); it is counted
// as such, and the reply keeps the question.
func TestBADVERSCountedAndKeepsQuestion(t *testing.T) {
	s, addr := startYAML(t, baseYAML, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.m)
	for _, network := range []string{"udp", "tcp"} {
		r := askNet(t, network, addr, "www.example.com.", mdns.TypeA, func(m *mdns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
		})
		if r.Rcode != mdns.RcodeBadVers || len(r.Question) != 1 || r.Question[0].Name != "www.example.com." {
			t.Fatalf("%s BADVERS: %v", network, r)
		}
	}
	if n, ok := s.Queries(mdns.TypeA, mdns.RcodeBadVers), s.Queries(mdns.TypeA, mdns.RcodeSuccess); n != 2 || ok != 0 {
		t.Fatalf("counted BADVERS %d, NOERROR %d; want 2 and 0", n, ok)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rcode" {
					labels = append(labels, l.GetValue())
				}
			}
		}
	}
	if !slices.Contains(labels, "BADVERS") || slices.Contains(labels, "NOERROR") {
		t.Fatalf("rcode labels %v, want BADVERS and no NOERROR", labels)
	}
}

// waitClosed reads from c until the server closes it, failing if that takes
// longer than limit (a generous bound far above the expected second, far
// below the old five).
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 512)
	for i := 0; i < 100; i++ {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", limit)
		}
		return
	}
	t.Fatal("the server kept sending")
}

// A TCP connection with no complete query is closed after
// dns.tcp_query_timeout (default 1s), whether it sent nothing, part of a
// message, or part of a later message; one that sent a query may idle
// between queries for longer.
func TestTCPPartialMessageClosedSoon(t *testing.T) {
	_, addr := startYAML(t, baseYAML, nil)
	query := rawQuery(0, 0, 1, 0, 0, 0, nil)
	frame := append([]byte{0, byte(len(query))}, query...)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Nothing at all, one byte of the length, the length and half the body.
	for _, partial := range [][]byte{nil, frame[:1], frame[:10]} {
		c := dial()
		if _, err := c.Write(partial); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, c, 3*time.Second)
	}
	// A complete query, then half of the next.
	c := dial()
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	var l [2]byte
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(c, l[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint16(l[:]))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(frame[:10]); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c, 3*time.Second)
}

func TestTCPQueryTimeoutConfigured(t *testing.T) {
	_, addr := startYAML(t, strings.Replace(baseYAML, "  rrl: {enabled: false}\n", "  rrl: {enabled: false}\n  tcp_query_timeout: 100ms\n", 1), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitClosed(t, c, 900*time.Millisecond)

	// Idle after a complete query is not cut at the query timeout.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	query := rawQuery(0, 0, 1, 0, 0, 0, nil)
	frame := append([]byte{0, byte(len(query))}, query...)
	for i := 0; i < 2; i++ {
		if _, err := c2.Write(frame); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		var l [2]byte
		_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadFull(c2, l[:]); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if _, err := io.ReadFull(c2, make([]byte, binary.BigEndian.Uint16(l[:]))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
