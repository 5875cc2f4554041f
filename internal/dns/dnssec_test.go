package dns

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"levee/internal/telemetry"
)

// signedYAML is steerYAML with the zone signed by a key generated in dir.
func signedYAML(dir string) string {
	return strings.Replace(steerYAML, "      file: testdata/example.com.zone\n",
		fmt.Sprintf("      file: testdata/example.com.zone\n      dnssec: {key_file: %s}\n", filepath.Join(dir, "Kexample.com")), 1)
}

// verifySection checks that every RRset of rrs has an RRSIG that key
// verifies, and returns how many sets it checked.
func verifySection(t *testing.T, key *mdns.DNSKEY, rrs []mdns.RR) int {
	t.Helper()
	sets := map[string][]mdns.RR{}
	sigs := map[string]*mdns.RRSIG{}
	for _, rr := range rrs {
		h := rr.Header()
		if sig, ok := rr.(*mdns.RRSIG); ok {
			sigs[strings.ToLower(h.Name)+mdns.TypeToString[sig.TypeCovered]] = sig
			continue
		}
		k := strings.ToLower(h.Name) + mdns.TypeToString[h.Rrtype]
		sets[k] = append(sets[k], rr)
	}
	for k, set := range sets {
		sig := sigs[k]
		if sig == nil {
			t.Fatalf("no RRSIG over %s in %v", k, rrs)
		}
		if err := sig.Verify(key, set); err != nil {
			t.Fatalf("RRSIG over %s does not verify: %v", k, err)
		}
		if !sig.ValidityPeriod(timeNow()) {
			t.Fatalf("RRSIG over %s is not valid now", k)
		}
	}
	return len(sets)
}

func zoneKey(t *testing.T, addr string) *mdns.DNSKEY {
	t.Helper()
	r := ask(t, addr, "example.com.", mdns.TypeDNSKEY, edns(1232, true))
	for _, rr := range r.Answer {
		if k, ok := rr.(*mdns.DNSKEY); ok {
			if verifySection(t, k, r.Answer) != 1 {
				t.Fatal("DNSKEY answer: want one signed set")
			}
			return k
		}
	}
	t.Fatalf("no DNSKEY: %v", r)
	return nil
}

func TestSignedAnswersVerify(t *testing.T) {
	dir := t.TempDir()
	h := newFakeHealth()
	s, addr := startYAML(t, signedYAML(dir), h)
	key := zoneKey(t, addr)
	if _, err := os.Stat(filepath.Join(dir, "Kexample.com.private")); err != nil {
		t.Fatalf("generated key not written: %v", err)
	}

	r := ask(t, addr, "www.example.com.", mdns.TypeA, edns(1232, true))
	if n := verifySection(t, key, r.Answer); n != 1 {
		t.Fatalf("www: %d signed sets", n)
	}
	if r := ask(t, addr, "www.example.com.", mdns.TypeA, edns(1232, false)); len(r.Answer) != 1 {
		t.Fatalf("without DO: %v, want no RRSIG", r.Answer)
	}

	r = ask(t, addr, "nope.example.com.", mdns.TypeA, edns(1232, true))
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("signed NXDOMAIN is a black lie (NOERROR, no answer): %v", r)
	}
	verifySection(t, key, r.Ns)
	var nsec *mdns.NSEC
	for _, rr := range r.Ns {
		if n, ok := rr.(*mdns.NSEC); ok {
			nsec = n
		}
	}
	if nsec == nil || nsec.Hdr.Name != "nope.example.com." || slices.Contains(nsec.TypeBitMap, mdns.TypeA) {
		t.Fatalf("NSEC %v, want one at the name without A", nsec)
	}

	r = ask(t, addr, "www.example.com.", mdns.TypeMX, edns(1232, true))
	verifySection(t, key, r.Ns)
	for _, rr := range r.Ns {
		if n, ok := rr.(*mdns.NSEC); ok {
			for _, typ := range n.TypeBitMap {
				if typ == mdns.TypeMX {
					t.Fatal("NODATA NSEC lists the type denied")
				}
			}
		}
	}

	r = ask(t, addr, "app.example.com.", mdns.TypeA, edns(1232, true))
	verifySection(t, key, r.Answer)
	h.set("http://192.0.2.101", true)
	s.Refresh()
	r = ask(t, addr, "app.example.com.", mdns.TypeA, edns(1232, true))
	if got := addrsOf(r.Answer); len(got) != 1 || got[0] != "192.0.2.102" {
		t.Fatalf("steered after failover: %v", got)
	}
	verifySection(t, key, r.Answer)

	// A health change drops the packed answers but not the signatures.
	h.set("http://192.0.2.101", false)
	s.Refresh()
	before := telemetry.Value(s.m.signing.WithLabelValues("hit"))
	ask(t, addr, "www.example.com.", mdns.TypeA, edns(1232, true))
	if telemetry.Value(s.m.signing.WithLabelValues("hit")) <= before {
		t.Fatal("re-packing a signed answer did not hit the signature cache")
	}

	r = ask(t, addr, "host.sub.example.com.", mdns.TypeA, edns(1232, true))
	if r.Authoritative || len(r.Ns) < 3 {
		t.Fatalf("signed referral: %v", r)
	}
}

func TestDelvValidates(t *testing.T) {
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
		{"www.example.com", "A", "; fully validated"},
		{"app.example.com", "A", "; fully validated"},
		{"nope.example.com", "A", "; negative response, fully validated"},
		{"www.example.com", "MX", "; negative response, fully validated"},
		{"chain.example.com", "A", "; fully validated"},
		{"x.wild.example.com", "A", "; fully validated"},
	} {
		out, err := exec.Command(delv, "@"+host, "-p", port, "-a", anchors, "+root=example.com", q.name, q.typ).CombinedOutput()
		if err != nil || !strings.Contains(string(out), q.want) {
			t.Fatalf("delv %s %s: %v\n%s", q.name, q.typ, err, out)
		}
	}
}

func TestSignedViewRenewedBeforeSignaturesAge(t *testing.T) {
	yaml := strings.Replace(baseYAML, "      file: testdata/example.com.zone\n",
		"      file: testdata/example.com.zone\n      dnssec: {key_file: "+filepath.Join(t.TempDir(), "K")+"}\n", 1)
	s, _ := startYAML(t, yaml, nil)
	if !s.polling {
		t.Fatal("a signed zone without steered names has no renewal poller")
	}
	old := s.view.Load()
	old.built = old.built.Add(-viewMaxAge - time.Minute)
	s.Refresh()
	if s.view.Load() == old {
		t.Fatal("a view older than viewMaxAge was not rebuilt")
	}
}

// Generated keys are written whole, the private one readable by the owner
// only, and a second start reads the same key back.
func TestGeneratedKeyFiles(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "Kexample.com")
	s1, err := loadSigner("example.com.", prefix)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{".private": 0o600, ".key": 0o644} {
		st, err := os.Stat(prefix + name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Fatalf("files left beside the keys: %v", ents)
	}
	s2, err := loadSigner("example.com.", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if s1.tag != s2.tag {
		t.Fatalf("key tag %d after reload, want %d", s2.tag, s1.tag)
	}
}
