package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// FuzzHopHeaders feeds arbitrary Connection and Upgrade values: hop-by-hop
// removal must never panic, must remove every header the Connection header
// names, and must leave no hop-by-hop header behind.
func FuzzHopHeaders(f *testing.F) {
	for _, s := range []string{"close", "keep-alive, X-A", "Upgrade", ",,, ,", "X-A,X-B ,  X-C", "\t", "upgrade, upgrade"} {
		f.Add(s, "websocket")
	}
	f.Fuzz(func(t *testing.T, conn, up string) {
		h := http.Header{"Connection": {conn}, "Upgrade": {up}, "X-A": {"1"}, "Te": {"trailers"}, "Keep-Alive": {"5"}}
		_ = upgradeType(h)
		removeHopHeaders(h)
		for _, name := range hopHeaders {
			if _, ok := h[name]; ok {
				t.Fatalf("%s survived", name)
			}
		}
		for _, tok := range strings.Split(conn, ",") {
			// HTTP's optional whitespace is space and tab only: "\fX-A"
			// names no header (and net/http refuses such a value anyway).
			if tok = textproto.TrimString(tok); tok != "" && h.Get(tok) != "" {
				t.Fatalf("%q named in Connection survived", tok)
			}
		}
	})
}

// FuzzForwarded builds Forwarded elements from arbitrary hosts: the value
// must stay a single header line and quote anything that is not a token.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{"example.com", "127.0.0.1:8080", `a"b\c`, "[::1]:443", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if strings.ContainsAny(host, "\r\n") {
			return // net/http never hands us such a Host
		}
		v := forwardedElement("192.0.2.1", "https", host)
		if strings.ContainsAny(v, "\r\n") || !strings.HasPrefix(v, "for=192.0.2.1;proto=https") {
			t.Fatalf("bad element %q", v)
		}
		if i := strings.Index(v, ";host="); i >= 0 {
			rest := v[i+6:]
			if strings.HasPrefix(rest, `"`) && !strings.HasSuffix(rest, `"`) {
				t.Fatalf("unterminated quoted host %q", v)
			}
		}
	})
}
