package listener_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"levee/internal/leveetest"
)

// The access log names the scheme each request came by: http on the
// cleartext listener, https over TLS for HTTP/1.1, HTTP/2 and HTTP/3.
func TestAccessLogScheme(t *testing.T) {
	cert := leveetest.SelfSigned(t, "a.example")
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners:
  - listen: "127.0.0.1:0"
  - listen: "127.0.0.2:0"
    http3: true
    tls: {certificates: [{cert: %q, key: %q}]}
sites:
  - name: s
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: %q}]
`, cert.CertFile, cert.KeyFile, o.URL))
	plain, secure := n.Addr("127.0.0.1:0"), n.Addr("127.0.0.2:0")
	read := reader(t)
	read(leveetest.Client().Get("http://" + plain + "/plain"))
	tlsConf := &tls.Config{RootCAs: cert.Pool, ServerName: "a.example"}
	h1 := &http.Transport{TLSClientConfig: tlsConf, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	for _, tr := range []*http.Transport{h1, h2} {
		read((&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + secure + "/tls"))
	}
	res, _ := read(h3Client(cert).Get("https://" + secure + "/tls"))
	if res.Proto != "HTTP/3.0" {
		t.Fatalf("the HTTP/3 client spoke %s", res.Proto)
	}
	want := map[string]string{"HTTP/1.1 /plain": "http", "HTTP/1.1 /tls": "https", "HTTP/2.0 /tls": "https", "HTTP/3.0 /tls": "https"}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(n.Access.String()), "\n") {
		var e struct{ Scheme, Proto, URI string }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("access line %q: %v", l, err)
		}
		got[e.Proto+" "+e.URI] = e.Scheme
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: scheme %q, want %q (log:\n%s)", k, got[k], v, n.Access.String())
		}
	}
}
