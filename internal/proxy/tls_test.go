package proxy_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"levee/internal/leveetest"
)

func protoEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s tls=%v", r.Proto, r.TLS != nil)
	})
}

func TestClientTLSAndHTTP2(t *testing.T) {
	o := leveetest.NewOrigin(t, protoEcho())
	cert := leveetest.SelfSigned(t, "edge.test", "127.0.0.1")
	n := leveetest.Start(t, fmt.Sprintf(`
admin: {listen: "off"}
listeners:
  - listen: "127.0.0.1:0"
    tls: {certificates: [{cert: %q, key: %q}]}
sites: [{name: t, hosts: ["*"], routes: [{origins: [{url: %q}]}]}]
`, cert.CertFile, cert.KeyFile, o.URL))
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool, ServerName: "edge.test"}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		res, err := (&http.Client{Transport: tr}).Get("https://" + n.Addr("") + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		wantMajor := 1
		if h2 {
			wantMajor = 2
		}
		if res.ProtoMajor != wantMajor || string(b) != "proto=HTTP/1.1 tls=false" {
			t.Errorf("h2=%v: client proto %s, origin said %q", h2, res.Proto, b)
		}
	}
}

func TestH2COptIn(t *testing.T) {
	o := leveetest.NewOrigin(t, protoEcho())
	cfg := `
admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0", h2c: %v}]
sites: [{name: t, hosts: ["*"], routes: [{origins: [{url: %q}]}]}]
`
	h2c := leveetest.H2CClient()
	on := leveetest.Start(t, fmt.Sprintf(cfg, true, o.URL))
	res, err := h2c.Get(on.URL("/"))
	if err != nil {
		t.Fatalf("h2c on: %v", err)
	}
	res.Body.Close()
	if res.ProtoMajor != 2 {
		t.Errorf("h2c on: proto %s", res.Proto)
	}
	off := leveetest.Start(t, fmt.Sprintf(cfg, false, o.URL))
	if res, err := h2c.Get(off.URL("/")); err == nil {
		res.Body.Close()
		t.Errorf("h2c accepted while off")
	}
}

func TestOriginTLSVerifiesWithCustomCAAndClientCert(t *testing.T) {
	serverCert := leveetest.SelfSigned(t, "origin.internal")
	clientCert := leveetest.SelfSigned(t, "levee-client")
	o := httptest.NewUnstartedServer(protoEcho())
	o.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}, ClientCAs: clientCert.Pool, ClientAuth: tls.RequireAndVerifyClientCert}
	o.StartTLS()
	defer o.Close()
	cfg := func(tlsBlock string) string {
		return fmt.Sprintf(`
admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: t, hosts: ["*"], routes: [{origins: [{url: %q}], %s}]}]
`, o.URL, tlsBlock)
	}
	good := leveetest.Start(t, cfg(fmt.Sprintf(`origin_tls: {ca_file: %q, server_name: origin.internal, cert_file: %q, key_file: %q}`,
		serverCert.CertFile, clientCert.CertFile, clientCert.KeyFile)))
	status, body, _ := leveetest.Get(t, good.URL("/"))
	if status != 200 || !strings.Contains(body, "tls=true") {
		t.Fatalf("mTLS origin: %d %q", status, body)
	}
	noCA := leveetest.Start(t, cfg(`origin_tls: {server_name: origin.internal}`))
	if status, body, _ := leveetest.Get(t, noCA.URL("/")); status != 502 || !strings.Contains(body, "TLS") {
		t.Fatalf("unverified origin was accepted: %d %q", status, body)
	}
	wrongName := leveetest.Start(t, cfg(fmt.Sprintf(`origin_tls: {ca_file: %q, server_name: other.name, cert_file: %q, key_file: %q}`,
		serverCert.CertFile, clientCert.CertFile, clientCert.KeyFile)))
	if status, _, _ := leveetest.Get(t, wrongName.URL("/")); status != 502 {
		t.Fatalf("wrong SNI name accepted: %d", status)
	}
}

func TestOriginH2(t *testing.T) {
	o := httptest.NewUnstartedServer(protoEcho())
	o.EnableHTTP2 = true
	cert := leveetest.SelfSigned(t, "origin.internal")
	o.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	o.StartTLS()
	defer o.Close()
	n := leveetest.Start(t, fmt.Sprintf(`
admin: {listen: "off"}
listeners: [{listen: "127.0.0.1:0"}]
sites: [{name: t, hosts: ["*"], routes: [{origins: [{url: %q}], protocol: h2, origin_tls: {ca_file: %q, server_name: origin.internal}}]}]
`, o.URL, cert.CertFile))
	status, body, _ := leveetest.Get(t, n.URL("/"))
	if status != 200 || body != "proto=HTTP/2.0 tls=true" {
		t.Fatalf("h2 origin: %d %q", status, body)
	}
}
