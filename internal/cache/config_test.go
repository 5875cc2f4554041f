package cache_test

import (
	"levee/internal/cache"
	"levee/internal/config"
	"strings"
	"testing"
)

func TestCacheConfig(t *testing.T) {
	base := `
listeners: [{listen: "127.0.0.1:0"}]
%TOP%
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: "http://127.0.0.1:1"}]
        cache: %ROUTE%
`
	cases := []struct {
		top, route, err string
	}{
		{"", "{}", ""},
		{"cache: {memory: 64MiB, disk: {path: /tmp/levee-cache, max_size: 1GiB}}", "{grace: 0s, ttl: {\"200\": 1h}}", ""},
		{"cache: {memory: 1000}", "{}", "cache.memory: 1000 bytes is under the minimum"},
		{"cache: {disk: {path: relative/dir}}", "{}", "cache.disk.path: \"relative/dir\" must be an absolute path"},
		{"cache: {lock_timeout: 2m}", "{}", "cache.lock_timeout: over the limit"},
		{"cache: {memory_index: otter}", "{}", ""},
		{"cache: {memory_index: btree}", "{}", "cache.memory_index: \"btree\": want levee or otter"},
		{"", "{key: {query: shuffle}}", "cache.key.query: \"shuffle\": want keep, sort or ignore"},
		{"", "{ttl: {\"abc\": 1s}}", "cache.ttl.abc: \"abc\" is not a status code"},
		{"", "{grace: 1000h}", "cache.grace: over the limit"},
		{"", "{key: {headers: [\"bad header\"]}}", "is not a header name"},
		{"", "{unknown_key: 1}", "unknown_key"},
	}
	for _, c := range cases {
		src := strings.Replace(strings.Replace(base, "%TOP%", c.top, 1), "%ROUTE%", c.route, 1)
		_, err := config.Load("t.yaml", []byte(src))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s / %s: unexpected error %v", c.top, c.route, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s / %s: error %v, want %q", c.top, c.route, err, c.err)
		}
	}
}

func TestCacheDefaults(t *testing.T) {
	p, err := config.Load("t.yaml", []byte(`
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: s, hosts: ["*"], routes: [{path: /, origins: [{url: "http://127.0.0.1:1"}], cache: {}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config
	rc := c.Sites[0].Routes[0].Cache
	if c.Cache.Memory != cache.DefaultMemory || c.Cache.MaxObjectSize != cache.DefaultMaxObject ||
		c.Cache.LockTimeout.D() != cache.DefaultLockTimeout || !rc.On() || rc.Key.Query != "keep" ||
		rc.GraceOrDefault() != cache.DefaultGrace {
		t.Fatalf("defaults: %+v %+v", c.Cache, rc)
	}
}
