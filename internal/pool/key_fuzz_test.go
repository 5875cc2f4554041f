package pool

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzKeys: cookie and query scanning never panic, and a value found is a
// substring of the input.
func FuzzKeys(f *testing.F) {
	f.Add(`a=1; sid="x"; b`, "sid")
	f.Add("k=v&&=&k2", "k2")
	f.Fuzz(func(t *testing.T, in, name string) {
		if v := CookieValue(http.Header{"Cookie": {in}}, name); v != "" && !strings.Contains(in, v) {
			t.Fatalf("cookie %q in %q: %q", name, in, v)
		}
		if v := queryValue(in, name); v != "" && !strings.Contains(in, v) {
			t.Fatalf("query %q in %q: %q", name, in, v)
		}
	})
}
