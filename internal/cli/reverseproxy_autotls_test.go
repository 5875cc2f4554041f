package cli

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"levee/internal/leveetest"
)

// Quick mode with a host name in --from: the first HTTPS request gets a
// certificate from the private CA given by --acme-ca, with no other step.
// Pebble validates over HTTP-01 or TLS-ALPN-01 on the two ports, finding
// the name through a levee node's authoritative DNS.
func TestQuickModeFromName(t *testing.T) {
	httpPort, httpsPort, dnsPort := leveetest.FreePort(t), leveetest.FreePort(t), leveetest.FreePort(t)
	leveetest.Start(t, `
listeners: [{listen: "127.0.0.1:0"}]
log: {access: false}
dns:
  listen: ["127.0.0.1:`+strconv.Itoa(dnsPort)+`"]
  zones:
    - origin: levee.test.
      records: ["@ 60 IN SOA ns hostmaster 1 3600 600 86400 60", "@ 60 IN NS ns", "ns 60 IN A 127.0.0.1", "www 60 IN A 127.0.0.1"]
sites: [{name: none, hosts: ["*"], routes: [{path: /, origins: [{url: "http://127.0.0.1:9"}]}]}]
`)
	pb := leveetest.StartPebble(t, "127.0.0.1:"+strconv.Itoa(dnsPort), httpPort, httpsPort)
	o := leveetest.NewOrigin(t, leveetest.Text("quick tls"))
	src, err := quickConfig(&quickOptions{from: "www.levee.test", to: []string{o.URL}, admin: "off",
		httpPort: httpPort, httpsPort: httpsPort, bind: "127.0.0.1", http3: true, acmeCA: pb.Directory, acmeCARoot: pb.RootFile})
	if err != nil {
		t.Fatal(err)
	}
	leveetest.Start(t, string(src))
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.IssuerRoots(t)},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(httpsPort))
		}}}
	res, err := c.Get("https://www.levee.test/")
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "quick tls" || res.TLS.PeerCertificates[0].DNSNames[0] != "www.levee.test" {
		t.Fatalf("body %q, names %v", b, res.TLS.PeerCertificates[0].DNSNames)
	}
	// --http3: the same name over QUIC, advertised by Alt-Svc.
	if res.Header.Get("Alt-Svc") == "" {
		t.Fatal("no Alt-Svc on the HTTPS response")
	}
	h3 := &http.Client{Timeout: 10 * time.Second, Transport: &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.IssuerRoots(t), ServerName: "www.levee.test"}}}
	req, _ := http.NewRequest("GET", "https://127.0.0.1:"+strconv.Itoa(httpsPort)+"/", nil)
	req.Host = "www.levee.test"
	res, err = h3.Do(req)
	if err != nil {
		t.Fatalf("HTTP/3: %v", err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.Proto != "HTTP/3.0" || string(b) != "quick tls" {
		t.Fatalf("HTTP/3: %s %q", res.Proto, b)
	}
}
