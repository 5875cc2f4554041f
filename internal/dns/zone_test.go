package dns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestZoneGate(t *testing.T) {
	cases := []struct {
		name, records, want string
	}{
		{"ok", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1", ""},
		{"no SOA", "@ IN NS ns1", "no SOA record"},
		{"no NS", "@ 3600 IN SOA ns1 h 1 2 3 4 5", "no NS records"},
		{"two SOA", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ 3600 IN SOA ns1 h 2 2 3 4 5\n@ IN NS ns1", "a second SOA"},
		{"CNAME and data", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nx IN CNAME y\nx IN A 192.0.2.1", "CNAME cannot sit beside"},
		{"outside", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nfoo.example.org. IN A 192.0.2.1", "outside the zone"},
		{"syntax", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nx IN A 300.1.1.1", "bad A"},
		{"RRSIG in data", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n@ IN NSEC x.example.com. A", "online signing"},
		{"over the bound", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\na IN A 192.0.2.1\nb IN A 192.0.2.2\nc IN A 192.0.2.3\nd IN A 192.0.2.4", "more than 5 records"},
		{"$GENERATE over the bound", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n$GENERATE 1-60000 h$ A 192.0.2.1", "more than 5 records"},
		{"$INCLUDE refused", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n$INCLUDE /etc/passwd", "$INCLUDE directive not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := []zoneSource{{name: "records", r: strings.NewReader(c.records + "\n")}}
			_, err := parseZone("example.com.", src, 5)
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

func TestZoneFileOverBoundAndSteerClash(t *testing.T) {
	c := loadConfig(t, strings.Replace(baseYAML, "  rrl:", "  max_records_per_zone: 10\n  rrl:", 1))
	_, err := Build(c.DNS, c.Pools)
	if !errors.Is(err, errOverBound) || !strings.Contains(err.Error(), "dns.zones[0]") {
		t.Fatalf("zone file over the bound: %v", err)
	}
	c = loadConfig(t, baseYAML+"      steer: [{name: www, pool: web}]\n")
	if _, err := Build(c.DNS, c.Pools); err == nil || !strings.Contains(err.Error(), "already has A") {
		t.Fatalf("steer on a name with A records: %v", err)
	}
	c = loadConfig(t, baseYAML+"      steer: [{name: app, pool: web}]\n")
	zs, err := Build(c.DNS, c.Pools)
	if err != nil || len(zs.warnings) != 1 || !strings.Contains(zs.warnings[0], "no health.active checks") {
		t.Fatalf("steered pool without active checks: %v %q", err, zs.warnings)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.zone")
	os.WriteFile(bad, []byte("@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nwww IN A not-an-address\n"), 0o600)
	c = loadConfig(t, strings.Replace(baseYAML, "testdata/example.com.zone", bad, 1))
	if _, err := Build(c.DNS, c.Pools); err == nil || !strings.Contains(err.Error(), "bad.zone") {
		t.Fatalf("malformed zone file: %v", err)
	}
}

func TestOriginOfAndDS(t *testing.T) {
	o, err := OriginOf("testdata/example.test.zone")
	if err != nil || o != "example.test." {
		t.Fatalf("origin %q, %v", o, err)
	}
	dir := t.TempDir()
	ds1, err := DS("example.com", filepath.Join(dir, "K"))
	if err != nil || !strings.Contains(ds1, "IN\tDS\t") || !strings.HasPrefix(ds1, "example.com.") {
		t.Fatalf("DS %q, %v", ds1, err)
	}
	ds2, _ := DS("example.com.", filepath.Join(dir, "K"))
	if ds1 != ds2 {
		t.Fatalf("DS changed between runs: the key was not reused\n%s\n%s", ds1, ds2)
	}
	if _, err := DS("other.com.", filepath.Join(dir, "K")); err == nil {
		t.Fatal("a key of example.com. was accepted for other.com.")
	}
}
