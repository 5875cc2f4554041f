package shield

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIPSet(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# blocked\n203.0.113.0/24\n\n2001:db8::/32 # v6\n198.51.100.7\n"), 0o600)
	s, err := NewIPSet([]string{"192.0.2.1"}, good, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"192.0.2.1": true, "192.0.2.2": false, "203.0.113.99": true,
		"198.51.100.7": true, "198.51.100.8": false, "2001:db8:1::5": true, "2001:db9::1": false} {
		if got := s.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4", s.Len())
	}
	cases := []struct{ name, body, err string }{
		{"malformed", "10.0.0.1\nnot-an-ip\n", "bad.txt:2"},
		{"bad-cidr", "10.0.0.0/33\n", "bad CIDR"},
		{"too-many", strings.Repeat("10.0.0.1\n10.0.0.2\n", 1) + "10.0.0.3\n10.0.0.4\n", "over the limit of 3 entries"},
		{"too-big", strings.Repeat("10.0.0.1\n", 200), "over the limit of 1024 bytes"},
		{"long-line", strings.Repeat("1", 5000) + "\n", "token too long"}, // checked with a larger byte bound below
	}
	for _, c := range cases {
		p := filepath.Join(dir, "bad.txt")
		os.WriteFile(p, []byte(c.body), 0o600)
		limit := int64(1024)
		if c.name == "long-line" {
			limit = 1 << 20
		}
		if _, err := NewIPSet(nil, p, 3, limit); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
		}
	}
	if _, err := NewIPSet(nil, filepath.Join(dir, "missing"), 3, 1024); err == nil {
		t.Error("a missing file must be an error")
	}
}
