package config

import (
	"levee/internal/health"
	"levee/internal/pool"
	"testing"
)

// FuzzHealthParsers: the small parsers of health config never panic and
// accept only what they promise.
func FuzzHealthParsers(f *testing.F) {
	for _, s := range []string{"200-399", "204", "2xx", "599-100", "header:X-User", "cookie:", "query:k", "path"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if lo, hi, err := health.ParseStatusRange(s); err == nil && (lo < 100 || hi > 599 || lo > hi) {
			t.Fatalf("%q accepted as %d-%d", s, lo, hi)
		}
		if kind, name, err := pool.ParseHashOn(s); err == nil && kind != "path" && kind != "uri" && kind != "client_ip" && name == "" {
			t.Fatalf("%q accepted as %s without a name", s, kind)
		}
	})
}
