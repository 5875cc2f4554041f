package autotls_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"levee/internal/autotls"
	"levee/internal/leveetest"
)

// nodeYAML is a node that serves one site over HTTP and auto HTTPS, and
// the zone levee.test on its own authoritative DNS, which Pebble's
// validation authority asks where the names are.
func nodeYAML(originURL string, httpPort, httpsPort, dnsPort int, pb *leveetest.Pebble, challenge string, extra string) string {
	return fmt.Sprintf(`
listeners:
  - listen: "127.0.0.1:%d"
  - listen: "127.0.0.1:%d"
    tls: {auto: true}
log: {access: false}
auto_https:
  enabled: true
  ca: %q
  ca_root: %q
  http_port: %d
  https_port: %d
  challenges: [%s]
%s
dns:
  listen: ["127.0.0.1:%d"]
  zones:
    - origin: levee.test.
      records:
        - "@ 60 IN SOA ns hostmaster 1 3600 600 86400 60"
        - "@ 60 IN NS ns"
        - "ns 60 IN A 127.0.0.1"
        - "a 60 IN A 127.0.0.1"
        - "b 60 IN A 127.0.0.1"
        - "c 60 IN A 127.0.0.1"
sites:
  - name: s
    hosts: ["a.levee.test", "b.levee.test", "localhost"]
    routes:
      - path: /
        origins: [{url: %q}]
`, httpPort, httpsPort, pb.Directory, pb.RootFile, httpPort, httpsPort, challenge, extra, dnsPort, originURL)
}

// httpsClient dials name's HTTPS port on loopback with name as SNI and
// trusts only Pebble's issuing roots: a curl --resolve.
func httpsClient(t *testing.T, pb *leveetest.Pebble, httpsPort int) *http.Client {
	roots := pb.IssuerRoots(t)
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(httpsPort))
		}}}
}

type setup struct {
	node                *leveetest.Node
	pb                  *leveetest.Pebble
	httpPort, httpsPort int
}

func start(t *testing.T, challenge, extra string) setup {
	o := leveetest.NewOrigin(t, leveetest.Text("hello over tls"))
	httpPort, httpsPort, dnsPort := leveetest.FreePort(t), leveetest.FreePort(t), leveetest.FreePort(t)
	pb := leveetest.StartPebble(t, "127.0.0.1:"+strconv.Itoa(dnsPort), httpPort, httpsPort)
	n := leveetest.Start(t, nodeYAML(o.URL, httpPort, httpsPort, dnsPort, pb, challenge, extra))
	return setup{node: n, pb: pb, httpPort: httpPort, httpsPort: httpsPort}
}

// A client's first HTTPS request to a configured name gets a certificate
// Pebble issued, through each challenge type; plain HTTP is redirected.
func TestFirstRequestGetsPebbleCertificate(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			s := start(t, challenge, "")
			c := httpsClient(t, s.pb, s.httpsPort)
			res, err := c.Get("https://a.levee.test/")
			if err != nil {
				t.Fatalf("first request: %v\nlogs:\n%s", err, s.node.Logs.String())
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != "hello over tls" {
				t.Fatalf("body %q", b)
			}
			if names := res.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "a.levee.test" {
				t.Fatalf("certificate names %v", names)
			}
			// HTTP now redirects to HTTPS.
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/x?y=1", s.httpPort), nil)
			req.Host = "a.levee.test"
			hres, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			hres.Body.Close()
			want := fmt.Sprintf("https://a.levee.test:%d/x?y=1", s.httpsPort)
			if hres.StatusCode != http.StatusPermanentRedirect || hres.Header.Get("Location") != want {
				t.Fatalf("HTTP: %d %q, want 308 %q", hres.StatusCode, hres.Header.Get("Location"), want)
			}
			// A host that is not a real name is not redirected.
			req.Host = "localhost"
			hres, err = http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			hres.Body.Close()
			if hres.StatusCode != http.StatusOK {
				t.Fatalf("localhost over HTTP: %d", hres.StatusCode)
			}
			if st := certState(t, s.node, "a.levee.test"); st.State != "ok" || st.Attempts < 1 {
				t.Fatalf("/status for a.levee.test: %+v", st)
			}
		})
	}
}

// certState is name's line in /status.
func certState(t *testing.T, n *leveetest.Node, name string) autotls.NameStatus {
	_, body, _ := leveetest.Get(t, n.AdminURL("/status"))
	var st struct {
		Extra struct {
			Certificates []autotls.NameStatus `json:"certificates"`
		} `json:"extra"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status: %v: %s", err, body)
	}
	for _, c := range st.Extra.Certificates {
		if c.Name == name {
			return c
		}
	}
	return autotls.NameStatus{}
}
