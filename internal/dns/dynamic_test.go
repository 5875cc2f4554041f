package dns

import (
	"fmt"
	"testing"

	mdns "github.com/miekg/dns"
)

// ACME challenge records are answered at once (over UDP and TCP, with and
// without EDNS, even after a negative answer for the name was cached),
// only at _acme-challenge names inside served zones, within a bound, and
// are gone once removed.
func TestChallengeRecords(t *testing.T) {
	s, addr := startYAML(t, baseYAML, nil)
	const name = "_acme-challenge.www.example.com."
	if r := ask(t, addr, name, mdns.TypeTXT); r.Rcode != mdns.RcodeNameError {
		t.Fatalf("before: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	if zone, ok := s.ZoneOf("www.example.com"); !ok || zone != "example.com." {
		t.Fatalf("ZoneOf: %q %v", zone, ok)
	}
	if err := s.AddChallenge("_acme-challenge.www.Example.com", "tok-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddChallenge(name, "tok-2"); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, opt := range [][]func(*mdns.Msg){nil, {edns(1232, true)}} {
			r := askNet(t, network, addr, name, mdns.TypeTXT, opt...)
			if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 2 {
				t.Fatalf("%s: %v", network, r)
			}
			if got := rrStrings(r.Answer); got[0] != name+"\t10\tIN\tTXT\t\"tok-1\"" {
				t.Fatalf("%s: answer %v", network, got)
			}
		}
	}
	if r := ask(t, addr, name, mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("other type: want NODATA with the SOA, got %v", r)
	}
	// The rest of the zone answers as before.
	if r := ask(t, addr, "www.example.com.", mdns.TypeA); r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
		t.Fatalf("www: %v", r)
	}
	for _, bad := range []string{"www.example.com", "_acme-challenge.example.org"} {
		if err := s.AddChallenge(bad, "x"); err == nil {
			t.Fatalf("%s accepted", bad)
		}
	}
	s.RemoveChallenge(name, "tok-1")
	s.RemoveChallenge(name, "tok-2")
	if r := ask(t, addr, name, mdns.TypeTXT); r.Rcode != mdns.RcodeNameError {
		t.Fatalf("after removal: %v", r)
	}
	for i := range maxChallenges {
		if err := s.AddChallenge(name, fmt.Sprint(i)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if err := s.AddChallenge(name, "one too many"); err != errChallengesFull {
		t.Fatalf("over the bound: %v", err)
	}
}
