package config

import (
	"fmt"
	"strings"
	"testing"
)

const good = `
listeners:
  - listen: 127.0.0.1:8080
sites:
  - name: shop
    hosts: [shop.example, "*.shop.example"]
    routes:
      - path: /
        origins:
          - url: http://127.0.0.1:9000
      - path: /api/
        pools: [api]
pools:
  - name: api
    origins:
      - url: https://10.0.0.1:8443
        weight: 3
`

func TestLoadGoodConfigAppliesDefaults(t *testing.T) {
	p, err := Load("good.yaml", []byte(good))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c := p.Config
	if c.Admin.Listen != DefaultAdminListen {
		t.Errorf("admin.listen = %q, want default", c.Admin.Listen)
	}
	if c.Timeouts.ReadHeader.D() != DefaultReadHeaderTimeout || c.Limits.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("client defaults not applied: %+v %+v", c.Timeouts, c.Limits)
	}
	r := c.Sites[0].Routes[0]
	if r.Protocol != "http1" || r.MaxIdlePerOrigin != DefaultMaxIdlePerOrigin || r.Origins[0].Weight != 1 {
		t.Errorf("pool defaults not applied: %+v", r.PoolSpec)
	}
	if c.Pools[0].Origins[0].Weight != 3 {
		t.Errorf("explicit weight lost")
	}
}

func TestLoadRejects(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"empty", "", "config is empty"},
		{"only comments", "# nothing\n", "config is empty"},
		{"not a mapping", "- a\n- b\n", "must be a mapping"},
		{"unknown key", good + "bogus: 1\n", `good.yaml:18:1: bogus: unknown key; valid keys here: admin,`},
		{"typo of a key", strings.Replace(good, "hosts:", "hostz:", 1), `sites[0].hostz: unknown key, did you mean "hosts"?`},
		{"unknown nested key", strings.Replace(good, "path: /api/", "path: /api/\n        colour: red", 1), `sites[0].routes[1].colour: unknown key`},
		{"duplicate key", "listeners: []\nlisteners: []\n", "good.yaml:2:1: listeners: key given twice; the first is at line 1"},
		{"two documents", good + "---\n" + good, "more than one YAML document"},
		{"bad yaml", "listeners: [\n", "did not find expected"},
		{"bad origin scheme", strings.Replace(good, "http://127.0.0.1:9000", "ftp://127.0.0.1:9000", 1),
			"good.yaml:10:18: sites[0].routes[0].origins[0].url: scheme must be http or https"},
		{"origin with path", strings.Replace(good, "http://127.0.0.1:9000", "http://127.0.0.1:9000/x", 1), "must be scheme://host[:port] only"},
		{"unknown pool", strings.Replace(good, "pools: [api]", "pools: [nope]", 1), `sites[0].routes[1].pools[0]: no pool named "nope"`},
		{"no listeners", strings.Replace(good, "listeners:\n  - listen: 127.0.0.1:8080\n", "", 1), "at least one listener"},
		{"bad listen", strings.Replace(good, "127.0.0.1:8080", "nohostport", 1), "listeners[0].listen: want host:port"},
		{"bad duration", good + "timeouts:\n  idle: 10\n", "bad duration"},
		{"negative duration", good + "timeouts:\n  idle: -1s\n", "negative"},
		{"bad size", good + "limits:\n  max_header_bytes: lots\n", "bad size"},
		{"header limit too big", good + "limits:\n  max_header_bytes: 2MiB\n", "limits.max_header_bytes: must be 1KiB to 1MiB"},
		{"bad host", strings.Replace(good, "shop.example,", "sh op,", 1), "is not a hostname"},
		{"duplicate host", strings.Replace(good, `"*.shop.example"`, `SHOP.example`, 1), "is also"},
		{"route without target", strings.Replace(good, "        pools: [api]\n", "", 1), "a route needs origins or pools"},
		{"both targets", strings.Replace(good, "pools: [api]", "pools: [api]\n        origins: [{url: 'http://a:1'}]", 1), "either origins or pools"},
		{"bad weight", strings.Replace(good, "weight: 3", "weight: 0", 1) + "", ""},
		{"bad trusted", good + "trusted_proxies: [300.1.1.1]\n", "trusted_proxies[0]: bad address"},
		{"bad header name", strings.Replace(good, "path: /api/", "path: /api/\n        set_headers: {'Bad Name': x}", 1), "not a valid header name"},
		{"header CRLF", strings.Replace(good, "path: /api/", "path: /api/\n        set_headers: {X-A: \"a\\r\\nb\"}", 1), "no CR, LF or NUL"},
		{"tls without certs", strings.Replace(good, "- listen: 127.0.0.1:8080", "- listen: 127.0.0.1:8080\n    tls: {}", 1), "tls needs at least one certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("good.yaml", []byte(tc.src))
			if tc.want == "" {
				// weight 0 means "default": it must load.
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	src := strings.Replace(good, "http://127.0.0.1:9000", "ftp://x", 1)
	src = strings.Replace(src, "https://10.0.0.1:8443", "", 1)
	_, err := Load("f.yaml", []byte(src))
	es, ok := err.(Errors)
	if !ok || len(es) != 2 {
		t.Fatalf("want 2 errors, got %T %v", err, err)
	}
	at := map[string]int{}
	for _, e := range es {
		at[e.Path] = e.Line
	}
	if at["pools[0].origins[0].url"] != 16 || at["sites[0].routes[0].origins[0].url"] != 10 {
		t.Errorf("errors at %v; want pools[0].origins[0].url:16 and sites[0].routes[0].origins[0].url:10", at)
	}
}

func TestBoundsRejectNotTruncate(t *testing.T) {
	var b strings.Builder
	b.WriteString("listeners: [{listen: '127.0.0.1:1'}]\nsites:\n")
	for i := 0; i < 2*MaxSites; i++ {
		fmt.Fprintf(&b, "  - {name: s%d, hosts: [h%d.example], routes: [{origins: [{url: 'http://127.0.0.1:1'}]}]}\n", i, i)
	}
	_, err := Load("big.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("2000 sites, over the limit of %d", MaxSites)) {
		t.Fatalf("want sites bound error, got %v", err)
	}
	var o strings.Builder
	o.WriteString("listeners: [{listen: '127.0.0.1:1'}]\nsites: [{name: a, hosts: ['*'], routes: [{origins: [")
	for i := 0; i < MaxOriginsPerPool+1; i++ {
		fmt.Fprintf(&o, "{url: 'http://127.0.0.1:%d'},", 1000+i)
	}
	o.WriteString("]}]}]\n")
	_, err = Load("o.yaml", []byte(o.String()))
	if err == nil || !strings.Contains(err.Error(), "sites[0].routes[0].origins: 257 origins, over the limit of 256") {
		t.Fatalf("want origins bound error, got %v", err)
	}
}

func TestFileSizeBound(t *testing.T) {
	src := good + "#" + strings.Repeat("x", MaxFileBytes) + "\n"
	_, err := Load("huge.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "over the limit of 4194304") {
		t.Fatalf("want size error, got %v", err)
	}
}

func TestTruncatedConfigRejected(t *testing.T) {
	for cut := 20; cut < len(good)-1; cut += 7 {
		src := good[:cut]
		if _, err := Load("t.yaml", []byte(src)); err == nil {
			// Some cuts land on a complete, smaller config; that is valid
			// YAML and a valid config, so only cuts that break a value
			// must fail. Check the one that matters most: a URL cut short.
			if strings.HasSuffix(src, "http://127.0.0.1:9") {
				t.Fatalf("cut at %d accepted", cut)
			}
		}
	}
	if _, err := Load("t.yaml", []byte(good[:len(good)/2])); err == nil {
		t.Fatal("config cut in half was accepted")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"1024": 1024, "64KiB": 64 << 10, "1MiB": 1 << 20, "2GB": 2e9, "10 KiB": 10 << 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.5MiB", "KiB", "99999999999999999999GiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// What a new user writes first: an origin as host:port (quick mode's --to
// takes it too) and a site whose only host is a wildcard, without a name.
func TestHostPortOriginAndWildcardSiteName(t *testing.T) {
	src := `listeners: [{listen: "127.0.0.1:0"}]
sites:
  - hosts: ["*.shop.example"]
    routes: [{origins: [{url: "127.0.0.1:9000"}, {url: "localhost:9001"}]}]
  - hosts: ["*"]
    routes: [{origins: [{url: "https://o.example"}]}]
`
	p, err := Load("levee.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Config.Sites
	if s[0].Name != "wildcard.shop.example" || s[1].Name != "wildcard" {
		t.Errorf("derived names %q, %q", s[0].Name, s[1].Name)
	}
	if got := s[0].Routes[0].Origins; got[0].URL != "http://127.0.0.1:9000" || got[1].URL != "http://localhost:9001" {
		t.Errorf("host:port origins read as %q, %q", got[0].URL, got[1].URL)
	}
	_, err = Load("levee.yaml", []byte(strings.Replace(src, "127.0.0.1:9000", "http://[::1", 1)))
	if err == nil || !strings.Contains(err.Error(), "write it as http://host:port or https://host:port") {
		t.Errorf("a broken URL: %v", err)
	}
}
