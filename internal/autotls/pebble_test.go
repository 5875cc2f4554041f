package autotls_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"levee/internal/app"
	"levee/internal/autotls"
	"levee/internal/leveetest"

	"github.com/caddyserver/certmagic"
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
        - "d 60 IN A 127.0.0.1"
        - "e 60 IN A 127.0.0.1"
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

// On demand: a name not in the config gets a certificate at its first
// handshake only if the gate allows it, and within the rate.
func TestOnDemandGated(t *testing.T) {
	s := start(t, "tls-alpn-01", `  on_demand: {allow: ["c.levee.test", "e.levee.test"], per_minute: 1}`)
	c := httpsClient(t, s.pb, s.httpsPort)
	res, err := c.Get("https://c.levee.test/")
	if err != nil {
		t.Fatalf("allowed name: %v", err)
	}
	res.Body.Close()
	if names := res.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "c.levee.test" {
		t.Fatalf("certificate names %v", names)
	}
	// Not in the allow list: no certificate.
	if _, err := c.Get("https://d.levee.test/"); err == nil {
		t.Fatal("a name outside the gate got a certificate")
	}
	// Allowed, but over the rate (1 per minute, spent on c).
	if _, err := c.Get("https://e.levee.test/"); err == nil {
		t.Fatal("the on-demand rate did not hold")
	}
	for _, reason := range []string{"not_allowed", "rate"} {
		if !strings.Contains(metrics(t, s.node), `levee_autotls_on_demand_rejected_total{reason="`+reason+`"} 1`) {
			t.Fatalf("rejection %s not counted:\n%s", reason, metrics(t, s.node))
		}
	}
}

func metrics(t *testing.T, n *leveetest.Node) string {
	_, body, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	return body
}

// A CA that is down at start costs the other sites nothing: the node
// starts, a site without automatic names serves, the managed name answers
// a clear 503 over HTTP, and the failed attempt is in /status and logged
// once.
func TestCADownAtStart(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("still serving"))
	httpPort, httpsPort := leveetest.FreePort(t), leveetest.FreePort(t)
	dead := fmt.Sprintf("https://127.0.0.1:%d/dir", leveetest.FreePort(t))
	n := leveetest.Start(t, fmt.Sprintf(`
listeners:
  - listen: "127.0.0.1:%d"
  - listen: "127.0.0.1:%d"
    tls: {auto: true}
log: {access: false}
auto_https: {enabled: true, ca: %q, http_port: %d, https_port: %d}
sites:
  - name: s
    hosts: ["a.levee.test", "localhost"]
    routes:
      - path: /
        origins: [{url: %q}]
`, httpPort, httpsPort, dead, httpPort, httpsPort, o.URL))
	get := func(host string) (int, string) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", httpPort), nil)
		req.Host = host
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get("localhost"); code != 200 || body != "still serving" {
		t.Fatalf("other site: %d %q", code, body)
	}
	var st autotls.NameStatus
	for i := 0; i < 200; i++ {
		if st = certState(t, n, "a.levee.test"); st.State == "failed" {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if st.State != "failed" || st.LastError == "" || st.Attempts < 1 {
		t.Fatalf("/status: %+v", st)
	}
	if got := n.Logs.Count("certificate attempt failed"); got != st.Attempts {
		t.Fatalf("%d failure lines for %d attempts:\n%s", got, st.Attempts, n.Logs.String())
	}
	if code, body := get("a.levee.test"); code != http.StatusServiceUnavailable || !strings.Contains(body, "certificate") {
		t.Fatalf("managed name without a certificate: %d %q", code, body)
	}
}

// A renewal (forced from the admin API) puts a new certificate in
// service while clients keep connecting: no handshake fails, and new
// connections get the new certificate.
func TestRenewalWithoutDroppedRequests(t *testing.T) {
	s := start(t, "http-01", "")
	roots := s.pb.IssuerRoots(t)
	serial := func() (string, error) {
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(s.httpsPort))
			}}}
		res, err := c.Get("https://a.levee.test/")
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		if _, err := io.ReadAll(res.Body); err != nil {
			return "", err
		}
		return res.TLS.PeerCertificates[0].SerialNumber.String(), nil
	}
	first, err := serial()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	type tally struct{ ok, failed int }
	done := make(chan tally)
	go func() {
		var n tally
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if _, err := serial(); err != nil {
				n.failed++
			} else {
				n.ok++
			}
		}
		done <- n
	}()
	res, err := http.Post(s.node.AdminURL("/certificates/renew?name=a.levee.test"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	close(stop)
	n := <-done
	if res.StatusCode != http.StatusOK {
		t.Fatalf("renew: %d %s", res.StatusCode, b)
	}
	if n.failed != 0 || n.ok == 0 {
		t.Fatalf("during the renewal: %d requests ok, %d failed", n.ok, n.failed)
	}
	second, err := serial()
	if err != nil || second == first {
		t.Fatalf("after the renewal: serial %s (before %s), %v", second, first, err)
	}
}

// A wildcard site whose zone levee's own DNS serves gets a wildcard
// certificate from Pebble through DNS-01: levee writes the
// _acme-challenge TXT record into its running zone, Pebble reads it from
// levee's DNS, and the record is removed after.
func TestWildcardViaDNS01(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("hello over tls"))
	httpPort, httpsPort, dnsPort := leveetest.FreePort(t), leveetest.FreePort(t), leveetest.FreePort(t)
	pb := leveetest.StartPebble(t, "127.0.0.1:"+strconv.Itoa(dnsPort), httpPort, httpsPort)
	y := strings.Replace(nodeYAML(o.URL, httpPort, httpsPort, dnsPort, pb, "dns-01", ""),
		`hosts: ["a.levee.test", "b.levee.test", "localhost"]`, `hosts: ["*.levee.test"]`, 1)
	n := leveetest.Start(t, y)
	c := httpsClient(t, pb, httpsPort)
	var res *http.Response
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 300 && time.Now().Before(deadline); i++ {
		if res, err = c.Get("https://anything.levee.test/"); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no wildcard certificate: %v\nlogs:\n%s", err, n.Logs.String())
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "hello over tls" {
		t.Fatalf("body %q", b)
	}
	if names := res.TLS.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "*.levee.test" {
		t.Fatalf("certificate names %v", names)
	}
	_, metrics, _ := leveetest.Get(t, n.AdminURL("/metrics"))
	for _, want := range []string{`levee_dns_acme_challenges_total{event="added"} 1`, `levee_dns_acme_challenges_total{event="removed"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A config without an email gets an account without a contact, even when
// the data directory holds an account left half-written (its registration
// without its key, as a crash between the two writes leaves it, or as a
// node of a cluster sees the account another node is writing). certmagic
// took the directory's name, "default", for an address, and the CA
// refused "mailto:default"; every later attempt in the process did too.
func TestHalfWrittenAccountIsNotTakenForAnEmail(t *testing.T) {
	o := leveetest.NewOrigin(t, leveetest.Text("hello over tls"))
	httpPort, httpsPort, dnsPort := leveetest.FreePort(t), leveetest.FreePort(t), leveetest.FreePort(t)
	pb := leveetest.StartPebble(t, "127.0.0.1:"+strconv.Itoa(dnsPort), httpPort, httpsPort)
	dataDir := t.TempDir()
	issuer := (&certmagic.ACMEIssuer{CA: pb.Directory}).IssuerKey()
	reg := filepath.Join(dataDir, "certificates", "acme", certmagic.StorageKeys.Safe(issuer), "users", "default", "default.json")
	if err := os.MkdirAll(filepath.Dir(reg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(reg, []byte(`{"status":"valid"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := leveetest.Start(t, nodeYAML(o.URL, httpPort, httpsPort, dnsPort, pb, "http-01", ""),
		func(o *app.Options) { o.DataDir = dataDir })
	res, err := httpsClient(t, pb, httpsPort).Get("https://a.levee.test/")
	if err != nil {
		t.Fatalf("first request: %v\nlogs:\n%s", err, n.Logs.String())
	}
	res.Body.Close()
	if logs := n.Logs.String(); strings.Contains(logs, "mailto:") {
		t.Fatalf("an attempt registered a contact the config does not give:\n%s", logs)
	}
}
