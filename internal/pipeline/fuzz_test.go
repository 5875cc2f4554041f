package pipeline

import (
	"net/netip"
	"testing"
)

// FuzzClientFromXFF parses arbitrary X-Forwarded-For values: the result is
// always a valid address, and never a trusted proxy unless only trusted
// addresses were seen.
func FuzzClientFromXFF(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "203.0.113.9, 10.0.0.1", "::1, 2001:db8::1", "garbage", "", ",,,", "1.2.3.4,  5.6.7.8 ,10.1.1.1", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	trust := &Trust{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	peer := netip.MustParseAddr("10.0.0.2")
	f.Fuzz(func(t *testing.T, xff string) {
		got := clientFromXFF([]string{xff}, trust, peer)
		if !got.IsValid() {
			t.Fatalf("invalid client from %q", xff)
		}
	})
}

func TestClientFromXFF(t *testing.T) {
	trust := &Trust{Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	peer := netip.MustParseAddr("10.0.0.2")
	for in, want := range map[string]string{
		"203.0.113.9":                   "203.0.113.9",
		"6.6.6.6, 203.0.113.9":          "203.0.113.9", // the rightmost untrusted wins: 6.6.6.6 could be forged
		"203.0.113.9, 10.0.0.7":         "203.0.113.9",
		"10.0.0.9":                      "10.0.0.9",
		"garbage, 203.0.113.9":          "203.0.113.9",
		"203.0.113.9, garbage":          "10.0.0.2", // unparsable: fall back to what we know
		"::ffff:198.51.100.1, 10.0.0.1": "198.51.100.1",
	} {
		if got := clientFromXFF([]string{in}, trust, peer); got.String() != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}
